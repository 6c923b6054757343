"""``tagger export``: a trained tagger as an ONNX graph for the torch-free runtime."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..chunked import predict_export  # noqa: F401  (re-exported: tagger predict calls it from here)
from .common import stderr_console, user_errors


@user_errors
def export_command(
    model_dir: Annotated[Path, typer.Argument(help="A model directory (or a run directory holding best/).")],
    out: Annotated[Path, typer.Argument(help="The export directory to write: model.onnx, export.json and vocab.json.")],
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    quantize: Annotated[Optional[str], typer.Option(help="int8: ONNX Runtime's dynamic int8 quantization of the LSTM and matrix products (smaller, usually faster on a CPU).")] = None,
) -> None:
    """Export a tagger or sentence classifier to ONNX; 'tagger.runtime.load(OUT)' (or 'tagger.load(OUT)') then tags with ONNX Runtime, without PyTorch."""
    from ..export import export_model

    written = export_model(model_dir, out, fmt, quantize)
    size = (written / "model.onnx").stat().st_size
    stderr_console().print(f"exported {model_dir} to {written} ({size / 1e6:.1f} MB model.onnx{', int8' if quantize else ''})")
