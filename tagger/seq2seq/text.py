"""Parallel text: pairs of (source sentence, target sentence) from two aligned plain-text
files (line N translates line N), or from one TSV (two columns) or JSONL (two fields)
file. Mistakes are one-line errors naming the file (and line); a pair with an empty
side is left out and counted, never trained on."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TaggerError, not_utf8


@dataclass
class Parallel:
    """Aligned sentence pairs, and how many pairs with an empty side were left out."""

    src: list[str] = field(default_factory=list)
    tgt: list[str] = field(default_factory=list)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.src)

    def add(self, src: str, tgt: str) -> None:
        src, tgt = " ".join(src.split()), " ".join(tgt.split())
        if src and tgt:
            self.src.append(src)
            self.tgt.append(tgt)
        else:
            self.skipped += 1


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file (line ends removed; a BOM dropped)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TaggerError(f"cannot read file ({err.strerror})", path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    # Only \n (and \r\n) end a line: a stray \x85 or \u2028 inside a sentence must not shift the alignment.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_aligned(src_path: str | Path, tgt_path: str | Path) -> Parallel:
    """Two files of the same number of lines; a mismatch is one error naming both files."""
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise TaggerError(f"{src_path} has {len(src):,} lines but {tgt_path} has {len(tgt):,}: "
                          "parallel files must have one line per sentence pair, in the same order")
    pairs = Parallel()
    for s, t in zip(src, tgt):
        pairs.add(s, t)
    return pairs


def guess_format(path: str | Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix in (".tsv", ".txt"):
        return "tsv"
    raise TaggerError("cannot tell the format from the extension: name it .tsv or .jsonl, or set data.format", path)


def read_pairs_file(path: str | Path, source_lang: str, target_lang: str, fmt: str = "auto") -> Parallel:
    """One file of pairs. TSV: the first two columns (a header naming the two languages
    is skipped). JSONL: objects with the two language codes as keys, ``src``/``tgt``, or
    a Hugging Face style ``{"translation": {"de": ..., "en": ...}}``."""
    path = Path(path)
    fmt = guess_format(path, fmt)
    pairs = Parallel()
    for line_no, line in enumerate(read_lines(path), 1):
        if fmt == "tsv":
            cells = line.split("\t")
            if line_no == 1 and [c.strip() for c in cells[:2]] in ([source_lang, target_lang], ["src", "tgt"]):
                continue
            if not line.strip():
                pairs.skipped += 1
                continue
            if len(cells) < 2:
                raise TaggerError("expected two tab-separated columns (source, target)", path, line_no)
            pairs.add(cells[0], cells[1])
        else:
            if not line.strip():
                continue
            pairs.add(*_json_pair(line, source_lang, target_lang, path, line_no))
    return pairs


def _json_pair(line: str, source_lang: str, target_lang: str, path: Path, line_no: int) -> tuple[str, str]:
    try:
        record = json.loads(line)
    except ValueError as err:
        raise TaggerError(f"not a JSON object ({err.msg})", path, line_no) from None
    if isinstance(record, dict) and isinstance(record.get("translation"), dict):
        record = record["translation"]
    if not isinstance(record, dict):
        raise TaggerError("each line must be a JSON object", path, line_no)
    for keys in ((source_lang, target_lang), ("src", "tgt"), ("source", "target")):
        if all(k in record for k in keys):
            src, tgt = record[keys[0]], record[keys[1]]
            if not (isinstance(src, str) and isinstance(tgt, str)):
                raise TaggerError(f"fields '{keys[0]}' and '{keys[1]}' must be strings", path, line_no)
            return src, tgt
    raise TaggerError(f"expected the fields '{source_lang}' and '{target_lang}' (or 'src' and 'tgt'); "
                      f"got {', '.join(map(str, record)) or 'none'}", path, line_no)


def iter_lines(path: str | Path) -> Iterator[str]:
    """The lines of a UTF-8 file, read lazily (prediction streams its input); bytes that
    are not UTF-8 are an error naming the file and line."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as err:
        raise TaggerError(f"cannot read file ({err.strerror})", path) from None
    with handle:
        for line_no, raw in enumerate(handle, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise TaggerError(f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
                                  "save the file as UTF-8", path, line_no) from None
            yield text.lstrip("\ufeff").rstrip("\r\n") if line_no == 1 else text.rstrip("\r\n")
