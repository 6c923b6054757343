"""``tagger.load``: any model directory the toolkit writes, loaded for prediction by its
family (its ``config.json`` says which). A new family adds its branch here."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def load(path: str | Path, device: str = "cpu") -> Any:
    """Load a model directory (or a training run directory) for prediction: a sequence
    tagger or classifier as a :class:`tagger.predict.Tagger`, a tree model (``"family":
    "tree"``) as a :class:`tagger.trees.predict.TreePredictor`."""
    from .trees import is_tree_model

    if is_tree_model(path):
        from .trees import load as load_tree_model

        return load_tree_model(path, device)
    from .predict import Tagger

    return Tagger.load(path, device)
