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
