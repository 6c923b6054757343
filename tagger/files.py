"""The files of a model directory: atomic writes, safe reads, and the checks that a
directory is complete and its weights fit the model. Shared by tagger and LM models."""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from .atomic import atomic_write, atomic_write_text  # noqa: F401  (re-exported: the model formats write through them)
from .errors import TaggerError
from .textfile import read_text

WEIGHTS_FILE = "model.safetensors"


def resolve_dir(path: str | Path, required: tuple[str, ...]) -> Path:
    """A model directory holding ``required`` and the weights, or a training run
    directory whose best model is ``best/``. Links out of the directory are refused."""
    path = Path(path)
    if not path.exists():
        raise TaggerError("model directory does not exist", path)
    if not (path / required[0]).exists() and (path / "best" / required[0]).exists():
        path = path / "best"
    for name in (*required, WEIGHTS_FILE):
        file = path / name
        if not file.is_file():
            raise TaggerError(f"not a model directory: {name} is missing", path)
        if file.is_symlink() and not file.resolve().is_relative_to(path.resolve()):
            raise TaggerError(f"{name} is a link to a file outside the model directory", path)
    return path


def read_json_object(path: Path) -> dict:
    text = read_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise TaggerError(f"not valid JSON ({err})", path) from None
    if not isinstance(value, dict):
        raise TaggerError("expected a JSON object", path)
    return value


def read_weights(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(path)  # safetensors: parses a header and raw tensors, runs no code
    except (SafetensorError, OSError, ValueError) as err:
        raise TaggerError(f"cannot read weights: not a complete safetensors file ({err})", path) from None


def check_weights(expected: dict[str, Tensor], weights: dict[str, Tensor], described_by: str, path: Path) -> None:
    """Refuse weights whose names or shapes differ from the model's (``expected``)."""
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = (
            f"missing {missing[0]}" if missing
            else f"unexpected {unexpected[0]}" if unexpected
            else f"{wrong[0]} has shape {tuple(weights[wrong[0]].shape)}, config needs {tuple(expected[wrong[0]].shape)}"
        )
        raise TaggerError(f"weights do not match {described_by}: {detail}", path)


def unshared(weights: dict[str, Tensor]) -> dict[str, Tensor]:
    """Copies of tensors that share memory (tied LM weights): safetensors refuses to save shared storage."""
    seen: set[int] = set()
    out = {}
    for k, v in weights.items():
        ptr = v.untyped_storage().data_ptr()
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out
