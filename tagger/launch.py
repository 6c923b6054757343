"""The ``tagger`` command's entry point.

``tagger predict EXPORT_DIR ...`` with only the options an export directory takes
(``--input/-i``, ``--input-format``, ``--format/-f``, ``--output/-o``, ``--batch-size``,
``--threads``) goes straight to the torch-free runtime without loading typer, click, rich
and the other commands (about a fifth of its start-up; NumPy and ONNX Runtime are most
of the rest). Anything else (``--help``, another option, a model directory, a value the
command would refuse) goes to :mod:`tagger.cli`, which parses and reports as always.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_OPTIONS = {"--input": "input_file", "-i": "input_file", "--input-format": "input_format", "--format": "output_format",
            "-f": "output_format", "--output": "output", "-o": "output", "--batch-size": "batch_size",
            "--threads": "threads"}


def _split(args: list[str]) -> tuple[dict[str, str], list[str]] | None:
    """``predict``'s options and positional arguments, or None for anything not plain."""
    options: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            key = _OPTIONS.get(name)
            if key is None or key in options:
                return None
            if not eq:
                i += 1
                if i >= len(args):
                    return None
                value = args[i]
            options[key] = value
        else:
            positional.append(arg)
        i += 1
    return options, positional


def fast_predict_args(argv: list[str]) -> dict[str, Any] | None:
    """The arguments of :func:`tagger.chunked.predict_export` when ``argv`` is a plain ``predict`` of an
    export directory, else None."""
    if len(argv) < 3 or argv[0] != "predict":
        return None
    split = _split(argv[1:])
    if split is None or not split[1]:
        return None
    options, (model_dir, *texts) = split
    from .outputs import InputFormat, OutputFormat
    from .runtime import is_export_dir

    if not is_export_dir(model_dir) or (not texts and "input_file" not in options):
        return None
    try:
        return dict(model_dir=Path(model_dir), texts=texts or None,
                    input_file=Path(options["input_file"]) if "input_file" in options else None,
                    input_format=InputFormat(options.get("input_format", "auto")),
                    output_format=OutputFormat(options.get("output_format", "spans")),
                    output=Path(options["output"]) if "output" in options else None,
                    batch_size=int(options.get("batch_size", 256)),
                    threads=int(options["threads"]) if "threads" in options else None)
    except ValueError:
        return None


def main() -> None:
    args = fast_predict_args(sys.argv[1:])
    if args is None:
        from .cli import main as cli_main

        cli_main()
        return
    from .chunked import predict_export
    from .errors import TaggerError

    try:
        predict_export(**args)
    except TaggerError as err:  # as tagger.cli.common.user_errors: one line, status 1
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
