"""Training a translation model: the family's task driven by the shared trainer."""
from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from ..checkpoint import CHECKPOINT_FILE, load_checkpoint
from ..device import resolve_device, set_threads
from ..distributed import Dist, check_same
from ..distributed import setup as setup_distributed
from ..errors import TaggerError
from ..trainer import Trainer, TrainResult
from ..training import seed_everything
from .config import Seq2SeqRecipe
from .data import load_parallel
from .model import Seq2Seq
from .modeldir import model_from_parts
from .task import Translation, build_vocabs


def build_task(recipe: Seq2SeqRecipe, console: Console, ckpt: Any = None, origin: Path | None = None,
               dist: Dist | None = None) -> Translation:
    """Data, vocabularies (learned on the training split, or the checkpoint's) and the model."""
    dist = dist if dist is not None else Dist(device=resolve_device(recipe.train.device))
    data = load_parallel(recipe.data, ("train", "valid"))
    if ckpt is None:
        src_vocab, tgt_vocab = build_vocabs(recipe, data["train"])
        model = Seq2Seq(recipe.model, len(src_vocab), len(tgt_vocab))
    else:
        model, recipe, src_vocab, tgt_vocab = model_from_parts(ckpt.config, ckpt.vocab_json, ckpt.model_weights,
                                                               origin or Path("."))
    model.to(dist.device)
    task = Translation(recipe, model, src_vocab, tgt_vocab, data, dist)
    check_same(dist, "vocabularies", task.checkpoint_parts()[1])
    train, valid, d = data["train"], data["valid"], recipe.data
    skipped = f"; {train.skipped:,} pairs with an empty side skipped" if train.skipped else ""
    dropped = f"; {task.dropped:,} pairs over {d.max_train_tokens} subwords left out" if task.dropped else ""
    shared = "shared" if src_vocab is tgt_vocab else f"{len(src_vocab):,} + {len(tgt_vocab):,}"
    console.log(f"{recipe.name}: {d.source_lang}->{d.target_lang}, {len(task.pairs):,} training pairs, {len(valid):,} "
                f"validation{skipped}{dropped}; {recipe.vocab.kind} vocabulary {shared}; {recipe.model.cell} "
                f"attention={recipe.model.attention}; {sum(p.numel() for p in model.parameters()):,} parameters")
    return task


def train_seq2seq(recipe: Seq2SeqRecipe | None, output: str | Path, console: Console | None = None, *,
                  resume: bool = False, checkpoint_every: int = 0, changes: dict | None = None) -> TrainResult:
    """Train into the run directory ``output`` (the best model, by validation BLEU, in
    ``output/best``). With ``resume=True`` everything comes from the run's checkpoint;
    ``changes`` may set the ``train`` fields that do not change what is learnt."""
    console = console or Console(stderr=True)
    run_dir = Path(output)
    ckpt = load_checkpoint(run_dir / CHECKPOINT_FILE) if resume else None
    if ckpt is not None:
        recipe = Seq2SeqRecipe.from_dict(ckpt.config["recipe"], str(run_dir / CHECKPOINT_FILE))
        for name, value in (changes or {}).items():
            setattr(recipe.train, name, value)
        ckpt.config["recipe"] = recipe.to_dict()
    if recipe is None:
        raise TaggerError("give a recipe, or --resume RUN_DIR")
    set_threads(recipe.train.threads)
    dist = setup_distributed(recipe.train.device)
    try:
        if not dist.main:  # rank 0 speaks for all
            console = Console(file=io.StringIO(), stderr=True)
        started = time.perf_counter()
        seed_everything(recipe.train.seed)
        task = build_task(recipe, console, ckpt, run_dir / CHECKPOINT_FILE, dist)
        if dist.enabled:
            console.log(f"distributed: {dist.world} processes ({dist.backend}); each batch is {dist.world} times "
                        "the recipe's, shared out; lr as set (not scaled with the number of processes)")
        trainer = Trainer(task, task.recipe.train, run_dir, console, checkpoint_every=checkpoint_every, dist=dist)
        return trainer.run(ckpt, setup_seconds=time.perf_counter() - started)
    finally:
        dist.close()
