"""A language-model recipe: ``family = "lm"``, the same kind of dataclass tree as the
tagger's and the tree family's (TOML, ``--set section.field=value``), with the
toolkit's own :class:`tagger.config.TrainConfig` as its ``[train]`` section.

``[model]`` is what a model directory stores (``lm.json``'s ``config``); ``[data]``
says where the text comes from and how it is cut into truncated-BPTT windows.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..config import TrainConfig, _build, raise_first_problem
from ..errors import TaggerError

FAMILY = "lm"
LEVELS = ("char", "word")
CELL_NAMES = ("rnn", "gru", "lstm")
TEXT_FORMATS = ("text", "conll2003", "conllu", "column")


@dataclass
class LMModelConfig:
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_stored(cls, raw: dict[str, Any], origin: str = "<lm config>") -> "LMModelConfig":
        """The model settings of a model directory. Directories written before LM recipes
        hold one flat config with the training settings too; those are set aside."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names - _OLD_TRAINING_KEYS)
        if unknown:
            raise TaggerError(f"unknown language-model setting '{unknown[0]}'", origin)
        cfg = _build(cls, {k: v for k, v in raw.items() if k in names}, origin, "model.")
        cfg.check(origin)
        return cfg

    def check(self, origin: str) -> None:
        problems = [
            (self.level not in LEVELS, "model.level", f"unknown level '{self.level}' (choose: {', '.join(LEVELS)})"),
            (self.cell not in CELL_NAMES, "model.cell", f"unknown cell '{self.cell}' (choose: {', '.join(CELL_NAMES)})"),
            *((getattr(self, n) < 1, f"model.{n}", f"'{n}' must be at least 1, got {getattr(self, n)}")
              for n in ("layers", "hidden", "embed_dim")),
            (not 0 <= self.dropout < 1, "model.dropout", f"'dropout' must be in [0, 1), got {self.dropout}"),
            (self.tie_weights and self.embed_dim != self.hidden, "model.tie_weights",
             f"tie_weights needs embed_dim == hidden (got {self.embed_dim} and {self.hidden})"),
        ]
        raise_first_problem(problems, origin)


_OLD_TRAINING_KEYS = {"bptt", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "lr_decay", "clip",
                      "max_epochs", "patience", "max_minutes", "eval_every", "valid_fraction", "seed", "threads", "device"}


@dataclass
class LMDataConfig:
    train: str | None = None  # a UTF-8 text file, a corpus file (see format), or a named source (its training words)
    valid: str | None = None  # held-out text; None: the last valid_fraction of train (a named source: its dev split)
    format: str = "text"  # text | conll2003 | conllu | column: how train and valid are read
    data_dir: str | None = None  # a named source's folder
    valid_fraction: float = 0.1
    bptt: int = 100  # unroll length: characters (or words) per truncated-BPTT window


def lm_train_defaults() -> TrainConfig:
    """What suits a language model: streams as batches, a quick plateau decay, tight clipping."""
    return TrainConfig(lr=2e-3, clip=1.0, batch_size=64, patience=3, schedule="plateau", schedule_patience=0,
                       lr_decay=0.5)


@dataclass
class LMRecipe:
    family: str = FAMILY
    name: str = "lm"
    description: str = ""
    data: LMDataConfig = field(default_factory=LMDataConfig)
    model: LMModelConfig = field(default_factory=LMModelConfig)
    train: TrainConfig = field(default_factory=lm_train_defaults)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str = "<recipe>") -> "LMRecipe":
        raw = dict(raw)
        if isinstance(raw.get("train", {}), dict):  # the LM's defaults under the recipe's own settings
            raw["train"] = dataclasses.asdict(lm_train_defaults()) | raw.get("train", {})
        recipe = _build(cls, raw, origin, "")
        recipe.check(origin)
        return recipe

    @classmethod
    def from_fields(cls, **fields: Any) -> "LMRecipe":
        """A recipe from flat keyword settings (``hidden=24, bptt=20, lr=1e-2``): each name
        goes to the section that has it (the table ``tagger lm train``'s options use)."""
        raw: dict[str, dict[str, Any]] = {}
        for name, value in fields.items():
            if name not in FIELD_SECTIONS:
                raise TaggerError(f"unknown language-model setting '{name}'")
            raw.setdefault(FIELD_SECTIONS[name], {})[name] = value
        return cls.from_dict(raw, "<settings>")

    def check(self, origin: str) -> None:
        """Values the types alone do not rule out, refused before any text is read."""
        self.model.check(origin)
        problems = [
            (self.family != FAMILY, "family", f"a language-model recipe has family = \"{FAMILY}\", got '{self.family}'"),
            (self.data.format not in TEXT_FORMATS, "data.format",
             f"unknown text format '{self.data.format}' (choose: {', '.join(TEXT_FORMATS)})"),
            (not 0 < self.data.valid_fraction < 1, "data.valid_fraction",
             f"'valid_fraction' must be in (0, 1), got {self.data.valid_fraction}"),
            *((getattr(section, n) < 1, f"{where}.{n}", f"'{n}' must be at least 1, got {getattr(section, n)}")
              for where, section, n in (("data", self.data, "bptt"), ("train", self.train, "batch_size"),
                                        ("train", self.train, "max_epochs"))),
            (not 0 <= self.train.average < 1, "train.average", "train.average (a decay) must be in [0, 1)"),
        ]
        raise_first_problem(problems, origin)


# Every field of the model, data and train sections by its plain name (names are unique across them).
FIELD_SECTIONS: dict[str, str] = {
    **{f.name: "model" for f in dataclasses.fields(LMModelConfig)},
    **{f.name: "data" for f in dataclasses.fields(LMDataConfig)},
    **{f.name: "train" for f in dataclasses.fields(TrainConfig)},
}
