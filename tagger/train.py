"""The training loop: optimiser, schedule, clipping, early stopping, best model kept."""
from __future__ import annotations

import json
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable
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

from .batching import build_vocabs, encode, singleton_mask, train_batches
from .config import Recipe, TrainConfig
from .corpus import load_corpus
from .errors import TaggerError
from .checkpoint import CHECKPOINT_FILE, LoopState, load_checkpoint, save_checkpoint
from .model import SequenceTagger, atomic_write_text, model_from_parts, model_parts
from .plots import plot_training
from .predict import decode_corpus, main_score, resolve_device, score
from .vectors import extend_with_vectors, read_vectors
from .vocab import UNK

OPTIMIZERS: dict[str, Callable[[list, TrainConfig], torch.optim.Optimizer]] = {
    "adam": lambda p, c: torch.optim.Adam(p, lr=c.lr, weight_decay=c.weight_decay),
    "adamw": lambda p, c: torch.optim.AdamW(p, lr=c.lr, weight_decay=c.weight_decay),
    "nadam": lambda p, c: torch.optim.NAdam(p, lr=c.lr, weight_decay=c.weight_decay),
    "sgd": lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay),
}


class Schedule:
    """Learning-rate schedules, stepped per batch (linear) or per epoch (the rest)."""

    NAMES = ("constant", "plateau", "linear", "exponential")

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
        if cfg.schedule not in self.NAMES:
            raise TaggerError(f"unknown schedule '{cfg.schedule}' (choose: {', '.join(self.NAMES)})")
        self.cfg = cfg
        self.optimizer = optimizer
        total = max(1, cfg.max_epochs * steps_per_epoch)
        self.per_batch = None
        self.per_epoch = None
        if cfg.schedule == "linear":
            self.per_batch = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total))
        elif cfg.schedule == "exponential":
            self.per_epoch = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)
        elif cfg.schedule == "plateau":
            self.per_epoch = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="max", factor=cfg.lr_decay, patience=cfg.schedule_patience
            )

    def batch_done(self) -> None:
        if self.per_batch is not None:
            self.per_batch.step()

    def epoch_done(self, dev_score: float) -> None:
        if isinstance(self.per_epoch, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.per_epoch.step(dev_score)
        elif self.per_epoch is not None:
            self.per_epoch.step()

    def state_dict(self) -> dict:
        return {
            "per_batch": self.per_batch.state_dict() if self.per_batch is not None else None,
            "per_epoch": self.per_epoch.state_dict() if self.per_epoch is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        if self.per_batch is not None:
            self.per_batch.load_state_dict(state["per_batch"])
        if self.per_epoch is not None:
            self.per_epoch.load_state_dict(state["per_epoch"])

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]


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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def build_model(recipe: Recipe, corpus: dict, console: Console) -> tuple[SequenceTagger, torch.Tensor]:
    vocabs = build_vocabs(corpus["train"], recipe.heads, recipe.embed, [corpus["valid"]])
    vectors_init = None
    if recipe.embed.vectors:
        words, matrix = read_vectors(recipe.embed.vectors, recipe.embed.vectors_max)
        vocabs, vectors_init, coverage = extend_with_vectors(vocabs, words, matrix)
        recipe.embed.word_dim = matrix.shape[1]
        console.log(f"vectors: {len(words):,} words of dim {matrix.shape[1]}; {coverage:.1%} of training word types covered")
    model = SequenceTagger(recipe, vocabs)
    if vectors_init is not None:
        model.embedder.word.weight.data.copy_(vectors_init)
        model.embedder.word.weight.requires_grad_(not recipe.embed.freeze_vectors)
    return model, singleton_mask(corpus["train"], vocabs)


def train(
    recipe: Recipe | None,
    output: str | Path,
    console: Console | None = None,
    *,
    resume: bool = False,
    checkpoint_every: int = 0,
) -> TrainResult:
    """Train ``recipe`` into the run directory ``output`` (best model in ``output/best``).

    With ``resume=True`` the recipe, weights, optimiser, schedule, random state and
    batch order come from ``output/checkpoint.safetensors`` and the run continues
    where it stopped; on a CPU it ends exactly as an uninterrupted run would.
    """
    console = console or Console(stderr=True)
    run_dir = Path(output)
    best_dir = run_dir / "best"
    ckpt_path = run_dir / CHECKPOINT_FILE
    ckpt = load_checkpoint(ckpt_path) if resume else None
    if ckpt is not None:
        recipe = Recipe.from_dict(ckpt.config["recipe"], str(ckpt_path))
    if recipe is None:
        raise TaggerError("give a recipe, or --resume RUN_DIR")
    cfg = recipe.train
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)

    started = time.perf_counter()
    corpus = load_corpus(recipe.data, recipe.heads, ("train", "valid"))
    if ckpt is None:
        model, singletons = build_model(recipe, corpus, console)
    else:
        model = model_from_parts(ckpt.config, ckpt.vocab_json, ckpt.model_weights, ckpt_path).train()
        singletons = singleton_mask(corpus["train"], model.vocabs)
    train_data = [encode(s, model.vocabs) for s in corpus["train"]]
    dev_data = [encode(s, model.vocabs) for s in corpus["valid"]]
    n_tokens = sum(len(e) for e in train_data)
    console.log(
        f"{recipe.name}: {len(train_data):,} training sentences ({n_tokens:,} tokens), "
        f"{len(dev_data):,} dev; {sum(p.numel() for p in model.parameters()):,} parameters; device {device}"
    )
    model.to(device)
    singletons = singletons.to(device)
    unk_id = model.vocabs.words.id(UNK)
    if recipe.embed.vectors and recipe.embed.freeze_vectors:
        model.embedder.word.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer not in OPTIMIZERS:
        raise TaggerError(f"unknown optimizer '{cfg.optimizer}' (choose: {', '.join(OPTIMIZERS)})")
    optimizer = OPTIMIZERS[cfg.optimizer](params, cfg)
    steps = (len(train_data) + cfg.batch_size - 1) // cfg.batch_size
    schedule = Schedule(optimizer, cfg, steps)
    rng = random.Random(cfg.seed)
    loop = LoopState(epoch_rng=rng.getstate())
    if ckpt is not None:
        optimizer.load_state_dict(ckpt.optimizer_state)
        schedule.load_state_dict(ckpt.schedule_state)
        torch.set_rng_state(ckpt.torch_rng)
        loop = ckpt.loop
        console.log(f"resuming {run_dir} at epoch {loop.epoch}, batch {loop.step}")
    else:
        loop.elapsed = time.perf_counter() - started  # data loading and setup count toward the budget
    records = [EpochRecord(**r) for r in loop.records]
    run_dir.mkdir(parents=True, exist_ok=True)

    def checkpoint() -> None:
        loop.records = [asdict(r) for r in records]
        config, vocab_json, _ = model_parts(model)
        save_checkpoint(ckpt_path, config=config, vocab_json=vocab_json, model=model, optimizer=optimizer,
                        schedule_state=schedule.state_dict(), loop=loop)

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
    )
    with progress, StopOnSignal() as stop:
        bar = progress.add_task("train", total=steps, epoch=1, loss=0.0, tps=0.0, dev="-")
        while loop.epoch <= cfg.max_epochs and not stop.requested:
            model.train()
            # reset() replaces all fields, so every column's field is passed again.
            dev_shown = f"{loop.best_score:.4f}" if loop.best_epoch else "-"
            progress.reset(bar, total=steps, completed=loop.step, epoch=f"{loop.epoch}/{cfg.max_epochs}",
                           loss=0.0, tps=0.0, dev=dev_shown)
            rng.setstate(loop.epoch_rng)
            batches = train_batches(train_data, cfg.batch_size, rng)
            epoch_start = time.perf_counter() - loop.epoch_seconds
            for i in range(loop.step, len(batches)):
                batch = batches[i].to(device)
                if recipe.embed.word_dropout > 0:
                    drop = singletons[batch.words] & (
                        torch.rand(batch.words.shape, device=device) < recipe.embed.word_dropout
                    )
                    batch.words = batch.words.masked_fill(drop, unk_id)
                loss = model.loss(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, cfg.clip)
                optimizer.step()
                schedule.batch_done()
                loop.step = i + 1
                loop.total_loss += loss.item() * len(batch.index)
                loop.seen_tokens += batch.num_tokens
                loop.seen_sentences += len(batch.index)
                if loop.step % 10 == 0 or loop.step == steps:
                    tps = loop.seen_tokens / (time.perf_counter() - epoch_start)
                    progress.update(bar, completed=loop.step, loss=loop.total_loss / loop.seen_sentences, tps=tps)
                if stop.requested or (checkpoint_every and loop.step % checkpoint_every == 0):
                    loop.epoch_seconds = time.perf_counter() - epoch_start
                    checkpoint()
                    if stop.requested:
                        break
            if stop.requested:
                break
            train_seconds = time.perf_counter() - epoch_start
            dev_pred = decode_corpus(model, dev_data, cfg.eval_batch_size)
            dev_report = score(corpus["valid"], dev_pred, model)
            dev_score = main_score(dev_report, cfg.monitor)
            record = EpochRecord(
                epoch=loop.epoch,
                train_loss=loop.total_loss / max(1, loop.seen_sentences),
                dev_score=dev_score,
                dev=dev_report,
                lr=schedule.lr,
                seconds=time.perf_counter() - epoch_start,
                tokens_per_second=loop.seen_tokens / train_seconds,
                elapsed=loop.elapsed + time.perf_counter() - epoch_start,
            )
            records.append(record)
            schedule.epoch_done(dev_score)
            improved = dev_score > loop.best_score
            if improved:
                loop.best_score, loop.best_epoch, loop.bad_epochs = dev_score, loop.epoch, 0
                model.save(best_dir)
            else:
                loop.bad_epochs += 1
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
    if stop.requested:
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
    result = TrainResult(best_dir, loop.best_epoch, loop.best_score, best_dev, records, loop.elapsed, stopped)
    print_summary(result, console)
    return result


class StopOnSignal:
    """Turns Ctrl-C (SIGINT) and SIGTERM into a flag the loop checks between batches,
    so a stop never lands in the middle of an optimiser step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # a second Ctrl-C: the user really wants out
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


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
