"""CoNLL-U (Universal Dependencies) reading and writing, following the format in full.

A file is a sequence of sentences, each ended by a blank line. A sentence is

* ``#`` comment lines first (``# sent_id = ...`` and ``# text = ...`` are kept
  in :attr:`Sentence.meta`);
* then one line per token, exactly ten TAB-separated fields
  ``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC`` (spaces are allowed
  inside FORM and LEMMA, ``_`` stands for an unspecified value), where ID is

  - a word number ``1, 2, 3, ...``: the syntactic words, which are what we tag;
  - a range ``1-2``: a multiword token (the surface form of words 1 and 2, e.g.
    *don't* = *do* + *n't*), given just before its first word; not tagged, but
    kept for output and available through :func:`surface_tokens`;
  - a decimal ``8.1``: an empty node of the enhanced graph, skipped for tagging.

The reader keeps each sentence's original lines in ``meta["conllu"]``, so
:func:`write_conllu` reproduces the input exactly (comments, ranges, empty
nodes and every other column) with only UPOS/XPOS replaced by predictions.

Every problem with the input raises :class:`tagger.errors.TaggerError` naming
the file and the 1-based line: a wrong number of fields, an empty field, an ID
that is not a number, words out of order or not starting at 1, bad ranges,
empty nodes in the wrong place, text that is not UTF-8. A BOM and CRLF line
ends are accepted; output is always UTF-8 with LF line ends.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from tagger.data import Sentence
from tagger.errors import TaggerError
from tagger.textfile import text_lines

COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
ID, FORM, LEMMA, UPOS, XPOS = 0, 1, 2, 3, 4
# Taggable fields (task names) and their column.
TAG_FIELDS: dict[str, int] = {"upos": UPOS, "xpos": XPOS}
# Where write_conllu puts each task's labels by default.
DEFAULT_COLUMNS: dict[str, int] = {"upos": UPOS, "xpos": XPOS}
RAW_KEY = "conllu"  # Sentence.meta key holding the sentence's original lines

_WORD = re.compile(r"[1-9][0-9]*")
_RANGE = re.compile(r"([1-9][0-9]*)-([1-9][0-9]*)")
_EMPTY = re.compile(r"(0|[1-9][0-9]*)\.([1-9][0-9]*)")
_COMMENT = re.compile(r"#\s*([^=]*?)\s*=\s?(.*)")
_KEPT_COMMENTS = ("sent_id", "text")


def _check_fields(fields: Iterable[str]) -> tuple[str, ...]:
    fields = tuple(fields)
    for name in fields:
        if name not in TAG_FIELDS:
            raise TaggerError(f"unknown CoNLL-U field {name!r} to tag; choose from {', '.join(TAG_FIELDS)}")
    return fields


class _Block:
    """The sentence being read: its lines, words, tags and the ID bookkeeping."""

    def __init__(self, fields: tuple[str, ...]):
        self.fields = fields
        self.lines: list[str] = []
        self.meta: dict[str, str] = {}
        self.words: list[str] = []
        self.tags: dict[str, list[str]] = {f: [] for f in fields}
        self.first_line = 0  # line number of the block's first line
        self.first_token_line = 0
        self.range_end = 0  # end of the last multiword token range
        self.range_line = 0
        self.empty = (0, 0)  # last empty node (word, sub)

    @property
    def started(self) -> bool:
        return bool(self.lines)


_NEWDOC = re.compile(r"#\s*newdoc\b")

def read_conllu(
    path: str | Path, fields: Iterable[str] = ("upos",), *, max_sentence_len: int | None = None
) -> list[Sentence]:
    """Read a CoNLL-U file: one :class:`Sentence` per sentence, its words the
    syntactic words (multiword token ranges and empty nodes are not tagged), and
    one tag list per requested field (``"upos"``, ``"xpos"``), named after it.

    ``meta`` holds ``sent_id`` and ``text`` when the file gives them, and the
    sentence's original lines under ``"conllu"``. ``max_sentence_len`` (None:
    no limit) makes a longer sentence an error.
    """
    fields = _check_fields(fields)
    where = str(path)
    sentences: list[Sentence] = []
    block = _Block(fields)
    lineno = 0
    for lineno, line in text_lines(path):
        line = line.rstrip("\r\n")
        if not line.strip():
            _finish(block, sentences, where)
            block = _Block(fields)
            continue
        if not block.started:
            block.first_line = lineno
        if line.startswith("#"):
            _comment_line(line, block, where, lineno)
            continue
        _token_line(line, block, where, lineno)
        if max_sentence_len is not None and len(block.words) > max_sentence_len:
            raise TaggerError(
                f"sentence starting on line {block.first_token_line} is longer than the limit of "
                f"{max_sentence_len} words (is a blank line missing between sentences?)",
                where, lineno,
            )
    _finish(block, sentences, where)
    if not sentences:
        raise TaggerError("no sentences found (the file is empty)", where)
    return sentences


def _finish(block: _Block, sentences: list[Sentence], where: str) -> None:
    """Check the block that a blank line (or the end of the file) closes and add its sentence."""
    if not block.started:
        return
    if not block.words:
        if block.first_token_line == 0:
            raise TaggerError("comment lines not followed by a sentence (a sentence needs word lines)",
                              where, block.first_line)
        raise TaggerError("sentence has no words (only multiword tokens or empty nodes)",
                          where, block.first_token_line)
    if block.range_end > len(block.words):
        raise TaggerError(
            f"multiword token range ends at word {block.range_end}, "
            f"but the sentence has only {len(block.words)} words",
            where, block.range_line,
        )
    meta = dict(block.meta)
    meta[RAW_KEY] = "\n".join(block.lines)
    # "# newdoc" starts a document (for document context); a file without one is one document.
    new_doc = bool(sentences) and any(_NEWDOC.match(line) for line in block.lines if line.startswith("#"))
    doc = (sentences[-1].doc + new_doc) if sentences else 0
    sentences.append(Sentence(words=block.words, tags=block.tags, meta=meta, doc=doc))


def _comment_line(line: str, block: _Block, where: str, lineno: int) -> None:
    if block.first_token_line:
        raise TaggerError(
            "comment line inside a sentence (comments come before the first token line; "
            "is a blank line missing?)",
            where, lineno,
        )
    block.lines.append(line)
    match = _COMMENT.fullmatch(line)
    if match and match.group(1) in _KEPT_COMMENTS:
        block.meta[match.group(1)] = match.group(2)


def _token_line(line: str, block: _Block, where: str, lineno: int) -> None:
    cols = _token_fields(line, where, lineno)
    if not block.first_token_line:
        block.first_token_line = lineno
    block.lines.append(line)
    ident = cols[ID]
    if _WORD.fullmatch(ident):
        _word(cols, block, where, lineno)
    elif match := _RANGE.fullmatch(ident):
        _multiword_range(ident, int(match.group(1)), int(match.group(2)), block, where, lineno)
    elif match := _EMPTY.fullmatch(ident):
        _empty_node(ident, int(match.group(1)), int(match.group(2)), block, where, lineno)
    else:
        raise TaggerError(
            f"ID {ident!r} is not a word number (1, 2, ...), a multiword token range (1-2) or an empty node (8.1)",
            where, lineno,
        )


def _token_fields(line: str, where: str, lineno: int) -> list[str]:
    cols = line.split("\t")
    if len(cols) != 10:
        hint = ""
        if len(cols) < 10 and " " in line:
            hint = " (fields are separated by TABs; spaces are only allowed inside FORM and LEMMA)"
        raise TaggerError(f"expected 10 TAB-separated fields, found {len(cols)}{hint}", where, lineno)
    for name, value in zip(COLUMNS, cols):
        if value == "":
            raise TaggerError(f"field {name} is empty (write _ for an unspecified value)", where, lineno)
        if name not in ("FORM", "LEMMA") and value != value.strip():
            raise TaggerError(f"field {name} {value!r} has leading or trailing spaces", where, lineno)
    return cols


def _word(cols: list[str], block: _Block, where: str, lineno: int) -> None:
    number, next_word = int(cols[ID]), len(block.words) + 1
    if number != next_word:
        if next_word == 1:
            raise TaggerError(f"the first word ID of a sentence must be 1, found {number}", where, lineno)
        hint = " (is a blank line missing between sentences?)" if number == 1 else ""
        raise TaggerError(
            f"word IDs must be consecutive: expected {next_word} after {next_word - 1}, found {number}{hint}",
            where, lineno,
        )
    block.words.append(cols[FORM])
    for field in block.fields:
        block.tags[field].append(cols[TAG_FIELDS[field]])


def _multiword_range(ident: str, start: int, end: int, block: _Block, where: str, lineno: int) -> None:
    next_word = len(block.words) + 1
    if end <= start:
        raise TaggerError(f"bad multiword token range {ident}: the end must be greater than the start",
                          where, lineno)
    if start <= block.range_end:
        raise TaggerError(f"multiword token range {ident} overlaps the range ending at word {block.range_end}",
                          where, lineno)
    if start != next_word:
        raise TaggerError(
            f"multiword token range {ident} must come just before word {start}, "
            f"but the next word is {next_word}",
            where, lineno,
        )
    block.range_end, block.range_line = end, lineno


def _empty_node(ident: str, word: int, sub: int, block: _Block, where: str, lineno: int) -> None:
    next_word = len(block.words) + 1
    last_word, last_sub = block.empty
    expected_sub = last_sub + 1 if last_word == word else 1
    if word != next_word - 1 or sub != expected_sub:
        after = f"word {next_word - 1}" if next_word > 1 else "the start of the sentence"
        want = f"{next_word - 1}.{expected_sub if word == next_word - 1 else 1}"
        raise TaggerError(f"empty node {ident} out of order: after {after} the next empty node is {want}",
                          where, lineno)
    block.empty = (word, sub)


def surface_tokens(sentence: Sentence) -> list[tuple[str, int, int]]:
    """The sentence's surface tokens as ``(form, start, end)``: words ``start:end``
    (0-based, end exclusive) make up the token. A multiword token such as *don't*
    covers several words; any other word is a token of its own. Without the
    original CoNLL-U lines, every word is a token."""
    raw = sentence.meta.get(RAW_KEY)
    if raw is None:
        return [(w, i, i + 1) for i, w in enumerate(sentence.words)]
    tokens: list[tuple[str, int, int]] = []
    covered = 0
    for line in raw.split("\n"):
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        match = _RANGE.fullmatch(cols[ID])
        if match:
            start, end = int(match.group(1)), int(match.group(2))
            tokens.append((cols[FORM], start - 1, end))
            covered = end
        elif _WORD.fullmatch(cols[ID]):
            number = int(cols[ID])
            if number > covered:
                tokens.append((cols[FORM], number - 1, number))
    return tokens


def _sentence_lines(sentence: Sentence, labels: Mapping[int, Sequence[str]]) -> list[str]:
    raw = sentence.meta.get(RAW_KEY)
    if raw is None:
        lines = [f"# {key} = {sentence.meta[key]}" for key in _KEPT_COMMENTS if key in sentence.meta]
        for i, word in enumerate(sentence.words):
            cols = [str(i + 1), word.replace("\t", " ")] + ["_"] * 8
            for column, tags in labels.items():
                cols[column] = tags[i]
            lines.append("\t".join(cols))
        return lines
    lines = []
    n = 0
    for line in raw.split("\n"):
        if not line.startswith("#"):
            cols = line.split("\t")
            if _WORD.fullmatch(cols[ID]):
                for column, tags in labels.items():
                    cols[column] = tags[n]
                n += 1
                line = "\t".join(cols)
        lines.append(line)
    if n != len(sentence.words):
        raise ValueError(f"the stored CoNLL-U lines hold {n} words, the sentence {len(sentence.words)}")
    return lines


def write_conllu(
    sentences: Iterable[Sentence],
    predictions: Sequence[Mapping[str, Sequence[str]]] | None,
    path_or_file: str | Path | TextIO,
    *,
    columns: Mapping[str, int] | None = None,
) -> None:
    """Write sentences as CoNLL-U with each task's labels in its column.

    ``predictions`` has one ``{task: labels}`` per sentence (what
    ``Tagger.predict_all`` returns); ``None`` writes the sentences' own tags.
    ``columns`` maps task names to column indices (default ``upos`` -> UPOS,
    ``xpos`` -> XPOS); other tasks are left out. Sentences read by
    :func:`read_conllu` come out line for line as they went in (comments,
    multiword tokens, empty nodes, all other columns) with only those columns
    replaced; other sentences get fresh lines with ``_`` in the unknown columns.
    """
    sentences = list(sentences)
    columns = dict(DEFAULT_COLUMNS if columns is None else columns)
    if predictions is None:
        predictions = [s.tags for s in sentences]
    if len(predictions) != len(sentences):
        raise ValueError(f"{len(predictions)} predictions for {len(sentences)} sentences")

    def emit(out: TextIO) -> None:
        for s, (sentence, labels) in enumerate(zip(sentences, predictions)):
            chosen: dict[int, Sequence[str]] = {}
            for task, tags in labels.items():
                if task in columns:
                    if len(tags) != len(sentence.words):
                        raise ValueError(f"sentence {s + 1}: {len(tags)} {task} labels for {len(sentence.words)} words")
                    chosen[columns[task]] = tags
            out.write("\n".join(_sentence_lines(sentence, chosen)) + "\n\n")

    if isinstance(path_or_file, (str, Path)):
        with open(path_or_file, "w", encoding="utf-8", newline="\n") as out:
            emit(out)
    else:
        emit(path_or_file)
