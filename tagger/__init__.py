"""tagger: BiLSTM sequence taggers for NER and POS, fast on a CPU and safe to load.

The public names are imported on first use (PEP 562), so ``import tagger`` and
``tagger --help`` do not pay for PyTorch, spaCy or datasets until a model is loaded.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Sentence": ".data",
    "TaggerError": ".errors",
    "map_predict": ".hf",
    "predict_batch": ".hf",
    "predict_partition": ".hf",
    "Tagger": ".predict",
    "load": ".loading",
}
__all__ = [  # the names of _EXPORTS, spelled out for linters and IDEs
    "Sentence", "Tagger", "TaggerError", "load", "map_predict", "predict_batch", "predict_partition", "__version__",
]

if TYPE_CHECKING:  # for type checkers and IDEs; never run
    from .data import Sentence
    from .errors import TaggerError
    from .hf import map_predict, predict_batch, predict_partition
    from .loading import load
    from .predict import Tagger


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tagger' has no attribute '{name}'")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
