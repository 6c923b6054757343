"""The recurrent language model and its directory (``lm.json`` + ``model.safetensors``)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor

from ..errors import TaggerError
from ..files import WEIGHTS_FILE, atomic_write, atomic_write_text, check_weights, read_json_object, read_weights, resolve_dir
from ..nn.lm import RecurrentLM, State  # noqa: F401  (State is re-exported: lm.train imports it from here)
from ..vocab import Vocab
from .config import LMModelConfig

LM_FORMAT_VERSION = 1
LM_FILE = "lm.json"


class LanguageModel(RecurrentLM):
    """A language model of the ``lm`` family: the network (:class:`tagger.nn.lm.RecurrentLM`)
    built from its recipe's ``[model]`` section, with that section (``cfg``), its
    vocabulary and its directory."""

    def __init__(self, cfg: LMModelConfig, vocab: Vocab):
        super().__init__(len(vocab), cfg.embed_dim, cfg.hidden, num_layers=cfg.layers, cell=cfg.cell,
                         dropout=cfg.dropout, tie_weights=cfg.tie_weights)
        self.cfg = cfg
        self.vocab = vocab

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        if self.cfg.tie_weights:
            weights.pop("out.weight")  # the same tensor as embed.weight; safetensors refuses shared storage
        atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(weights, tmp))
        atomic_write_text(directory / LM_FILE, json.dumps(self.describe(), ensure_ascii=False, indent=1))

    def describe(self) -> dict:
        return {"format_version": LM_FORMAT_VERSION, "kind": "language-model", "config": self.cfg.to_dict(),
                "vocab": self.vocab.itos}


def lm_from_parts(description: dict, weights: dict[str, Tensor], origin: str | Path = "<lm>") -> LanguageModel:
    origin = Path(origin)
    if description.get("format_version") != LM_FORMAT_VERSION or description.get("kind") != "language-model":
        raise TaggerError(f"not a language model (expected {LM_FILE} with format_version {LM_FORMAT_VERSION})", origin)
    try:
        cfg = LMModelConfig.from_stored(dict(description["config"]), str(origin))
        vocab = Vocab(list(description["vocab"]))
    except (KeyError, TypeError) as err:
        raise TaggerError(f"malformed language-model description ({err})", origin) from None
    model = LanguageModel(cfg, vocab)
    expected = model.state_dict()
    if cfg.tie_weights:
        expected.pop("out.weight")
    check_weights(expected, weights, LM_FILE, origin)
    model.load_state_dict(weights, strict=not cfg.tie_weights)
    return model.eval()


def load_lm(path: str | Path, device: str | torch.device = "cpu") -> LanguageModel:
    directory = resolve_dir(path, (LM_FILE,))
    description = read_json_object(directory / LM_FILE)
    weights = read_weights(directory / WEIGHTS_FILE)
    return lm_from_parts(description, weights, directory / LM_FILE).to(device).eval()
