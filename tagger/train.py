"""Training the sequence tagger and the sentence classifier: the family's task for
the shared :class:`tagger.trainer.Trainer` (batches, loss with word dropout, dev
decoding and scoring), and building or resuming its model."""
from __future__ import annotations

import io
import os
import random
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from .batching import Batch, build_vocabs, eval_batches, singleton_mask, train_batches
from .checkpoint import CHECKPOINT_FILE, load_checkpoint
from .config import Recipe, is_sentence_head
from .corpus import load_corpus
from .data import describe_schemes, document_spans
from .device import set_threads
from .distill import attach_teacher_targets
from .distributed import Dist, check_same, split, unsplit
from .distributed import setup as setup_distributed
from .errors import TaggerError
from .model import (
    SequenceTagger,
    load_charlms,
    model_from_parts,
    model_parts,
)
from .predict import consistency_modes, consistent, decode_corpus, encode_sentences, main_score, score
from .recipe_check import check_recipe
from .trainer import StepLoss, Trainer, TrainResult
from .training import seed_everything
from .vectors import extend_with_vectors, read_vectors
from .vocab import UNK


def build_model(recipe: Recipe, corpus: dict, console: Console) -> tuple[SequenceTagger, torch.Tensor]:
    vocabs = build_vocabs(corpus["train"], recipe.heads, recipe.embed, [corpus["valid"]])
    vectors_init = None
    if recipe.embed.vectors:
        words, matrix = read_vectors(recipe.embed.vectors, recipe.embed.vectors_max)
        vocabs, vectors_init, coverage = extend_with_vectors(vocabs, words, matrix)
        recipe.embed.word_dim = matrix.shape[1]
        console.log(f"vectors: {len(words):,} words of dim {matrix.shape[1]}; {coverage:.1%} of training word types covered")
    charlms = load_charlms(recipe.embed.charlm) if recipe.embed.charlm else {}
    for direction, lm in charlms.items():
        console.log(f"char LM ({direction}): {lm.cfg.layers}x{lm.cfg.hidden} {lm.cfg.cell}")
    vocabs.charlm = {d: lm.describe() for d, lm in charlms.items()}
    model = SequenceTagger(recipe, vocabs)
    for direction, lm in charlms.items():
        model.embedder.charlm.lms[direction].load_state_dict(lm.state_dict())
    if vectors_init is not None:
        model.embedder.word.weight.data.copy_(vectors_init)
        model.embedder.word.weight.requires_grad_(not recipe.embed.freeze_vectors)
    return model, singleton_mask(corpus["train"], vocabs)


def cache_charlm_features(model: SequenceTagger, data: list, batch_size: int, device: torch.device) -> None:
    """Frozen char LMs give every sentence the same features in every epoch: compute them
    once (half precision, to halve the memory) instead of once per epoch."""
    with torch.inference_mode():
        model.eval()
        for batch in eval_batches(data, batch_size):
            feats = model.charlm_features(batch.to(device)).to("cpu", torch.float16)
            for row, i in enumerate(batch.index):
                data[i].lm_feats = feats[row, : len(data[i])].clone()


def train(
    recipe: Recipe | None,
    output: str | Path,
    console: Console | None = None,
    *,
    resume: bool = False,
    checkpoint_every: int = 0,
    changes: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``recipe`` into the run directory ``output`` (best model in ``output/best``).

    With ``resume=True`` the recipe, weights, optimiser, schedule, random state and
    batch order come from ``output/checkpoint.safetensors`` and the run continues
    where it stopped; on a CPU it ends exactly as an uninterrupted run would.
    ``changes`` sets ``train`` fields that only say how the run goes on (threads,
    device, max_minutes).

    Started by ``torchrun`` (``WORLD_SIZE`` > 1), each process trains on its share of
    every batch with DistributedDataParallel (see :mod:`tagger.distributed`):
    ``train.batch_size`` is per process, so a step sees ``batch_size * WORLD_SIZE``
    sentences. Only rank 0 logs, shows progress and writes files.
    """
    console = console or Console(stderr=True)
    run_dir = Path(output)
    ckpt_path = run_dir / CHECKPOINT_FILE
    ckpt = load_checkpoint(ckpt_path) if resume else None
    if ckpt is not None:
        recipe = Recipe.from_dict(ckpt.config["recipe"], str(ckpt_path))
        for name, value in (changes or {}).items():
            console.log(f"resuming with train.{name} = {value} (was {getattr(recipe.train, name)})")
            setattr(recipe.train, name, value)
    if recipe is None:
        raise TaggerError("give a recipe, or --resume RUN_DIR")
    check_recipe(recipe)  # before any data is read or any file written
    cfg = recipe.train
    set_threads(cfg.threads)
    if recipe.embed.charlm_recipe and ckpt is None:  # a resumed run's recipe names them already
        from .lm.cache import ensure_charlms

        distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        recipe.embed.charlm = ensure_charlms(recipe.embed.charlm_recipe, console, threads=cfg.threads,
                                             data_dir=recipe.data.data_dir, distributed=distributed)
    dist = setup_distributed(cfg.device)
    try:
        return _train(recipe, run_dir, console, ckpt, checkpoint_every, dist)
    finally:
        dist.close()


class TaggerTask:
    """The tagger family's part of training: length-bucketed batches (a share of each
    on every DDP process), the heads' loss with word dropout, dev decoded by every
    process and scored on rank 0."""

    unit = "tok"

    def __init__(self, recipe: Recipe, model: SequenceTagger, corpus: dict, singletons: torch.Tensor, dist: Dist):
        self.recipe, self.model, self.corpus, self.dist = recipe, model, corpus, dist
        self.train_data = encode_sentences(corpus["train"], model)
        self.dev_data = encode_sentences(corpus["valid"], model)
        self.global_batch = recipe.train.batch_size * dist.world
        self.singletons = singletons
        self.unk_id = model.vocabs.words.id(UNK)
        # task -> [labels] bool: which labels of each span task lie inside an entity (B-, I-)
        self.entity_labels = {
            h.task: torch.tensor([label[:2] in ("B-", "I-") for label in model.vocabs.labels[h.task].itos])
            for h in recipe.heads if h.span and not is_sentence_head(h)
        }
        self.net: torch.nn.Module | None = None  # the model (DDP-wrapped on several processes), set by prepare()

    def prepare(self, console: Console) -> None:
        """Move to the device, compute frozen char-LM features once, wrap for DDP."""
        model, cfg, device = self.model, self.recipe.train, self.dist.device
        model.to(device)
        if model.embedder.charlm is not None and not self.recipe.embed.charlm_finetune:
            cache_charlm_features(model, self.train_data, cfg.eval_batch_size, device)
            cache_charlm_features(model, self.dev_data, cfg.eval_batch_size, device)
            console.log(f"char-LM features of {len(self.train_data) + len(self.dev_data):,} sentences computed once (frozen LMs)")
        if self.recipe.distill.teacher:
            attach_teacher_targets(model, self.train_data, self.corpus["train"], device, cfg.eval_batch_size, console)
        self.singletons = self.singletons.to(device)
        if self.recipe.embed.vectors and self.recipe.embed.freeze_vectors:
            model.embedder.word.weight.requires_grad_(False)
        self.net = self.dist.wrap(model)

    def steps_per_epoch(self) -> int:
        return (len(self.train_data) + self.global_batch - 1) // self.global_batch

    def batches(self, rng: random.Random) -> list:
        # Every process builds the same global batches and trains on its share of each.
        return train_batches(self.train_data, self.global_batch, rng)

    def loss(self, batch: Any) -> StepLoss:
        batch, weight = self.dist.shard(batch, self.train_data)
        batch = batch.to(self.dist.device)
        batch.words = self.drop_words(batch)
        loss = self.net(batch)
        return StepLoss(loss, len(batch.index) if weight > 0 else 0, batch.num_tokens, weight)

    def drop_words(self, batch: Batch) -> torch.Tensor:
        """The batch's word ids with some made <unk>, as unseen words will be: singleton
        training words (``embed.word_dropout``) and words inside gold entities
        (``embed.entity_dropout``), each with its own probability."""
        embed, words = self.recipe.embed, batch.words
        if not (embed.word_dropout > 0 or embed.entity_dropout > 0):
            return words
        drop = torch.zeros_like(words, dtype=torch.bool)
        if embed.word_dropout > 0:
            drop |= self.singletons[words] & (torch.rand(words.shape, device=words.device) < embed.word_dropout)
        if embed.entity_dropout > 0:
            drop |= entity_words(batch, self.entity_labels) & (torch.rand(words.shape, device=words.device) < embed.entity_dropout)
        return words.masked_fill(drop, self.unk_id)

    def evaluate(self) -> tuple[dict | None, float | None]:
        # Each process decodes its share of the dev set; rank 0 scores the whole.
        shares = self.dist.gather(decode_corpus(self.model, split(self.dev_data, self.dist), self.recipe.train.eval_batch_size))
        if not self.dist.main:
            return None, None
        dev = self.corpus["valid"]
        labels = consistent(unsplit(shares, len(self.dev_data)), [s.words for s in dev], [s.doc for s in dev],
                            consistency_modes(self.recipe))
        report = score(dev, labels, self.model)
        return report, main_score(report, self.recipe.train.monitor)

    def save(self, directory: Path) -> None:
        self.model.save(directory)

    def checkpoint_parts(self) -> tuple[dict, str]:
        config, vocab_json, _ = model_parts(self.model)
        return config, vocab_json

    def describe(self, report: dict) -> str:
        return f"dev {main_score(report, self.recipe.train.monitor):.4f}"

    def summary_columns(self, report: dict) -> dict[str, str]:
        first = next(iter(report.values()))
        if first.get("level") == "sentence":  # a classifier: macro (or, multi-label, micro) P/R
            first = first["micro avg" if first.get("multi_label") else "macro avg"]
        return {"dev P": f"{first.get('precision', float('nan')) * 100:.2f}",
                "dev R": f"{first.get('recall', float('nan')) * 100:.2f}"}


def entity_words(batch: Batch, entity_labels: dict[str, torch.Tensor]) -> torch.Tensor:
    """[B, T] bool: the input words inside a gold entity of any span task. With document
    context the labels cover only each row's own words, which start at its offset."""
    inside = None
    for task, is_entity in entity_labels.items():
        if task in batch.labels:
            hit = is_entity.to(batch.words.device)[batch.labels[task]] & batch.head_mask
            inside = hit if inside is None else inside | hit
    if inside is None:
        return torch.zeros_like(batch.words, dtype=torch.bool)
    if batch.offsets is None:
        return inside
    width = batch.words.shape[1]
    positions = (batch.offsets.to(inside.device)[:, None] + torch.arange(inside.shape[1], device=inside.device)).clamp(max=width - 1)
    counts = torch.zeros(batch.words.shape, dtype=torch.long, device=inside.device).scatter_add_(1, positions, inside.long())
    return counts > 0


def _train(recipe: Recipe, run_dir: Path, console: Console, ckpt: Any, checkpoint_every: int, dist: Dist) -> TrainResult:
    if not dist.main:  # rank 0 speaks for all
        console = Console(file=io.StringIO(), stderr=True)
    seed_everything(recipe.train.seed)
    started = time.perf_counter()
    corpus = load_corpus(recipe.data, recipe.heads, ("train", "valid"))
    for line in describe_schemes(corpus):
        console.log(line)
    if ckpt is None:
        model, singletons = build_model(recipe, corpus, console)
    else:
        model = model_from_parts(ckpt.config, ckpt.vocab_json, ckpt.model_weights, run_dir / CHECKPOINT_FILE).train()
        singletons = singleton_mask(corpus["train"], model.vocabs)
    check_same(dist, "vocabularies", model.vocabs.to_json())
    task = TaggerTask(recipe, model, corpus, singletons, dist)
    n_tokens = sum(len(e) for e in task.train_data)
    console.log(
        f"{recipe.name}: {len(task.train_data):,} training sentences ({n_tokens:,} tokens), "
        f"{len(task.dev_data):,} dev; {sum(p.numel() for p in model.parameters()):,} parameters; device {dist.device}"
    )
    if dist.enabled:
        console.log(
            f"distributed: {dist.world} processes ({dist.backend}); batch {recipe.train.batch_size} sentences per "
            f"process, effective batch {task.global_batch} sentences per step; lr {recipe.train.lr:.2e} as set "
            "(not scaled with the number of processes)"
        )
    if recipe.data.context_tokens or (model.vocabs.charlm and recipe.embed.charlm_context):
        docs = len(document_spans([s.doc for s in corpus["train"]]))
        console.log(f"document context: {recipe.data.context_tokens} words each side (char LMs: "
                    f"{recipe.embed.charlm_context} more); {docs:,} training documents")
    task.prepare(console)
    trainer = Trainer(task, recipe.train, run_dir, console, checkpoint_every=checkpoint_every, dist=dist)
    return trainer.run(ckpt, setup_seconds=time.perf_counter() - started)
