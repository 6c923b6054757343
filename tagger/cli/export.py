"""``tagger export``: a trained tagger as an ONNX graph for the torch-free runtime."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import TaggerError
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


def predict_export(
    model_dir: Path, texts: Optional[list[str]], input_file: Optional[Path], input_format: Any, output_format: Any,
    output: Optional[Path], batch_size: int, threads: Optional[int],
) -> None:
    """``tagger predict EXPORT_DIR``: tagging through ONNX Runtime, PyTorch never imported;
    formats spans, conll and jsonl, written chunk by chunk as ``predict`` does."""
    from ..chunked import chunked, format_chunk, predict_chunks
    from ..outputs import LazyOutput, OutputFormat, read_input
    from ..runtime import load

    if output_format not in (OutputFormat.spans, OutputFormat.conll, OutputFormat.jsonl):
        raise TaggerError(f"an export directory writes --format spans, conll or jsonl (not {output_format.value})")
    runtime = load(model_dir, threads=threads, batch_size=batch_size)
    span_tasks = {task for task, head in runtime.heads.items() if head["span"]}
    source = iter(texts) if texts else read_input(input_file, input_format)
    with LazyOutput(output) as out:
        for tagged in predict_chunks(runtime, chunked(source, 4 * batch_size)):
            out.write(format_chunk(tagged, output_format.value, span_tasks))
