"""The training loop: optimiser, schedule, clipping, early stopping, best model kept."""
from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

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
from .model import SequenceTagger, atomic_write_text
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


def train(recipe: Recipe, output: str | Path, console: Console | None = None) -> TrainResult:
    console = console or Console(stderr=True)
    cfg = recipe.train
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    run_dir = Path(output)
    best_dir = run_dir / "best"

    started = time.perf_counter()
    corpus = load_corpus(recipe.data, recipe.heads, ("train", "valid"))
    model, singletons = build_model(recipe, corpus, console)
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
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = OPTIMIZERS[cfg.optimizer](params, cfg) if cfg.optimizer in OPTIMIZERS else None
    if optimizer is None:
        raise TaggerError(f"unknown optimizer '{cfg.optimizer}' (choose: {', '.join(OPTIMIZERS)})")
    steps = (len(train_data) + cfg.batch_size - 1) // cfg.batch_size
    schedule = Schedule(optimizer, cfg, steps)

    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / "metrics.jsonl"
    metrics_path.write_text("")
    records: list[EpochRecord] = []
    best_score, best_epoch, best_dev, bad_epochs = -1.0, 0, {}, 0
    stopped = "max_epochs"
    rng = random.Random(cfg.seed)

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
    try:
        with progress:
            bar = progress.add_task("train", total=steps, epoch=1, loss=0.0, tps=0.0, dev="-")
            for epoch in range(1, cfg.max_epochs + 1):
                model.train()
                # reset() replaces all fields, so every column's field is passed again.
                dev_shown = f"{best_score:.4f}" if best_epoch else "-"
                progress.reset(bar, total=steps, epoch=f"{epoch}/{cfg.max_epochs}", loss=0.0, tps=0.0, dev=dev_shown)
                epoch_start = time.perf_counter()
                total_loss, seen_tokens, seen_sentences = 0.0, 0, 0
                for i, batch in enumerate(train_batches(train_data, cfg.batch_size, rng), 1):
                    batch = batch.to(device)
                    if recipe.embed.word_dropout > 0:
                        drop = singletons[batch.words] & (torch.rand(batch.words.shape, device=device) < recipe.embed.word_dropout)
                        batch.words = batch.words.masked_fill(drop, unk_id)
                    loss = model.loss(batch)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.clip > 0:
                        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
                    optimizer.step()
                    schedule.batch_done()
                    total_loss += loss.item() * len(batch.index)
                    seen_tokens += batch.num_tokens
                    seen_sentences += len(batch.index)
                    if i % 10 == 0 or i == steps:
                        tps = seen_tokens / (time.perf_counter() - epoch_start)
                        progress.update(bar, completed=i, loss=total_loss / seen_sentences, tps=tps)
                train_seconds = time.perf_counter() - epoch_start
                dev_pred = decode_corpus(model, dev_data, cfg.eval_batch_size)
                dev_report = score(corpus["valid"], dev_pred, model)
                dev_score = main_score(dev_report)
                record = EpochRecord(
                    epoch=epoch,
                    train_loss=total_loss / len(train_data),
                    dev_score=dev_score,
                    dev=dev_report,
                    lr=schedule.lr,
                    seconds=time.perf_counter() - epoch_start,
                    tokens_per_second=seen_tokens / train_seconds,
                    elapsed=time.perf_counter() - started,
                )
                records.append(record)
                schedule.epoch_done(dev_score)
                improved = dev_score > best_score
                if improved:
                    best_score, best_epoch, best_dev, bad_epochs = dev_score, epoch, dev_report, 0
                    model.save(best_dir)
                else:
                    bad_epochs += 1
                _write_logs(records, run_dir, best_dir)
                progress.update(bar, dev=f"{dev_score:.4f}" + (" *" if improved else ""))
                console.log(
                    f"epoch {epoch}: loss {record.train_loss:.4f}  dev {dev_score:.4f}{' (best)' if improved else ''}"
                    f"  lr {record.lr:.2e}  {record.seconds:.0f}s  {record.tokens_per_second:,.0f} tok/s"
                )
                if bad_epochs >= cfg.patience:
                    stopped = f"no dev improvement for {cfg.patience} epochs"
                    break
                elapsed_min = (time.perf_counter() - started) / 60
                if cfg.max_minutes and elapsed_min + record.seconds / 60 > cfg.max_minutes:
                    stopped = f"time budget of {cfg.max_minutes:g} minutes"
                    break
    except KeyboardInterrupt:
        stopped = "interrupted"
        console.print(f"[yellow]Interrupted: the best model so far (epoch {best_epoch}) is in {best_dir}")
    if best_epoch == 0:
        raise TaggerError("training stopped before the first epoch finished; no model was written", run_dir)
    result = TrainResult(best_dir, best_epoch, best_score, best_dev, records, time.perf_counter() - started, stopped)
    print_summary(result, console)
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
