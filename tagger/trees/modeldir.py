"""A tree model directory: ``config.json`` (``"family": "tree"`` and the recipe),
``vocab.json`` (the words) and ``model.safetensors``; JSON and safetensors only."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes
from torch import Tensor

from ..errors import TaggerError
from ..files import (
    WEIGHTS_FILE,
    atomic_write,
    atomic_write_text,
    check_weights,
    read_json_object,
    read_weights,
    resolve_dir,
)
from ..vocab import Vocab
from .config import FAMILY, TreeRecipe
from .model import TreeModel

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
FORMAT_VERSION = 1


def model_parts(model: TreeModel, recipe: TreeRecipe, vocab: Vocab) -> tuple[dict, str, dict[str, Tensor]]:
    """The contents of the three files, also what a checkpoint stores."""
    config = {"family": FAMILY, "format_version": FORMAT_VERSION, "recipe": recipe.to_dict()}
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return config, json.dumps({"words": vocab.itos}, ensure_ascii=False), weights


def save_model(directory: Path, model: TreeModel, recipe: TreeRecipe, vocab: Vocab) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config, vocab_json, weights = model_parts(model, recipe, vocab)
    # Bytes written through the temporary file atomic_write sets to the usual mode
    # (0644 under umask 022); safetensors' save_file would make the file private (0600).
    data = safetensors_bytes(weights, metadata={"format": "pt"})
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: Path(tmp).write_bytes(data))
    atomic_write_text(directory / VOCAB_FILE, vocab_json)
    atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=2))
    return directory


def model_from_parts(config: dict, vocab_json: str, weights: dict[str, Tensor],
                     origin: Path) -> tuple[TreeModel, TreeRecipe, Vocab]:
    """The model, its recipe and vocabulary from the three files' contents, checked to agree."""
    if config.get("family") != FAMILY or config.get("format_version") != FORMAT_VERSION or "recipe" not in config:
        raise TaggerError(f"not a tree model of format {FORMAT_VERSION}", origin / CONFIG_FILE)
    recipe = TreeRecipe.from_dict(config["recipe"], str(origin / CONFIG_FILE))
    try:
        words = json.loads(vocab_json)["words"]
        if not all(isinstance(w, str) for w in words):
            raise TypeError("words must be strings")
        vocab = Vocab(words)
    except (KeyError, TypeError, ValueError) as err:
        raise TaggerError(f"malformed vocabulary ({err})", origin / VOCAB_FILE) from None
    model = TreeModel(recipe.model, len(vocab))
    check_weights(model.state_dict(), weights, "the model's config.json", origin / WEIGHTS_FILE)
    model.load_state_dict(weights)
    return model, recipe, vocab


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[TreeModel, TreeRecipe, Vocab]:
    directory = resolve_dir(path, (CONFIG_FILE, VOCAB_FILE))
    config = read_json_object(directory / CONFIG_FILE)
    vocab_json = (directory / VOCAB_FILE).read_text(encoding="utf-8")
    model, recipe, vocab = model_from_parts(config, vocab_json, read_weights(directory / WEIGHTS_FILE), directory)
    return model.to(device).eval(), recipe, vocab
