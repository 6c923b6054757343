"""The typed configuration of a language model and its training run."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import TaggerError

LEVELS = ("char", "word")


@dataclass
class LMConfig:
    level: str = "char"  # char | word
    cell: str = "lstm"  # rnn | gru | lstm
    layers: int = 1
    hidden: int = 512
    embed_dim: int = 64  # a char LM needs little; a word LM wants 200-650
    dropout: float = 0.2  # on the embeddings, between layers and before the output layer
    tie_weights: bool = False  # share the input embedding with the output layer (needs embed_dim == hidden)
    reverse: bool = False  # a backward LM: reads (and generates) the text right to left
    # Vocabulary (word level): drop words seen fewer than min_freq times, keep at most max_vocab.
    min_freq: int = 1
    max_vocab: int = 50_000
    lowercase: bool = False
    # Training
    bptt: int = 100  # unroll length: characters (or words) per truncated-BPTT window
    batch_size: int = 64  # parallel streams the text is cut into; state carries across windows
    optimizer: str = "adam"
    lr: float = 2e-3
    momentum: float = 0.9  # sgd
    weight_decay: float = 0.0
    lr_decay: float = 0.5  # on a validation plateau
    clip: float = 1.0  # gradient-norm clipping
    max_epochs: int = 50
    patience: int = 3  # stop after this many validations without improvement
    max_minutes: float | None = None
    eval_every: int = 0  # validate every N steps as well as each epoch end (0: epoch ends only)
    valid_fraction: float = 0.1  # held out from the end of the text when no --valid file is given
    seed: int = 1
    threads: int | None = None
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str = "<lm config>") -> "LMConfig":
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(names))
        if unknown:
            raise TaggerError(f"unknown language-model setting '{unknown[0]}'", origin)
        cfg = cls(**raw)
        cfg.validate(origin)
        return cfg

    def validate(self, origin: str = "<lm config>") -> None:
        if self.level not in LEVELS:
            raise TaggerError(f"unknown level '{self.level}' (choose: {', '.join(LEVELS)})", origin)
        if self.cell not in ("rnn", "gru", "lstm"):
            raise TaggerError(f"unknown cell '{self.cell}' (choose: rnn, gru, lstm)", origin)
        for name in ("layers", "hidden", "embed_dim", "bptt", "batch_size", "max_epochs"):
            if getattr(self, name) < 1:
                raise TaggerError(f"'{name}' must be at least 1, got {getattr(self, name)}", origin)
        if not 0 <= self.dropout < 1:
            raise TaggerError(f"'dropout' must be in [0, 1), got {self.dropout}", origin)
        if not 0 < self.valid_fraction < 1:
            raise TaggerError(f"'valid_fraction' must be in (0, 1), got {self.valid_fraction}", origin)
        if self.tie_weights and self.embed_dim != self.hidden:
            raise TaggerError(
                f"tie_weights needs embed_dim == hidden (got {self.embed_dim} and {self.hidden})", origin
            )
