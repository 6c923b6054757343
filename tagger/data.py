"""The corpus representation every reader produces and every consumer reads."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sentence:
    """One sentence: its words and, per task, one label per word.

    ``tags`` maps a task name (``"ner"``, ``"pos"``, ``"chunk"``) to labels; span
    tasks are always stored in BIO (IOB2), whatever scheme the file used.

    ``cats`` maps a sentence-level task (``"sentiment"``) to the sentence's labels:
    one for a single-label task, any number (none included) for a multi-label one.

    ``meta`` holds what a reader keeps beside the words, as strings: the CoNLL-U
    reader stores ``sent_id`` and ``text`` and, under ``conllu``, the sentence's
    original lines so the writer can reproduce them. Empty for most formats.

    ``line`` is the 1-based line of the first word in the file the sentence was
    read from, with word ``i`` on line ``line + i``: the column reader sets it,
    so later errors (an unknown label at evaluation) can name the line; formats
    whose words are not on consecutive lines leave it None. It is bookkeeping,
    not content: sentences that differ only in ``line`` are equal.
    """

    words: list[str]
    tags: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    cats: dict[str, list[str]] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.words)


class Sentences(list):
    """A list of :class:`Sentence` that also says which tag scheme was detected per
    span task (``{"ner": "iob1"}``) when a reader was asked to detect it: users see it,
    since the scheme changes every span."""

    def __init__(self, items=(), schemes: dict[str, str] | None = None):
        super().__init__(items)
        self.schemes: dict[str, str] = dict(schemes or {})


def describe_schemes(corpus: dict[str, list[Sentence]]) -> list[str]:
    """One line per split and task whose scheme was detected: ``train ner: IOB1 (detected), read as BIO``."""
    lines = []
    for split, sentences in corpus.items():
        for task, scheme in getattr(sentences, "schemes", {}).items():
            lines.append(f"{split} {task} tags: {scheme.upper()} (detected), converted to BIO")
    return lines
