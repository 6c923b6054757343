"""Recursive neural networks over binary trees: sentiment on the Stanford Sentiment
Treebank with a recursive NN, an RNTN, a Tree-LSTM or the greedy recursive
autoencoder (``family = "tree"`` recipes).

This module is imported by the CLI's dispatch hooks, so it stays light: the checks
below read a TOML file, a JSON file or a safetensors header, and import no torch.
"""
from __future__ import annotations

from pathlib import Path

from ..family import model_family, recipe_family, run_family

FAMILY = "tree"


def is_tree_recipe(name_or_path: str | None) -> bool:
    """Whether a recipe name or TOML file is a tree recipe (``family = "tree"``)."""
    return name_or_path is not None and recipe_family(name_or_path) == FAMILY


def is_tree_run(run_dir: str | Path | None) -> bool:
    """Whether a run directory's checkpoint was written by a tree model's training."""
    return run_family(run_dir) == FAMILY


def is_tree_model(path: str | Path) -> bool:
    """Whether a model directory (or a run directory holding ``best/``) is a tree model."""
    return model_family(path) == FAMILY


def load(path: str | Path, device: str = "cpu"):
    """A :class:`tagger.trees.predict.TreePredictor` for a tree model directory."""
    from .predict import TreePredictor

    return TreePredictor.load(path, device)
