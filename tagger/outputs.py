"""What prediction reads and writes: input files read lazily (one record per sentence),
one sentence's output in each format, and an output file that appears at the first
write. Shared by ``tagger predict``, its worker processes and the Python API."""
from __future__ import annotations

import ctypes
import functools
import json
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from .errors import TaggerError
from .textfile import text_lines


class OutputFormat(str, Enum):
    conll = "conll"
    jsonl = "jsonl"
    spans = "spans"
    html = "html"
    conllu = "conllu"


class InputFormat(str, Enum):
    auto = "auto"
    text = "text"
    conll = "conll"
    jsonl = "jsonl"
    conllu = "conllu"


def read_input(path: Path, fmt: InputFormat) -> Iterator[list[str] | str]:
    """Sentences from a file, lazily, so huge inputs stream. Each one knows its document
    (a ``doc`` key, :class:`tagger.data.DocWords` / :class:`tagger.data.DocText`), for a
    model that reads document context: in CoNLL, documents end at ``-DOCSTART-`` lines
    and at two blank lines in a row; in CoNLL-U, at ``# newdoc`` comments; in text (a sentence a line), at a blank line (a
    file without these is one document); in JSONL, a record's ``"doc"`` value names its
    document (without one, a record is a document of its own)."""
    if fmt is InputFormat.auto:
        fmt = {".jsonl": InputFormat.jsonl, ".conll": InputFormat.conll}.get(path.suffix, InputFormat.text)
        if path.suffix == ".conllu":
            fmt = InputFormat.conllu
    if fmt is InputFormat.conllu:
        from .data import DocWords
        from .io.conllu import read_conllu

        yield from (DocWords(s.words, s.doc) for s in read_conllu(path, ()))
        return
    if fmt is InputFormat.conll:
        yield from _conll_input(path)
        return
    from .data import DocText

    doc = 0
    for line_no, line in text_lines(path, "input file"):
        line = line.strip()
        if fmt is InputFormat.text:
            yield DocText(line, doc)  # a blank line too: one output record per input line
            doc += not line
        elif line:
            yield _jsonl_item(line, path, line_no)


def _conll_input(path: Path) -> Iterator[list[str]]:
    """The words of a CoNLL file's sentences (first column), each with its document number."""
    from .data import DocWords

    words: list[str] = []
    doc, blank = 0, False
    for _, line in text_lines(path, "input file"):
        line = line.strip()
        if line and not line.startswith("-DOCSTART-"):
            words.append(line.split()[0])
            blank = False
            continue
        if words:
            yield DocWords(words, doc)
            words = []
        doc += bool(line) or blank  # a -DOCSTART- line, or the second of two blank lines
        blank = not line
    if words:
        yield DocWords(words, doc)


def _jsonl_item(line: str, path: Path, line_no: int) -> list[str] | str:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as err:
        raise TaggerError(f"not valid JSON ({err.msg})", path, line_no) from None
    from .data import DocText, DocWords

    doc = item.get("doc") if isinstance(item, dict) else None
    if isinstance(doc, (dict, list)):
        raise TaggerError('"doc" names a document: a string or a number', path, line_no)
    if isinstance(item, dict) and isinstance(item.get("tokens"), list):
        return DocWords([str(t) for t in item["tokens"]], doc)
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        return DocText(item["text"], doc)
    raise TaggerError('expected an object with "tokens" (a list) or "text"', path, line_no)


@functools.cache
def malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Hand freed heap memory back to the OS (every few chunks of a stream): tensors
    of ever-new shapes fragment glibc's heap, and without this a long stream of
    varied text creeps up by hundreds of MB instead of staying flat. Every 8 chunks
    it costs a few percent of throughput; after every chunk, about 15%."""
    trim = malloc_trim()
    if trim is not None:
        trim(0)


def format_prediction(
    words: list[str], labels: dict[str, list[str]], fmt: OutputFormat, span_tasks: set[str],
    proba: dict[str, dict[str, float]] | None = None,
) -> str:
    """One sentence's output. Sentence tasks (the keys of ``proba``) show their labels
    with probabilities: ``positive (0.93)`` in ``spans``, a ``# task = ...`` line in
    ``conll``, ``TASK`` and ``TASK_proba`` keys in ``jsonl``. A sentence without words
    is an empty record: an empty line (``spans``), an empty block (``conll``: only the
    blank line that ends every block) or ``{"tokens": [], TASK: [], ...}`` (``jsonl``)."""
    from .explain import format_labels
    from .schemes import spans

    if not words and fmt is not OutputFormat.jsonl:
        return "\n\n" if fmt is OutputFormat.conll else "\n"
    proba = proba or {}
    token_tasks = [t for t in labels if t not in proba]
    if fmt is OutputFormat.jsonl:
        record: dict[str, Any] = {"tokens": words, **labels}
        for task in span_tasks & set(labels):
            record[f"{task}_spans"] = [
                {"label": t, "start": s, "end": e, "text": " ".join(words[s:e])} for t, s, e in spans(labels[task])
            ]
        for task, probs in proba.items():
            record[f"{task}_proba"] = probs
        return json.dumps(record, ensure_ascii=False) + "\n"
    cats = {task: format_labels(labels[task], proba[task]) for task in proba}
    if fmt is OutputFormat.conll:
        head = [f"# {task} = {text}" for task, text in cats.items()]
        rows = ["\t".join([w, *(labels[t][i] for t in token_tasks)]) for i, w in enumerate(words)]
        return "\n".join(head + rows) + "\n\n"
    if not token_tasks:  # a classifier: "positive (0.93)"
        if len(cats) == 1:
            return next(iter(cats.values())) + "\n"
        return "  ".join(f"{task}: {text}" for task, text in cats.items()) + "\n"
    labels = {t: labels[t] for t in token_tasks}
    # spans: entities in brackets for span tasks, word/TAG for the others.
    out = list(words)
    for task in labels:
        if task in span_tasks:
            for label, s, e in reversed(spans(labels[task])):
                out[s:e] = [f"[{label} " + " ".join(out[s:e]) + "]"]
            break
    else:
        first = next(iter(labels))
        out = [f"{w}/{t}" for w, t in zip(words, labels[first])]
    return " ".join(out) + "".join(f"\t{task}: {text}" for task, text in cats.items()) + "\n"


class LazyOutput:
    """Where predictions go: stdout, or a file opened at the first write (so an input
    error in the first chunk leaves no file), flushed after every write (a kill loses
    at most the chunk in flight), and removed when a user error stops a fresh run (a
    resumed run's earlier output is kept)."""

    def __init__(self, path: Path | None, append: bool = False):
        self.path, self.append = path, append
        self.file: Any = None if path is not None else sys.stdout

    def write(self, text: str) -> None:
        if self.file is None:
            self.file = self.path.open("a" if self.append else "w", encoding="utf-8")
        self.file.write(text)
        self.file.flush()

    def __enter__(self) -> "LazyOutput":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.path is None or self.file is None:
            return
        self.file.close()
        if exc_type is not None and issubclass(exc_type, TaggerError) and not self.append:
            self.path.unlink(missing_ok=True)
