"""Where a model runs: the device, and how many CPU threads PyTorch may use."""
from __future__ import annotations

from typing import Any

from .errors import TaggerError

# One thread unless asked: on a machine shared with other work, PyTorch's default (a
# thread per core, spinning while it waits) ran `tagger train demo` 14x and `predict`
# 20x slower, while on an idle machine a second thread gained little (bench/threads.py).
DEFAULT_THREADS = 1

# How a PyTorch model may be quantized when loaded for prediction (tagger.predict.quantized).
QUANTIZE_CHOICES = ("int8", "bf16")

THREADS_HELP = (
    "CPU threads for PyTorch: 1 (the default) is never much slower and far faster on a busy "
    "machine; 0 lets PyTorch choose (a thread per core)."
)


def set_threads(threads: int | None) -> None:
    """``None``: the default; 0: PyTorch's own choice; N >= 1: N threads."""
    if threads is not None and threads < 0:
        raise TaggerError(f"threads must be 0 (PyTorch's choice) or more, got {threads}")
    import torch

    if threads == 0:
        return
    wanted = DEFAULT_THREADS if threads is None else threads
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def resolve_device(name: str) -> Any:
    """A ``torch.device`` for ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (a GPU when there is one)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TaggerError(f"device '{name}' requested but no CUDA GPU is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise TaggerError(f"unknown device '{name}' (use cpu, cuda, cuda:N or auto)") from None
