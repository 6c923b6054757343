"""Training a tree model: the tree family's task (:class:`TreeSentiment`) driven by the
shared :class:`tagger.trainer.Trainer` (which keeps the moving average of the weights,
``train.average``, as for every family)."""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from ..checkpoint import CHECKPOINT_FILE, load_checkpoint
from ..device import resolve_device
from ..errors import TaggerError
from ..trainer import StepLoss, Trainer, TrainResult
from ..training import seed_everything
from ..vocab import Vocab
from .config import TreeRecipe
from .data import load_trees, read_sentences
from .model import TreeModel
from .modeldir import model_from_parts, model_parts, save_model
from .task import TreeSentiment, build_vocab, word_key


def build_model(recipe: TreeRecipe, train: list, console: Console) -> tuple[TreeModel, Vocab]:
    """A fresh model: the training words' vocabulary (plus the words of ``--vectors``)."""
    cfg = recipe.model
    vocab = build_vocab(train, cfg.lowercase, cfg.min_freq)
    init = None
    if cfg.vectors:
        from ..vectors import read_vectors

        words, matrix = read_vectors(cfg.vectors, cfg.vectors_max)
        vocab, init, coverage = _with_vectors(vocab, words, matrix, cfg.lowercase)
        cfg.word_dim = matrix.shape[1]
        console.log(f"vectors: {len(words):,} words of dim {cfg.word_dim}; {coverage:.1%} of training word types covered")
    model = TreeModel(cfg, len(vocab))
    if init is not None:
        model.embed.weight.data.copy_(init)
        model.embed.weight.requires_grad_(not cfg.freeze_vectors)
    return model, vocab


def _with_vectors(vocab: Vocab, words: list[str], matrix: torch.Tensor, lowercase: bool) -> tuple[Vocab, torch.Tensor, float]:
    """The vocabulary extended with the vectors' words, the initial embedding matrix
    (random rows for words without a vector) and the share of training words covered."""
    row_of: dict[str, int] = {}
    for i, w in enumerate(words):
        row_of.setdefault(word_key(w, lowercase), i)
    itos = vocab.itos + [k for k in row_of if k not in vocab]
    init = torch.empty(len(itos), matrix.shape[1]).uniform_(-0.1, 0.1)
    init[0] = 0.0
    found = 0
    for i, key in enumerate(itos[2:], 2):  # <pad> stays zero, <unk> random
        if key in row_of:
            init[i] = matrix[row_of[key]]
            found += i < len(vocab)
    return Vocab(itos), init, found / max(1, len(vocab) - 2)


def train_trees(recipe: TreeRecipe | None, output: str | Path, console: Console | None = None, *,
                resume: bool = False, checkpoint_every: int = 0, changes: dict | None = None) -> TrainResult:
    """Train into the run directory ``output`` (best model in ``output/best``). With
    ``resume=True`` everything (recipe, weights, optimiser, schedule, random state,
    batch order) comes from ``output/checkpoint.safetensors``; ``changes`` may set the
    ``train`` fields that do not change what is learnt (threads, device, max_minutes)."""
    console = console or Console(stderr=True)
    run_dir = Path(output)
    ckpt = load_checkpoint(run_dir / CHECKPOINT_FILE) if resume else None
    if ckpt is not None:
        recipe = TreeRecipe.from_dict(ckpt.config["recipe"], str(run_dir / CHECKPOINT_FILE))
        for name, value in (changes or {}).items():
            setattr(recipe.train, name, value)
        ckpt.config["recipe"] = recipe.to_dict()
    if recipe is None:
        raise TaggerError("give a recipe, or --resume RUN_DIR")
    if recipe.train.threads:
        torch.set_num_threads(recipe.train.threads)
    started = time.perf_counter()
    task = TreeTraining.build(recipe, ckpt, run_dir, console)
    trainer = Trainer(task, task.recipe.train, run_dir, console, checkpoint_every=checkpoint_every)
    return trainer.run(ckpt, setup_seconds=time.perf_counter() - started)


def _split_old_average(ckpt: Any) -> dict:
    """The model's weights of a checkpoint. One written while the tree family kept its own
    average holds ``model.*`` and ``average.*`` tensors: the average goes where the
    trainer now keeps it (``ckpt.average_weights``)."""
    weights = ckpt.model_weights
    if not any(k.startswith("average.") for k in weights):
        return weights
    if not ckpt.average_weights:
        ckpt.average_weights = {k[len("average."):]: v for k, v in weights.items() if k.startswith("average.")}
    return {k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")}


class TreeTraining:
    """The tree family's part of training for the shared trainer: :class:`TreeSentiment`'s
    batches, loss and dev scores."""

    unit = "trees"

    def __init__(self, recipe: TreeRecipe, sentiment: TreeSentiment):
        self.recipe, self.sentiment = recipe, sentiment
        self.model, self.vocab = sentiment.model, sentiment.vocab

    @classmethod
    def build(cls, recipe: TreeRecipe, ckpt: Any, run_dir: Path, console: Console) -> "TreeTraining":
        seed_everything(recipe.train.seed)
        corpus = load_trees(recipe.data, ("train", "valid"))
        if ckpt is None:
            model, vocab = build_model(recipe, corpus["train"], console)
        else:
            weights = _split_old_average(ckpt)
            model, recipe, vocab = model_from_parts(ckpt.config, ckpt.vocab_json, weights, run_dir / CHECKPOINT_FILE)
        model.to(resolve_device(recipe.train.device)).train()
        unlabelled = []
        if recipe.data.unlabelled and model.builds_trees:
            unlabelled = read_sentences(recipe.data.unlabelled, recipe.model.tokenizer, recipe.data.max_unlabelled)
        task = cls(recipe, TreeSentiment(recipe, model, vocab, corpus, unlabelled))
        nodes = sum(t.size for t in corpus["train"])
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        console.log(
            f"{recipe.name}: {recipe.model.composition} over {len(corpus['train']):,} training trees ({nodes:,} nodes), "
            f"{len(corpus['valid']):,} dev; {len(vocab):,} words; {params:,} parameters"
            + (f"; {len(unlabelled):,} unlabelled sentences" if unlabelled else "")
        )
        return task

    def steps_per_epoch(self) -> int:
        return (len(self.sentiment.data["train"]) + self.recipe.train.batch_size - 1) // self.recipe.train.batch_size

    def batches(self, rng: random.Random) -> list:
        return self.sentiment.batches("train", rng)

    def loss(self, batch: Any) -> StepLoss:
        trees = batch.level.num_trees
        return StepLoss(self.sentiment.loss(batch), trees, trees)

    def evaluate(self) -> tuple[dict, float]:
        report, score = self.sentiment.evaluate("valid")
        report.pop("confusion", None)
        return report, score

    def save(self, directory: Path) -> None:
        save_model(directory, self.model, self.recipe, self.vocab)

    def checkpoint_parts(self) -> tuple[dict, str]:
        config, vocab_json, _ = model_parts(self.model, self.recipe, self.vocab)
        return config, vocab_json

    def describe(self, report: dict) -> str:
        names = {"fine_root": "fine root", "binary_root": "bin root", "fine_all": "fine all", "binary_all": "bin all",
                 "fine_root_greedy": "fine root (own trees)", "binary_root_greedy": "bin root (own trees)"}
        return "  ".join(f"{label} {report[key] * 100:.2f}" for key, label in names.items() if key in report)

    def summary_columns(self, report: dict) -> dict[str, str]:
        columns = ["fine_root", "binary_root", "fine_all", "binary_all", "fine_root_greedy", "binary_root_greedy"]
        return {c.replace("_", " "): f"{report[c] * 100:.2f}" for c in columns if c in report}
