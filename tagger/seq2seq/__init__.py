"""Sequence-to-sequence translation with attention: a bidirectional RNN encoder, an RNN
decoder with ``none`` / ``bahdanau`` / ``luong`` / ``dot`` attention, subword
vocabularies, greedy and batched beam search (``family = "seq2seq"`` recipes; the
``multi30k`` recipe translates German to English).

This module is imported by the CLI's dispatch hooks, so it stays light: the checks
below read a TOML file, a JSON file or a safetensors header, and import no torch.
"""
from __future__ import annotations

from pathlib import Path

from ..family import model_family, recipe_family, run_family

FAMILY = "seq2seq"


def is_seq2seq_recipe(name_or_path: str | None) -> bool:
    """Whether a recipe name or TOML file is a translation recipe (``family = "seq2seq"``)."""
    return name_or_path is not None and recipe_family(name_or_path) == FAMILY


def is_seq2seq_run(run_dir: str | Path | None) -> bool:
    """Whether a run directory's checkpoint was written by a translation model's training."""
    return run_family(run_dir) == FAMILY


def is_seq2seq_model(path: str | Path) -> bool:
    """Whether a model directory (or a run directory holding ``best/``) is a translation model."""
    return model_family(path) == FAMILY


def load(path: str | Path, device: str = "cpu"):
    """A :class:`tagger.seq2seq.predict.Translator` for a translation model directory."""
    from .predict import Translator

    return Translator.load(path, device)
