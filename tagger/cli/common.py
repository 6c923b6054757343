"""What every command shares: one line for a user's mistake, and the stderr console."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer

from ..errors import TaggerError


def user_errors(func: Callable) -> Callable:
    """A user's mistake is one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TaggerError as err:
            print(f"error: {err}", file=sys.stderr)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


def set_dotted(raw: dict, dotted: str, value: Any) -> None:
    """``raw['data']['train'] = value`` for ``dotted`` = ``data.train``, making tables as needed."""
    *parents, last = dotted.split(".")
    for key in parents:
        raw = raw.setdefault(key, {})
    raw[last] = value


@functools.cache
def stderr_console() -> Any:
    """The rich console for progress and logs (imported on first use: rich costs start-up time)."""
    from rich.console import Console

    return Console(stderr=True)
