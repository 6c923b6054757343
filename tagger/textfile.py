"""Text files in: one opener for every reader of user files, with errors a user can act on.

A missing file, a folder or an unreadable file is a one-line :class:`TaggerError`
naming it; bytes that are not UTF-8 are one naming ``file:line`` and the column. A
UTF-8 BOM at the start is dropped. Lines keep their line ends, so callers strip them.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import TaggerError, bad_utf8, not_utf8


def open_file(path: str | Path, what: str = "file", *, text: bool = False, newline: str | None = None) -> IO:
    """``path`` opened for reading (bytes, or UTF-8 text with ``text``); the errors say ``what`` it is."""
    try:
        if text:
            return open(path, encoding="utf-8-sig", newline=newline)
        return open(path, "rb")
    except FileNotFoundError:
        raise TaggerError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise TaggerError("is a directory, not a file", path) from None
    except OSError as err:
        raise TaggerError(f"cannot open {what}: {err.strerror or err}", path) from None


def text_lines(path: str | Path, what: str = "file", *, newline: str | None = "\n") -> Iterator[tuple[int, str]]:
    """``(line number from 1, line)`` of a UTF-8 file, read lazily; the file is opened
    now, so a missing one fails at the call.

    Lines end at ``"\\n"`` only, as in every column format (a lone ``"\\r"`` is data).
    ``newline=""`` ends them at ``"\\r"``, ``"\\n"`` or ``"\\r\\n"``, which is what the
    ``csv`` module needs.
    """
    path = Path(path)
    if newline == "\n":
        return _decoded(open_file(path, what), path)
    return _text_mode(open_file(path, what, text=True, newline=newline), path)


def decode_line(raw: bytes, path: str | Path, line_no: int) -> str:
    """One line of a file as text (a BOM opening line 1 dropped), or the UTF-8 error at it."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad_utf8(raw, err, path, line_no) from None
    return line.removeprefix("\ufeff") if line_no == 1 else line


def read_text(path: str | Path, what: str = "file") -> str:
    """A whole UTF-8 file (line ends kept as they are)."""
    return "".join(line for _, line in text_lines(path, what))


def _decoded(handle: IO[bytes], path: Path) -> Iterator[tuple[int, str]]:
    # Bytes decoded a line at a time, so the first error in the file is the first reported.
    with handle:
        for line_no, raw in enumerate(handle, 1):
            yield line_no, decode_line(raw, path, line_no)


def _text_mode(handle: IO[str], path: Path) -> Iterator[tuple[int, str]]:
    with handle:
        try:
            yield from enumerate(handle, 1)
        except UnicodeDecodeError:
            raise not_utf8(path) from None
