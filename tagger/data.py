"""The corpus representation every reader produces and every consumer reads."""
from __future__ import annotations

from collections.abc import Sequence
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

    ``doc`` numbers the document the sentence belongs to within its file or list
    (consecutive sentences with the same number are one document, in order); None
    makes the sentence a document of its own. Column readers number ``-DOCSTART-``
    documents, and a column file without markers is one document (as Flair's
    ``ColumnCorpus``). Bookkeeping too: it never changes equality.
    """

    words: list[str]
    tags: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    cats: dict[str, list[str]] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)
    doc: int | None = field(default=None, compare=False)

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


def document_spans(docs: Sequence[object | None]) -> list[tuple[int, int]]:
    """The documents of a sequence of sentences, given each one's document key (see
    ``Sentence.doc``): ``(start, end)`` index ranges of consecutive sentences with the
    same key; a key of None is a document of one sentence."""
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(docs) + 1):
        if i == len(docs) or docs[i] is None or docs[i] != docs[i - 1]:
            spans.append((start, i))
            start = i
    return spans


def document_of(item: object) -> object | None:
    """The document key of a sentence or input item (its ``doc`` attribute), or None."""
    return getattr(item, "doc", None)


class DocWords(list):
    """A sentence's words (a list) that knows its document: what ``tagger predict``
    reads from a CoNLL file, so a model with document context finds the neighbours."""

    def __init__(self, words: Sequence[str] = (), doc: object | None = None):
        super().__init__(words)
        self.doc = doc


class DocText(str):
    """A line of raw text (a str) that knows its document (a paragraph of a text file)."""

    doc: object | None

    def __new__(cls, text: str, doc: object | None = None) -> "DocText":
        item = super().__new__(cls, text)
        item.doc = doc
        return item
