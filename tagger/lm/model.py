"""The recurrent language model and its directory (``lm.json`` + ``model.safetensors``)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from ..errors import TaggerError
from ..files import WEIGHTS_FILE, atomic_write, atomic_write_text, check_weights, read_json_object, read_weights, resolve_dir
from ..nn.encode import CELLS
from ..vocab import Vocab
from .config import LMModelConfig

LM_FORMAT_VERSION = 1
LM_FILE = "lm.json"

State = list  # one entry per layer: h, or (h, c) for an LSTM


class LanguageModel(nn.Module):
    """Embedding -> stacked single-direction RNN layers -> a softmax over the vocabulary.

    The layers are kept separate (not one multi-layer ``nn.LSTM``) so each layer's
    states can be read: the tagger reads the top layer, ``lm inspect`` any layer.
    """

    def __init__(self, cfg: LMModelConfig, vocab: Vocab):
        super().__init__()
        self.cfg = cfg
        self.vocab = vocab
        self.embed = nn.Embedding(len(vocab), cfg.embed_dim)
        cell = CELLS[cfg.cell]
        dims = [cfg.embed_dim] + [cfg.hidden] * cfg.layers
        self.layers = nn.ModuleList(cell(dims[i], dims[i + 1], batch_first=True) for i in range(cfg.layers))
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden, len(vocab))
        if cfg.tie_weights:
            self.out.weight = self.embed.weight

    @property
    def hidden_dim(self) -> int:
        return self.cfg.hidden

    def run(self, ids: Tensor, state: State | None = None) -> tuple[list[Tensor], State]:
        """Every layer's outputs [B, T, H] for ids [B, T], and the state after the last step."""
        x = self.drop(self.embed(ids))
        outputs, new_state = [], []
        for i, layer in enumerate(self.layers):
            x, s = layer(x, None if state is None else state[i])
            outputs.append(x)
            new_state.append(s)
            x = self.drop(x)
        return outputs, new_state

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Next-symbol logits [B, T, V] and the carried state."""
        outputs, state = self.run(ids, state)
        return self.out(self.drop(outputs[-1])), state

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
