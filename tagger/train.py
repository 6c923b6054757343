"""The training loop: optimiser, schedule, clipping, early stopping, best model kept."""
from __future__ import annotations

import io
import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .batching import build_vocabs, encode, eval_batches, singleton_mask, train_batches
from .checkpoint import CHECKPOINT_FILE, LoopState, load_checkpoint, save_checkpoint
from .config import Recipe
from .corpus import load_corpus
from .data import describe_schemes
from .device import set_threads
from .distributed import Dist, check_same, split, unsplit
from .distributed import setup as setup_distributed
from .errors import TaggerError
from .model import (
    SequenceTagger,
    atomic_write_text,
    load_charlms,
    model_from_parts,
    model_parts,
)
from .plots import plot_training
from .predict import decode_corpus, main_score, score
from .recipe_check import check_recipe
from .training import OPTIMIZERS, Schedule, StopOnSignal, seed_everything
from .vectors import extend_with_vectors, read_vectors
from .vocab import UNK


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    dev_score: float
    dev: dict
    lr: float
    seconds: float
    tokens_per_second: float
    elapsed: float


@dataclass
class TrainResult:
    model_dir: Path
    best_epoch: int
    best_score: float
    best_dev: dict
    epochs: list[EpochRecord]
    seconds: float
    stopped_because: str
    model: SequenceTagger | None = None  # the network as training left it (the best weights are in model_dir)


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
    dist = setup_distributed(cfg.device)
    try:
        return _train(recipe, run_dir, console, ckpt, checkpoint_every, dist)
    finally:
        dist.close()


def _train(  # noqa: C901  (the tagger's loop; to become the shared Trainer, #13)
    recipe: Recipe, run_dir: Path, console: Console, ckpt: Any, checkpoint_every: int, dist: Dist
) -> TrainResult:
    cfg = recipe.train
    best_dir = run_dir / "best"
    ckpt_path = run_dir / CHECKPOINT_FILE
    device = dist.device
    if not dist.main:  # rank 0 speaks for all
        console = Console(file=io.StringIO(), stderr=True)
    seed_everything(cfg.seed)

    started = time.perf_counter()
    corpus = load_corpus(recipe.data, recipe.heads, ("train", "valid"))
    for line in describe_schemes(corpus):
        console.log(line)
    if ckpt is None:
        model, singletons = build_model(recipe, corpus, console)
    else:
        model = model_from_parts(ckpt.config, ckpt.vocab_json, ckpt.model_weights, ckpt_path).train()
        singletons = singleton_mask(corpus["train"], model.vocabs)
    check_same(dist, "vocabularies", model.vocabs.to_json())
    train_data = [encode(s, model.vocabs) for s in corpus["train"]]
    dev_data = [encode(s, model.vocabs) for s in corpus["valid"]]
    n_tokens = sum(len(e) for e in train_data)
    console.log(
        f"{recipe.name}: {len(train_data):,} training sentences ({n_tokens:,} tokens), "
        f"{len(dev_data):,} dev; {sum(p.numel() for p in model.parameters()):,} parameters; device {device}"
    )
    global_batch = cfg.batch_size * dist.world
    if dist.enabled:
        console.log(
            f"distributed: {dist.world} processes ({dist.backend}); batch {cfg.batch_size} sentences per process, "
            f"effective batch {global_batch} sentences per step; lr {cfg.lr:.2e} as set (not scaled with the "
            "number of processes)"
        )
    model.to(device)
    if model.embedder.charlm is not None and not recipe.embed.charlm_finetune:
        cache_charlm_features(model, train_data, cfg.eval_batch_size, device)
        cache_charlm_features(model, dev_data, cfg.eval_batch_size, device)
        console.log(f"char-LM features of {len(train_data) + len(dev_data):,} sentences computed once (frozen LMs)")
    singletons = singletons.to(device)
    unk_id = model.vocabs.words.id(UNK)
    if recipe.embed.vectors and recipe.embed.freeze_vectors:
        model.embedder.word.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer not in OPTIMIZERS:
        raise TaggerError(f"unknown optimizer '{cfg.optimizer}' (choose: {', '.join(OPTIMIZERS)})")
    optimizer = OPTIMIZERS[cfg.optimizer](params, cfg)
    steps = (len(train_data) + global_batch - 1) // global_batch
    schedule = Schedule(optimizer, cfg, steps)
    rng = random.Random(cfg.seed)
    loop = LoopState(epoch_rng=rng.getstate(), world_size=dist.world)
    if ckpt is not None:
        optimizer.load_state_dict(ckpt.optimizer_state)
        schedule.load_state_dict(ckpt.schedule_state)
        torch.set_rng_state(ckpt.torch_rng)
        loop = ckpt.loop
        if loop.step and loop.world_size != dist.world:
            raise TaggerError(
                f"this checkpoint was written in the middle of an epoch by {loop.world_size} training "
                f"process(es); resume it with {loop.world_size} (the batches of the epoch depend on it)",
                ckpt_path,
            )
        console.log(f"resuming {run_dir} at epoch {loop.epoch}, batch {loop.step}")
        if dist.enabled and not dist.main:
            # Rank 0's counters hold the whole epoch so far (see checkpoint()); the others start from 0.
            loop.total_loss, loop.seen_tokens, loop.seen_sentences = 0.0, 0, 0
        loop.world_size = dist.world
    else:
        loop.elapsed = time.perf_counter() - started  # data loading and setup count toward the budget
    if dist.enabled and dist.rank:
        # Dropout and word dropout draw other masks on each process (rank 0 keeps the
        # stream a single process would use); the weights are the same everywhere (DDP
        # copies rank 0's when it wraps the model).
        torch.manual_seed(cfg.seed + 1_000_003 * dist.rank + 1_009 * loop.epoch + loop.step)
    net = dist.wrap(model)
    records = [EpochRecord(**r) for r in loop.records]
    if dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)

    def checkpoint() -> None:
        # Called by every process at the same point; only rank 0 writes, with the
        # epoch's running totals summed over the processes.
        totals = dist.sum([loop.total_loss, loop.seen_tokens, loop.seen_sentences])
        if not dist.main:
            return
        loop.records = [asdict(r) for r in records]
        mine = loop.total_loss, loop.seen_tokens, loop.seen_sentences
        loop.total_loss, loop.seen_tokens, loop.seen_sentences = totals[0], int(totals[1]), int(totals[2])
        config, vocab_json, _ = model_parts(model)
        try:
            save_checkpoint(ckpt_path, config=config, vocab_json=vocab_json, model=model, optimizer=optimizer,
                            schedule_state=schedule.state_dict(), loop=loop)
        finally:
            loop.total_loss, loop.seen_tokens, loop.seen_sentences = mine

    stopped = "max_epochs"
    progress = Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("{task.fields[tps]:,.0f} tok/s"),
        TextColumn("dev {task.fields[dev]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not dist.main,
    )
    # ``stopping`` is the stop request as all processes agree on it: each checks its own
    # signal flag only at the same points (between batches, before an epoch), so no
    # process leaves the loop while another waits for it in a collective.
    stopping = False
    with progress, StopOnSignal() as stop:
        bar = progress.add_task("train", total=steps, epoch=1, loss=0.0, tps=0.0, dev="-")
        while loop.epoch <= cfg.max_epochs and not (stopping := dist.any(stop.requested)):
            net.train()
            # reset() replaces all fields, so every column's field is passed again.
            dev_shown = f"{loop.best_score:.4f}" if loop.best_epoch else "-"
            progress.reset(bar, total=steps, completed=loop.step, epoch=f"{loop.epoch}/{cfg.max_epochs}",
                           loss=0.0, tps=0.0, dev=dev_shown)
            rng.setstate(loop.epoch_rng)
            # Every process builds the same global batches (batch_size * world sentences)
            # and trains on its share of each (Dist.shard).
            batches = train_batches(train_data, global_batch, rng)
            epoch_start = time.perf_counter() - loop.epoch_seconds
            for i in range(loop.step, len(batches)):
                batch, weight = dist.shard(batches[i], train_data)
                batch = batch.to(device)
                if recipe.embed.word_dropout > 0:
                    drop = singletons[batch.words] & (
                        torch.rand(batch.words.shape, device=device) < recipe.embed.word_dropout
                    )
                    batch.words = batch.words.masked_fill(drop, unk_id)
                loss = net(batch)
                optimizer.zero_grad(set_to_none=True)
                (loss * weight if dist.enabled else loss).backward()
                if cfg.clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, cfg.clip)
                optimizer.step()
                schedule.batch_done()
                loop.step = i + 1
                if weight > 0:
                    loop.total_loss += loss.item() * len(batch.index)
                    loop.seen_tokens += batch.num_tokens
                    loop.seen_sentences += len(batch.index)
                if loop.step % 10 == 0 or loop.step == steps:
                    # Rank 0's own numbers; tokens/s scaled by the processes as an estimate.
                    tps = loop.seen_tokens * dist.world / (time.perf_counter() - epoch_start)
                    progress.update(bar, completed=loop.step, loss=loop.total_loss / max(1, loop.seen_sentences),
                                    tps=tps)
                stopping = dist.any(stop.requested)
                if stopping or (checkpoint_every and loop.step % checkpoint_every == 0):
                    loop.epoch_seconds = time.perf_counter() - epoch_start
                    checkpoint()
                    if stopping:
                        break
            if stopping:
                break
            train_seconds = time.perf_counter() - epoch_start
            total_loss, seen_tokens, seen_sentences = dist.sum([loop.total_loss, loop.seen_tokens, loop.seen_sentences])
            # Each process decodes its share of the dev set; rank 0 scores the whole.
            shares = dist.gather(decode_corpus(model, split(dev_data, dist), cfg.eval_batch_size))
            record = None
            if dist.main:
                dev_pred = unsplit(shares, len(dev_data))
                dev_report = score(corpus["valid"], dev_pred, model)
                record = EpochRecord(
                    epoch=loop.epoch,
                    train_loss=total_loss / max(1, seen_sentences),
                    dev_score=main_score(dev_report, cfg.monitor),
                    dev=dev_report,
                    lr=schedule.lr,
                    seconds=time.perf_counter() - epoch_start,
                    tokens_per_second=seen_tokens / train_seconds,
                    elapsed=loop.elapsed + time.perf_counter() - epoch_start,
                )
            record = dist.broadcast(record)  # from here on every process decides alike
            dev_score = record.dev_score
            records.append(record)
            schedule.epoch_done(dev_score)
            improved = dev_score > loop.best_score
            if improved:
                loop.best_score, loop.best_epoch, loop.bad_epochs = dev_score, loop.epoch, 0
                if dist.main:
                    model.save(best_dir)
            else:
                loop.bad_epochs += 1
            if dist.main:
                _write_logs(records, run_dir, best_dir)
            progress.update(bar, dev=f"{dev_score:.4f}" + (" *" if improved else ""))
            console.log(
                f"epoch {loop.epoch}: loss {record.train_loss:.4f}  dev {dev_score:.4f}{' (best)' if improved else ''}"
                f"  lr {record.lr:.2e}  {record.seconds:.0f}s  {record.tokens_per_second:,.0f} tok/s"
            )
            loop.epoch += 1
            loop.step = loop.seen_tokens = loop.seen_sentences = 0
            loop.total_loss = loop.epoch_seconds = 0.0
            loop.epoch_rng = rng.getstate()
            loop.elapsed = record.elapsed
            checkpoint()
            if loop.bad_epochs >= cfg.patience:
                stopped = f"no dev improvement for {cfg.patience} epochs"
                break
            if cfg.max_minutes and (loop.elapsed + record.seconds) / 60 > cfg.max_minutes:
                stopped = f"time budget of {cfg.max_minutes:g} minutes"
                break
    if stopping:
        console.print(
            f"[yellow]Stopped on request (Ctrl-C or SIGTERM). Checkpoint saved in {ckpt_path} (epoch {loop.epoch}, batch {loop.step}); "
            f"continue with: tagger train --resume {run_dir}"
            + (f". Best model so far: {best_dir} (epoch {loop.best_epoch})" if loop.best_epoch else "")
        )
        stopped = "interrupted"
    if loop.best_epoch == 0:
        hint = f"; continue with: tagger train --resume {run_dir}" if ckpt_path.exists() else ""
        raise TaggerError(f"training stopped before the first epoch finished, so there is no model yet{hint}", run_dir)
    best_dev = records[loop.best_epoch - 1].dev
    result = TrainResult(best_dir, loop.best_epoch, loop.best_score, best_dev, records, loop.elapsed, stopped, model)
    if dist.main:
        print_summary(result, console)
    dist.barrier()  # the other processes wait until rank 0 has written everything
    return result


def _write_logs(records: list[EpochRecord], run_dir: Path, best_dir: Path) -> None:
    lines = "".join(json.dumps(asdict(r)) + "\n" for r in records)
    for folder in (run_dir, best_dir):
        atomic_write_text(folder / "metrics.jsonl", lines)
    plot_training(records, run_dir / "training.png")
    shutil.copyfile(run_dir / "training.png", best_dir / "training.png")


def print_summary(result: TrainResult, console: Console) -> None:
    table = Table(title="training summary", title_justify="left")
    for col in ("epoch", "train loss", "dev score", "dev P", "dev R", "lr", "seconds", "tok/s"):
        table.add_column(col, justify="right")
    for r in result.epochs:
        first = next(iter(r.dev.values()))
        if first.get("level") == "sentence":  # a classifier: macro (or, multi-label, micro) P/R
            first = first["micro avg" if first.get("multi_label") else "macro avg"]
        mark = " *" if r.epoch == result.best_epoch else ""
        table.add_row(
            f"{r.epoch}{mark}",
            f"{r.train_loss:.4f}",
            f"{r.dev_score * 100:.2f}",
            f"{first.get('precision', float('nan')) * 100:.2f}",
            f"{first.get('recall', float('nan')) * 100:.2f}",
            f"{r.lr:.1e}",
            f"{r.seconds:.0f}",
            f"{r.tokens_per_second:,.0f}",
        )
    console.print(table)
    size = sum(f.stat().st_size for f in result.model_dir.iterdir() if f.is_file())
    console.print(
        f"best dev score [bold]{result.best_score * 100:.2f}[/bold] at epoch {result.best_epoch}; "
        f"stopped: {result.stopped_because}; {result.seconds / 60:.1f} min; "
        f"model: {result.model_dir} ({size / 1e6:.1f} MB)"
    )
