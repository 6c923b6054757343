"""The corpus representation every reader produces and every consumer reads."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sentence:
    """One sentence: its words and, per task, one label per word.

    ``tags`` maps a task name (``"ner"``, ``"pos"``, ``"chunk"``) to labels; span
    tasks are always stored in BIO (IOB2), whatever scheme the file used.

    ``meta`` holds what a reader keeps beside the words, as strings: the CoNLL-U
    reader stores ``sent_id`` and ``text`` and, under ``conllu``, the sentence's
    original lines so the writer can reproduce them. Empty for most formats.
    """

    words: list[str]
    tags: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.words)
