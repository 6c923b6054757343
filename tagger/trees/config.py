"""A tree recipe: a TOML file with ``family = "tree"`` that fills these dataclasses.

The ``[train]`` section is the toolkit's own :class:`tagger.config.TrainConfig`
(optimizer, schedule, batch size, early stopping, seed, threads, ...); ``monitor``
names the dev number that picks the best epoch (see :data:`MONITORS`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..config import TrainConfig, _build, apply_overrides, load_recipe_dict, raise_first_problem

FAMILY = "tree"
TREE_SOURCES = ("sst-trees",)
TRAIN_TREES = ("gold", "greedy", "both")
# Dev numbers that can pick the best epoch; "root" is the mean of fine_root and binary_root.
MONITORS = ("root", "fine_root", "binary_root", "fine_all", "binary_all", "fine_root_greedy", "binary_root_greedy")


@dataclass
class TreeDataConfig:
    source: str | None = "sst-trees"  # a named source; data.train/dev/test files, when given, replace it
    data_dir: str | None = None
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    # RAE: plain sentences (one a line, or a TSV with a 'sentence' column such as SST-2's
    # train.tsv) that train the autoencoder's reconstruction without labels.
    unlabelled: str | None = None
    max_unlabelled: int = 20_000


@dataclass
class TreeModelConfig:
    composition: str = "treelstm"  # rnn | rntn | treelstm | rae
    word_dim: int = 300
    dim: int = 150  # node vector size
    init_range: float = 0.1  # word vectors start uniform in [-init_range, init_range]
    min_freq: int = 1
    lowercase: bool = True
    vectors: str | None = None  # GloVe / word2vec / fastText text file
    vectors_max: int = 200_000
    freeze_vectors: bool = False
    embed_dropout: float = 0.5
    dropout: float = 0.5  # on node vectors before the classifiers
    word_dropout: float = 0.0  # probability of replacing a singleton training word by <unk>
    binary_head: bool = True  # a negative/positive classifier beside the 5-class one
    binary_weight: float = 1.0  # its share of the loss
    root_weight: float = 1.0  # the root's loss counts this many times a phrase's
    # The old place of train.average (the trainer's moving average of the weights, now for every
    # family): a recipe or model that sets it here has it moved to train.average on loading.
    average: float = 0.0
    tokenizer: str = "ptb"  # how plain text given to predict is split into words


@dataclass
class RAEConfig:
    alpha: float = 0.2  # weight of the reconstruction error against the sentiment loss
    train_trees: str = "both"  # gold parse trees, the model's own greedy trees, or both
    unlabelled_weight: float = 1.0  # the unlabelled sentences' reconstruction loss weight
    # > 0: per training tree, up to this many of its labelled phrases (two words or more, not
    # the whole sentence), drawn at random each step, are extra examples on the model's own
    # greedy trees (labelled where their spans match the parse tree's), as at prediction.
    phrases: int = 0
    batch_size: int = 128  # sentences per greedy tree-building batch at prediction
    # How the greedy tree builder scores a pair of neighbours from the two children's reconstruction
    # errors (e1, e2; spanning n1, n2 words): "weighted" n1/(n1+n2) e1 + n2/(n1+n2) e2 (Socher et
    # al. 2011; near-chain trees), "uniform" (e1 + e2)/2, "balanced" (n1 e1 + n2 e2)/2, which merges
    # small nodes first. SST dev binary root on the own trees, 3 seeds (sst-trees-rae): weighted
    # 81.27 (alpha 0.05), uniform (in the loss too) 82.15, balanced 82.87 (trees_rae_sweep.json).
    merge: str = "weighted"
    # The same choice for the reconstruction term of the training loss; Socher's "weighted" is the
    # one to keep: "balanced" here lets long sentences' errors swamp the loss (77.87, one seed).
    merge_loss: str = "weighted"


@dataclass
class TreeRecipe:
    family: str = FAMILY
    name: str = "tree"
    description: str = ""
    data: TreeDataConfig = field(default_factory=TreeDataConfig)
    model: TreeModelConfig = field(default_factory=TreeModelConfig)
    rae: RAEConfig = field(default_factory=RAEConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(monitor="root", fused=True))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str = "<recipe>") -> TreeRecipe:
        raw = dict(raw)
        raw.setdefault("train", {})
        if isinstance(raw["train"], dict):
            raw["train"] = {"monitor": "root", "fused": True, **raw["train"]}
        recipe = _build(cls, raw, origin, "")
        if 0 < recipe.model.average < 1 and not recipe.train.average:
            recipe.train.average, recipe.model.average = recipe.model.average, 0.0
        recipe.check(origin)
        return recipe

    def check(self, origin: str) -> None:
        """Values the types alone do not rule out, refused before any data is read."""
        from .compose import COMPOSITIONS, MERGES

        problems = [
            (self.family != FAMILY, "family", f"a tree recipe has family = \"{FAMILY}\", got '{self.family}'"),
            (self.model.composition not in COMPOSITIONS, "model.composition",
             f"unknown composition '{self.model.composition}' (choose: {', '.join(COMPOSITIONS)})"),
            (self.rae.train_trees not in TRAIN_TREES, "rae.train_trees",
             f"rae.train_trees must be one of {', '.join(TRAIN_TREES)}"),
            (self.train.monitor not in MONITORS, "train.monitor",
             f"unknown monitor '{self.train.monitor}' (choose: {', '.join(MONITORS)})"),
            (self.data.source not in (None, "", *TREE_SOURCES), "data.source",
             (f"unknown tree source '{self.data.source}' (choose: {', '.join(TREE_SOURCES)}, or data.source = "
              "\"\" with data.train and data.dev files)")),
            (self.model.dim < 1 or self.model.word_dim < 1, "model.dim", "model.dim and model.word_dim must be positive"),
            (not 0 <= self.model.dropout < 1 or not 0 <= self.model.embed_dropout < 1, "model.dropout",
             "dropout rates must be in [0, 1)"),
            (not 0 <= self.model.average < 1, "model.average", "model.average (a decay) must be in [0, 1)"),
            (not 0 <= self.train.average < 1, "train.average", "train.average (a decay) must be in [0, 1)"),
            (self.rae.phrases < 0, "rae.phrases", "rae.phrases must be 0 or more"),
            (self.rae.merge not in MERGES, "rae.merge",
             f"unknown rae.merge '{self.rae.merge}' (choose: {', '.join(MERGES)})"),
            (self.rae.merge_loss not in MERGES, "rae.merge_loss",
             f"unknown rae.merge_loss '{self.rae.merge_loss}' (choose: {', '.join(MERGES)})"),
        ]
        raise_first_problem(problems, origin)


def load_tree_recipe(name_or_path: str, overrides: list[str] | None = None) -> TreeRecipe:
    """A named recipe or a TOML file, with ``--set`` overrides applied; a mistake in
    the file itself is reported with its line."""
    raw, origin = load_recipe_dict(name_or_path, TreeRecipe)
    return TreeRecipe.from_dict(apply_overrides(raw, overrides or []), origin)
