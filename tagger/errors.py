"""One error type for every user mistake, so the CLI can print one line and exit non-zero."""
from __future__ import annotations

from pathlib import Path


class TaggerError(Exception):
    """A problem with the user's input (file, option, model directory), not a bug.

    ``str(err)`` is a single line: ``path:line: message`` when they are known.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line

    def __reduce__(self):  # keep path and line when the error crosses processes (workers, datasets.map)
        return type(self), (self.message, self.path, self.line)

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        return (where + self.message).replace("\n", " ")


def bad_utf8(raw: bytes, err: UnicodeDecodeError, path: str | Path, line: int) -> TaggerError:
    """The one wording for a line of a file that is not UTF-8: the first bad byte and its
    column, counted in characters (a BOM opening line 1 not counted)."""
    before = raw[: err.start].decode("utf-8")  # valid: decoding stopped at err.start
    column = len(before.removeprefix("\ufeff") if line == 1 else before) + 1
    return TaggerError(
        f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {column}); save the file as UTF-8", path, line
    )


def not_utf8(path: Path) -> TaggerError:
    """The error for a file that is not UTF-8, naming the first bad line and byte (a
    text stream decodes ahead in blocks, so the line being read is not the bad one)."""
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return bad_utf8(raw, err, path, line_no)
    return TaggerError("not valid UTF-8; save the file as UTF-8", path)
