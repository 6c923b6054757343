"""Sequence-to-sequence translation with attention: a bidirectional RNN encoder, an RNN
decoder with ``none`` / ``bahdanau`` / ``luong`` / ``dot`` attention, subword
vocabularies, greedy and batched beam search (``family = "seq2seq"`` recipes; the
``multi30k`` recipe translates German to English).

This module is imported by the CLI's dispatch hooks, so it stays light: the checks
below read a TOML file, a JSON file or a safetensors header, and import no torch.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import tomllib

FAMILY = "seq2seq"


def is_seq2seq_recipe(name_or_path: str | None) -> bool:
    """Whether a recipe name or TOML file is a translation recipe (``family = "seq2seq"``)."""
    if not name_or_path:
        return False
    from .config import recipe_path

    path = recipe_path(name_or_path)
    try:
        return path is not None and tomllib.loads(path.read_text(encoding="utf-8")).get("family") == FAMILY
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def is_seq2seq_run(run_dir: str | Path | None) -> bool:
    """Whether a run directory's checkpoint holds a translation model (read from the
    safetensors header alone: eight bytes of length, then JSON)."""
    if run_dir is None:
        return False
    path = Path(run_dir) / "checkpoint.safetensors"
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(min(length, 100_000_000)))
        return json.loads(header["__metadata__"]["config"]).get("family") == FAMILY
    except (OSError, struct.error, ValueError, KeyError, TypeError, AttributeError):
        return False


def is_seq2seq_model(path: str | Path) -> bool:
    """Whether a model directory (or a run directory holding ``best/``) is a translation model."""
    path = Path(path)
    for config in (path / "config.json", path / "best" / "config.json"):
        if config.is_file():
            try:
                return json.loads(config.read_text(encoding="utf-8")).get("family") == FAMILY
            except (OSError, UnicodeDecodeError, ValueError, AttributeError):
                return False
    return False


def load(path: str | Path, device: str = "cpu"):
    """A :class:`tagger.seq2seq.predict.Translator` for a translation model directory."""
    from .predict import Translator

    return Translator.load(path, device)
