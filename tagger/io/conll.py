"""Column-format corpora (CoNLL-2003 and friends): reading and writing.

A file holds one token per line, whitespace-separated columns (tabs, spaces or
both), and a blank line between sentences. ``-DOCSTART-`` lines are document
markers and are skipped. Span-task columns (NER, chunking) are validated and
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

DOCSTART = "-DOCSTART-"

CONLL2003_COLUMNS = {"pos": 1, "chunk": 2, "ner": 3}
CONLL2003_SPAN_TASKS = frozenset({"ner", "chunk"})


def _resolve(index: int, ncols: int) -> int | None:
    """A column index (negative counts from the end) as a non-negative one, or None if out of range."""
    real = index + ncols if index < 0 else index
    return real if 0 <= real < ncols else None


def read_columns(  # noqa: C901  (one pass over the lines; to be split with the scheme tables, #13)
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
    from tagger.schemes import BIO, SCHEMES, detect_scheme, first_violation, split_tag, to_bio

    columns = dict({"ner": -1} if columns is None else columns)
    span_tasks = frozenset({"ner", "chunk"} if span_tasks is None else span_tasks)
    schemes = {t: scheme if isinstance(scheme, str) else scheme.get(t, "auto") for t in span_tasks}
    for name in set(schemes.values()) | ({scheme} if isinstance(scheme, str) else set()):
        if name not in SCHEMES:
            raise TaggerError(f"unknown tag scheme {name!r}; expected one of {', '.join(SCHEMES)}")
    if max_sentence_len is not None and max_sentence_len <= 0:
        raise TaggerError(f"max_sentence_len must be positive, got {max_sentence_len}")
    path = Path(path)
    where = str(path)
    tasks = list(columns)
    span_list = [t for t in tasks if t in span_tasks]

    ncols = expected_columns
    word_idx: int | None = None
    task_idx: list[int] = []
    valid_tags: set[str] = {"O"}

    # Per sentence: the line number of its first token, its words, and one tag list per task.
    starts: list[int] = []
    sentences_words: list[list[str]] = []
    sentences_tags: list[list[list[str]]] = []
    words: list[str] = []
    tag_lists: list[list[str]] = [[] for _ in tasks]
    start_line = 0

    def flush() -> None:
        nonlocal words, tag_lists
        if words:
            starts.append(start_line)
            sentences_words.append(words)
            sentences_tags.append(tag_lists)
            words = []
            tag_lists = [[] for _ in tasks]

    def setup(n: int, lineno: int) -> None:
        nonlocal word_idx, task_idx
        word_idx = _resolve(word_col, n)
        if word_idx is None:
            raise TaggerError(f"word column {word_col} does not exist: the file has {n} columns", where, lineno)
        task_idx = []
        for task in tasks:
            idx = _resolve(columns[task], n)
            if idx is None:
                raise TaggerError(
                    f"column {columns[task]} for task {task!r} does not exist: the file has {n} columns",
                    where, lineno,
                )
            task_idx.append(idx)

    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise TaggerError("file not found", where) from None
    except IsADirectoryError:
        raise TaggerError("is a directory, not a file", where) from None
    except OSError as err:
        raise TaggerError(f"cannot open file: {err.strerror or err}", where) from None

    lineno = 0
    with handle:
        for lineno, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise TaggerError(
                    f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
                    "save the file as UTF-8",
                    where, lineno,
                ) from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            fields = line.split()
            if not fields:
                flush()
                continue
            if fields[0] == DOCSTART:
                flush()
                continue
            if ncols is None:
                ncols = len(fields)
            if len(fields) != ncols:
                # A file that is narrower from its first line on is another format, not a broken line.
                hint = ("; for a file of words and tags, use --format column --word-col 0 --tag-col -1"
                        if word_idx is None and 2 <= len(fields) < ncols else "")
                raise TaggerError(f"expected {ncols} columns, found {len(fields)}{hint}", where, lineno)
            if word_idx is None:
                setup(ncols, lineno)
            if not words:
                start_line = lineno
            elif max_sentence_len is not None and len(words) >= max_sentence_len:
                raise TaggerError(
                    f"sentence starting on line {start_line} is longer than the limit of "
                    f"{max_sentence_len} tokens (is a blank line missing between sentences?)",
                    where, lineno,
                )
            words.append(fields[word_idx])
            for k, idx in enumerate(task_idx):
                tag = fields[idx]
                tag_lists[k].append(tag)
                if tag not in valid_tags and tasks[k] in span_tasks:
                    try:
                        split_tag(tag)
                    except ValueError as err:
                        raise TaggerError(
                            f"invalid tag {tag!r} in column {idx + 1} ({tasks[k]}): {err}", where, lineno
                        ) from None
                    valid_tags.add(tag)
        flush()

    if not sentences_words:
        raise TaggerError("no sentences found (the file is empty or holds only -DOCSTART- lines)", where)

    detected = {}
    for task in span_list:
        k = tasks.index(task)
        task_scheme = schemes[task]
        if task_scheme == "auto":
            task_scheme = detected[task] = detect_scheme(tags[k] for tags in sentences_tags)
        for s, tags in enumerate(sentences_tags):
            try:
                bad = first_violation(tags[k], "bio") if task_scheme in ("bio", "iob2") else None
                if bad is None:
                    tags[k] = to_bio(tags[k], task_scheme)
            except ValueError as err:
                raise TaggerError(f"{task} tags of the sentence starting here: {err}", where, starts[s]) from None
            if bad is not None:
                raise TaggerError(f"invalid BIO in {task}: {bad.describe(position=False)}{BIO.hint}",
                                  where, starts[s] + bad.position)

    return Sentences(
        (Sentence(words=w, tags=dict(zip(tasks, t)), line=start)
         for w, t, start in zip(sentences_words, sentences_tags, starts)),
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
