"""Readers for text classification data: a text column and a label column per row.

* TSV: a header line naming the columns, then one row a line, fields separated
  by TABs (no quoting: a TAB cannot occur in a field, a quote is just a character);
* CSV: RFC 4180 (quoted fields may hold commas, quotes and newlines), header first;
* JSONL: one JSON object a line; the text is a string (or a list of tokens, used
  as they are) and the label a string, a number or, for multi-label data, a list.

Labels are strings (``1`` becomes ``"1"``). A multi-label row lists its labels
separated by commas (``sports,politics``; none is allowed) or, in JSONL, as a list.
The text is split into words by the named tokenizer (``tagger.tokenize``) and,
with ``max_tokens``, cut to its first words. Each sentence remembers its line
(``Sentence.line``) so later errors can name it; every error here names the file
and line.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..data import Sentence
from ..errors import TaggerError
from ..textfile import text_lines
from ..tokenize import get_tokenizer

FORMATS = ("tsv", "csv", "jsonl")


def read_text_classification(
    path: str | Path,
    fmt: str,
    task: str,
    text_field: str = "sentence",
    label_field: str = "label",
    tokenizer: str = "whitespace",
    multi_label: bool = False,
    max_tokens: int | None = None,
    label_names: dict[str, str] | None = None,
    clean: Callable[[str], str] | None = None,
) -> list[Sentence]:
    """Sentences with ``cats[task]`` from a TSV, CSV or JSONL file.

    ``label_names`` renames labels as they are read (``{"0": "negative"}``);
    ``clean`` is applied to each raw text before tokenizing (IMDB's ``<br />``).
    """
    if fmt not in FORMATS:
        raise TaggerError(f"unknown text classification format '{fmt}' (choose: {', '.join(FORMATS)})")
    if max_tokens is not None and max_tokens < 1:
        raise TaggerError(f"max_tokens must be at least 1, got {max_tokens}")
    split = get_tokenizer(tokenizer)
    path = Path(path)
    rows = {"tsv": _tsv_rows, "csv": _csv_rows, "jsonl": _jsonl_rows}[fmt]
    sentences = []
    try:
        for line, text, label in rows(path, text_field, label_field):
            if isinstance(text, str):
                words = split(clean(text) if clean else text)
            else:
                words = [str(w) for w in text]
            if not words:
                raise TaggerError(f"the text in '{text_field}' is empty", path, line)
            labels = _labels(label, multi_label, path, line, label_field)
            if label_names:
                labels = [label_names.get(lab, lab) for lab in labels]
            sentences.append(
                Sentence(words=words[:max_tokens] if max_tokens else words, cats={task: labels}, line=line)
            )
    except OSError as err:
        raise TaggerError(f"cannot read ({err.strerror or err})", path) from None
    if not sentences:
        raise TaggerError("no rows: the file holds no labelled text", path)
    return sentences


def _labels(value: Any, multi_label: bool, path: Path, line: int, field: str) -> list[str]:
    if isinstance(value, list):
        labels = [_scalar_label(v, path, line, field) for v in value]
    elif value is None:
        labels = []
    else:
        text = _scalar_label(value, path, line, field)
        labels = [p.strip() for p in text.split(",")] if multi_label else [text.strip()]
        labels = [lab for lab in labels if lab]
    if multi_label:
        return list(dict.fromkeys(labels))  # repeated labels count once
    if not labels:
        raise TaggerError(f"missing label (column '{field}' is empty)", path, line)
    if len(labels) > 1:
        raise TaggerError(
            f"{len(labels)} labels ({', '.join(labels)}) for a single-label task; use --multi-label", path, line
        )
    return labels


def _scalar_label(value: Any, path: Path, line: int, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TaggerError(f"label in '{field}' must be a string or a number, got {json.dumps(value)}", path, line)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _columns(header: list[str], text_field: str, label_field: str, path: Path) -> tuple[int, int]:
    names = [h.strip() for h in header]
    missing = [f for f in (text_field, label_field) if f not in names]
    if missing:
        raise TaggerError(
            f"no column '{missing[0]}' in the header (columns: {', '.join(names) or 'none'}); "
            "name the columns with --text-field and --label-field",
            path, 1,
        )
    return names.index(text_field), names.index(label_field)


def _tsv_rows(path: Path, text_field: str, label_field: str) -> Iterator[tuple[int, str, str]]:
    header = None
    for line_no, raw in text_lines(path, newline=""):
        raw = raw.rstrip("\r\n")
        if header is None:
            header = raw.split("\t")
            t, lab = _columns(header, text_field, label_field, path)
            continue
        if not raw.strip():
            continue
        fields = raw.split("\t")
        if len(fields) != len(header):
            if len(fields) <= lab or len(fields) <= t:
                missing = label_field if len(fields) <= lab else text_field
                raise TaggerError(
                    f"missing {'label' if missing == label_field else 'text'}: {len(fields)} "
                    f"TAB-separated fields, the header has {len(header)}",
                    path, line_no,
                )
            raise TaggerError(
                f"{len(fields)} TAB-separated fields, the header has {len(header)}", path, line_no
            )
        yield line_no, fields[t], fields[lab]
    if header is None:
        raise TaggerError("empty file: expected a header line naming the columns", path)


def _csv_rows(path: Path, text_field: str, label_field: str) -> Iterator[tuple[int, str, str]]:
    reader = csv.reader(line for _, line in text_lines(path, newline=""))
    line_no = 1
    try:
        header = next(reader, None)
        if header is None:
            raise TaggerError("empty file: expected a header line naming the columns", path)
        t, lab = _columns(header, text_field, label_field, path)
        while True:
            line_no = reader.line_num + 1  # where the next record starts
            try:
                fields = next(reader)
            except StopIteration:
                break
            if not fields or not any(f.strip() for f in fields):
                continue
            if len(fields) <= max(t, lab):
                missing = "label" if len(fields) <= lab else "text"
                raise TaggerError(
                    f"missing {missing}: {len(fields)} fields, the header has {len(header)}", path, line_no
                )
            yield line_no, fields[t], fields[lab]
    except csv.Error as err:
        raise TaggerError(f"malformed CSV ({err})", path, line_no) from None


def _jsonl_rows(path: Path, text_field: str, label_field: str) -> Iterator[tuple[int, Any, Any]]:
    for line_no, raw in text_lines(path, newline=""):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as err:
            raise TaggerError(f"not valid JSON ({err.msg})", path, line_no) from None
        if not isinstance(item, dict):
            raise TaggerError("expected a JSON object per line", path, line_no)
        if text_field not in item:
            raise TaggerError(f"no '{text_field}' key (keys: {', '.join(item)}); see --text-field", path, line_no)
        if label_field not in item:
            raise TaggerError(f"missing label: no '{label_field}' key (keys: {', '.join(item)}); see --label-field", path, line_no)
        text = item[text_field]
        if not isinstance(text, str) and not (isinstance(text, list) and all(isinstance(w, str) for w in text)):
            raise TaggerError(f"'{text_field}' must be a string or a list of tokens", path, line_no)
        yield line_no, text, item[label_field]


def write_tsv(rows: list[tuple[str, str]], path: str | Path, text_field: str = "sentence", label_field: str = "label") -> None:
    """Write ``(text, label)`` rows as a TSV with a header (TABs and newlines in a text become spaces)."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        out.write(f"{text_field}\t{label_field}\n")
        for text, label in rows:
            out.write(" ".join(text.split()) + "\t" + label + "\n")


def write_jsonl(rows: list[tuple[str, str]], path: str | Path, text_field: str = "text", label_field: str = "label") -> None:
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        for text, label in rows:
            out.write(json.dumps({text_field: text, label_field: label}, ensure_ascii=False) + "\n")
