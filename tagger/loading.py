"""``tagger.load``: any model directory the toolkit writes, loaded for prediction by its
family (its ``config.json`` says which). A new family adds its branch here."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def load(path: str | Path, device: str = "cpu", quantize: str | None = None) -> Any:
    """Load a model directory (or a training run directory) for prediction: a sequence
    tagger or classifier as a :class:`tagger.predict.Tagger`, a tree model (``"family":
    "tree"``) as a :class:`tagger.trees.predict.TreePredictor`, a ``tagger export``
    directory as a :class:`tagger.runtime.Runtime` (ONNX Runtime; PyTorch is not imported).
    ``quantize="int8"``: a tagger's LSTM and linear layers in dynamic int8 (CPU); ``"bf16"``:
    its recurrent layers in bfloat16 (fast on CPUs with AMX or AVX512-BF16)."""
    from .runtime import is_export_dir

    if is_export_dir(path):
        from .errors import TaggerError
        from .runtime import load as load_export

        runtime = load_export(path)
        if quantize is not None and quantize != runtime.quantize:  # an export is quantized (or not) when written
            raise TaggerError(f"this export is {runtime.quantize or 'fp32'}; export again with --quantize {quantize}", path)
        return runtime
    from .seq2seq import is_seq2seq_model
    from .trees import is_tree_model

    if is_seq2seq_model(path):  # a translation model: a tagger.seq2seq.predict.Translator
        from .seq2seq import load as load_translator

        return load_translator(path, device)
    if is_tree_model(path):
        from .trees import load as load_tree_model

        if quantize is not None:
            from .errors import TaggerError

            raise TaggerError("quantize is for taggers and classifiers, not tree models", path)
        return load_tree_model(path, device)
    from .predict import Tagger

    return Tagger.load(path, device, quantize)
