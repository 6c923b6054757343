"""tagger: BiLSTM sequence taggers for NER and POS, fast on a CPU and safe to load."""
from __future__ import annotations

from .data import Sentence
from .errors import TaggerError
from .hf import map_predict, predict_batch, predict_partition
from .predict import Tagger, load

__version__ = "0.1.0"
__all__ = [
    "Sentence", "Tagger", "TaggerError", "load", "map_predict", "predict_batch", "predict_partition", "__version__",
]
