"""Column-format corpora (CoNLL-2003 and friends): reading and writing.

A file holds one token per line, whitespace-separated columns (tabs, spaces or
both), and a blank line between sentences. ``-DOCSTART-`` lines are document
markers: each sentence's ``doc`` is the number of markers above it, so a file
without markers is one document (document context then reads across the file,
as Flair's ``ColumnCorpus`` does without a document separator). Span-task columns (NER, chunking) are validated and
converted to BIO, whatever scheme the file used; other columns (POS) are kept
as they are.

Every problem with the input file raises :class:`tagger.errors.TaggerError`
naming the file and the 1-based line.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from tagger.data import Sentence, Sentences
from tagger.errors import TaggerError
from tagger.schemes import BIO, SCHEMES, detect_scheme, first_violation, split_tag, to_bio
from tagger.textfile import text_lines

DOCSTART = "-DOCSTART-"

CONLL2003_COLUMNS = {"pos": 1, "chunk": 2, "ner": 3}
CONLL2003_SPAN_TASKS = frozenset({"ner", "chunk"})


def _resolve(index: int, ncols: int) -> int | None:
    """A column index (negative counts from the end) as a non-negative one, or None if out of range."""
    real = index + ncols if index < 0 else index
    return real if 0 <= real < ncols else None


class _ColumnSentences:
    """The sentences of a column file as it is read: per sentence the line of its first
    token, its words and one raw tag list per task; every line is checked as it comes."""

    def __init__(self, where: str, tasks: list[str], columns: Mapping[str, int], word_col: int,
                 span_tasks: frozenset[str], ncols: int | None, max_len: int | None):
        self.where, self.tasks, self.columns, self.word_col = where, tasks, columns, word_col
        self.span_tasks, self.ncols, self.max_len = span_tasks, ncols, max_len
        self.word_idx: int | None = None  # set by the first data line
        self.task_idx: list[int] = []
        self.valid_tags: set[str] = {"O"}
        self.starts: list[int] = []
        self.words: list[list[str]] = []
        self.tags: list[list[list[str]]] = []
        self.docs: list[int] = []
        self.doc = 0  # -DOCSTART- lines seen so far
        self._words: list[str] = []
        self._tags: list[list[str]] = [[] for _ in tasks]
        self._start = 0

    def end_sentence(self) -> None:
        if self._words:
            self.starts.append(self._start)
            self.words.append(self._words)
            self.tags.append(self._tags)
            self.docs.append(self.doc)
            self._words, self._tags = [], [[] for _ in self.tasks]

    def add_token(self, fields: list[str], lineno: int) -> None:
        if self.ncols is None:
            self.ncols = len(fields)
        if len(fields) != self.ncols:
            # A file that is narrower from its first line on is another format, not a broken line.
            hint = ("; for a file of words and tags, use --format column --word-col 0 --tag-col -1"
                    if self.word_idx is None and 2 <= len(fields) < self.ncols else "")
            raise TaggerError(f"expected {self.ncols} columns, found {len(fields)}{hint}", self.where, lineno)
        if self.word_idx is None:
            self._locate_columns(self.ncols, lineno)
        if not self._words:
            self._start = lineno
        elif self.max_len is not None and len(self._words) >= self.max_len:
            raise TaggerError(
                f"sentence starting on line {self._start} is longer than the limit of "
                f"{self.max_len} tokens (is a blank line missing between sentences?)",
                self.where, lineno,
            )
        self._words.append(fields[self.word_idx])
        for k, idx in enumerate(self.task_idx):
            tag = fields[idx]
            self._tags[k].append(tag)
            if tag not in self.valid_tags and self.tasks[k] in self.span_tasks:
                self._check_tag(tag, idx, self.tasks[k], lineno)

    def _locate_columns(self, n: int, lineno: int) -> None:
        self.word_idx = _resolve(self.word_col, n)
        if self.word_idx is None:
            raise TaggerError(f"word column {self.word_col} does not exist: the file has {n} columns", self.where, lineno)
        for task in self.tasks:
            idx = _resolve(self.columns[task], n)
            if idx is None:
                raise TaggerError(
                    f"column {self.columns[task]} for task {task!r} does not exist: the file has {n} columns",
                    self.where, lineno,
                )
            self.task_idx.append(idx)

    def _check_tag(self, tag: str, idx: int, task: str, lineno: int) -> None:
        try:
            split_tag(tag)
        except ValueError as err:
            raise TaggerError(f"invalid tag {tag!r} in column {idx + 1} ({task}): {err}", self.where, lineno) from None
        self.valid_tags.add(tag)


def _task_schemes(scheme: str | Mapping[str, str], span_tasks: frozenset[str]) -> dict[str, str]:
    schemes = {t: scheme if isinstance(scheme, str) else scheme.get(t, "auto") for t in span_tasks}
    for name in set(schemes.values()) | ({scheme} if isinstance(scheme, str) else set()):
        if name not in SCHEMES:
            raise TaggerError(f"unknown tag scheme {name!r}; expected one of {', '.join(SCHEMES)}")
    return schemes


def _convert_to_bio(read: _ColumnSentences, schemes: Mapping[str, str]) -> dict[str, str]:
    """Check and convert every span task's tags to BIO in place; the schemes that were detected."""
    detected = {}
    for k, task in enumerate(read.tasks):
        if task not in read.span_tasks:
            continue
        task_scheme = schemes[task]
        if task_scheme == "auto":
            task_scheme = detected[task] = detect_scheme(tags[k] for tags in read.tags)
        for start, tags in zip(read.starts, read.tags):
            try:
                bad = first_violation(tags[k], BIO) if task_scheme in ("bio", "iob2") else None
                if bad is None:
                    tags[k] = to_bio(tags[k], task_scheme)
            except ValueError as err:
                raise TaggerError(f"{task} tags of the sentence starting here: {err}", read.where, start) from None
            if bad is not None:
                raise TaggerError(f"invalid BIO in {task}: {bad.describe(position=False)}{BIO.hint}",
                                  read.where, start + bad.position)
    return detected


def read_columns(
    path: str | Path,
    *,
    word_col: int = 0,
    columns: Mapping[str, int] | None = None,
    span_tasks: Iterable[str] | None = None,
    scheme: str | Mapping[str, str] = "auto",
    expected_columns: int | None = None,
    max_sentence_len: int | None = None,
) -> list[Sentence]:
    """Read a whitespace-separated column file into sentences.

    ``columns`` maps task name to column index (negative indices count from the
    end; default ``{"ner": -1}``). Tasks in ``span_tasks`` (default ``{"ner",
    "chunk"}``) are validated and converted from ``scheme`` to BIO; with
    ``"auto"`` the scheme is detected over the whole file; a mapping gives each
    task its own scheme (tasks it leaves out are ``"auto"``). ``expected_columns``
    fixes the column count (otherwise the first data line sets it).
    ``max_sentence_len`` (None: no limit) makes a longer sentence an error.
    """
    columns = dict({"ner": -1} if columns is None else columns)
    span_tasks = frozenset({"ner", "chunk"} if span_tasks is None else span_tasks)
    schemes = _task_schemes(scheme, span_tasks)
    if max_sentence_len is not None and max_sentence_len <= 0:
        raise TaggerError(f"max_sentence_len must be positive, got {max_sentence_len}")
    where = str(path)
    tasks = list(columns)
    read = _ColumnSentences(where, tasks, columns, word_col, span_tasks, expected_columns, max_sentence_len)
    for lineno, line in text_lines(path):
        fields = line.split()
        if not fields or fields[0] == DOCSTART:
            read.end_sentence()
            read.doc += bool(fields)
        else:
            read.add_token(fields, lineno)
    read.end_sentence()
    if not read.words:
        raise TaggerError("no sentences found (the file is empty or holds only -DOCSTART- lines)", where)
    detected = _convert_to_bio(read, schemes)
    return Sentences(
        (Sentence(words=w, tags=dict(zip(tasks, t)), line=start, doc=doc)
         for w, t, start, doc in zip(read.words, read.tags, read.starts, read.docs)),
        schemes=detected,
    )


def read_conll2003(path: str | Path, scheme: str | Mapping[str, str] = "auto") -> list[Sentence]:
    """Read a CoNLL-2003 file (word POS chunk NER) into sentences with tasks pos, chunk and ner (BIO).

    ``scheme`` is the tag scheme of the chunk and NER columns, or a mapping from
    ``"ner"``/``"chunk"`` to one (see :func:`read_columns`)."""
    return read_columns(
        path,
        word_col=0,
        columns=CONLL2003_COLUMNS,
        span_tasks=CONLL2003_SPAN_TASKS,
        scheme=scheme,
        expected_columns=4,
    )


def write_conll(
    sentences: Iterable[Sentence],
    path_or_file: str | Path | TextIO,
    tasks: Sequence[str] = ("ner",),
    pred: Mapping[str, Sequence[Sequence[str]]] | None = None,
    *,
    docstart: bool = False,
) -> None:
    """Write sentences one token per line: the word, the gold tag of each of ``tasks``,
    then the predicted tag of each task in ``pred`` (``task -> one tag list per sentence``),
    space-separated, with a blank line after each sentence. ``word gold pred`` is what
    conlleval reads. ``docstart`` writes a leading ``-DOCSTART-`` line padded to the
    column count.
    """
    sentences = list(sentences)
    pred = dict(pred or {})
    for task, per_sentence in pred.items():
        if len(per_sentence) != len(sentences):
            raise ValueError(f"pred[{task!r}] has {len(per_sentence)} sentences, expected {len(sentences)}")

    def emit(out: TextIO) -> None:
        if docstart:
            ncols = 1 + len(tasks) + len(pred)
            out.write(" ".join([DOCSTART] + ["-X-"] * (ncols - 2) + ["O"] * (ncols > 1)) + "\n\n")
        for s, sentence in enumerate(sentences):
            cols: list[Sequence[str]] = [sentence.words]
            for task in tasks:
                if task not in sentence.tags:
                    raise TaggerError(f"sentence {s + 1} has no {task!r} tags to write")
                cols.append(sentence.tags[task])
            for task, per_sentence in pred.items():
                cols.append(per_sentence[s])
            n = len(sentence.words)
            for col in cols[1:]:
                if len(col) != n:
                    raise ValueError(f"sentence {s + 1}: {len(col)} tags for {n} words")
            for row in zip(*cols):
                out.write(" ".join(row) + "\n")
            out.write("\n")

    if isinstance(path_or_file, (str, Path)):
        with open(path_or_file, "w", encoding="utf-8", newline="\n") as out:
            emit(out)
    else:
        emit(path_or_file)
