"""One training loop for every model family.

A family gives the :class:`Trainer` a *task*: its model and the few things only the
family knows (its batches, their loss, how dev data is scored, how a model directory
is written). The trainer owns everything else: optimizer and schedule by name,
gradient clipping, a moving average of the weights (``train.average``), evaluation
and early stopping, the best model, checkpoints that resume exactly, Ctrl-C and
SIGTERM, DistributedDataParallel collectives, the progress bar, ``metrics.jsonl``,
the training plot and the summary table.

The task interface (duck-typed; the optional hooks have defaults)::

    model: torch.nn.Module          # what is trained
    unit: str                       # what the throughput counts ("tok", "trees", "chars")
    batches(rng) -> Sequence        # one epoch of training batches, the same for the same rng state
    loss(batch) -> StepLoss | (loss, items, units)
    evaluate() -> (report, score)   # dev report (JSON-able) and the number to maximise;
                                    # under DDP rank 0's counts, the others may return (None, None)
    save(directory)                 # the model directory
    checkpoint_parts() -> (config, vocab_json)
    describe(report) -> str         # the dev numbers of one evaluation, for the log
    summary_columns(report) -> dict # optional: extra columns of the summary table
    checkpoint_module() -> Module   # optional: what a checkpoint holds (default: model)
    restore(checkpoint)             # optional: the family's own state from a checkpoint
    start_epoch(epoch)              # optional: called before each epoch's first batch
    evaluation_weights()            # optional: a context manager around evaluate + save
"""
from __future__ import annotations

import io
import json
import math
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .checkpoint import CHECKPOINT_FILE, Checkpoint, LoopState, save_checkpoint
from .config import TrainConfig
from .distributed import Dist
from .errors import TaggerError
from .files import atomic_write_text
from .plots import plot_training
from .training import OPTIMIZERS, Schedule, StopOnSignal, WeightAverage


@dataclass
class StepLoss:
    """One batch's loss: ``loss`` is what is backpropagated (times ``scale``, a DDP
    share's weight); ``items`` (sentences, trees, streams) and ``units`` (tokens,
    symbols) count what it covered for the logs (``items == 0``: not counted)."""

    loss: torch.Tensor
    items: int
    units: int
    scale: float = 1.0


@dataclass
class EpochRecord:
    """One evaluation: at an epoch's end, or after ``step`` batches with ``eval_every``."""

    epoch: int
    train_loss: float  # per item (sentence, tree, symbol), over the epoch so far
    dev_score: float
    dev: dict
    lr: float
    seconds: float
    units_per_second: float
    elapsed: float
    step: int = 0  # batches of the epoch done; 0 at the epoch's end

    @classmethod
    def from_dict(cls, raw: dict) -> "EpochRecord":
        raw = dict(raw)
        for old in ("tokens_per_second", "trees_per_second"):  # checkpoints written before the shared trainer
            if old in raw:
                raw["units_per_second"] = raw.pop(old)
        return cls(**raw)


@dataclass
class TrainResult:
    model_dir: Path
    best_epoch: int
    best_score: float
    best_dev: dict
    epochs: list[EpochRecord] = field(default_factory=list)
    seconds: float = 0.0
    stopped_because: str = ""
    model: torch.nn.Module | None = None  # the network as training left it (the best weights are in model_dir)

    @property
    def best_dir(self) -> Path:
        return self.model_dir


class Trainer:
    """One training run of one task; :meth:`run` is the loop, the other methods its steps."""

    def __init__(self, task: Any, cfg: TrainConfig, run_dir: str | Path, console: Console | None = None, *,
                 checkpoint_every: int = 0, dist: Dist | None = None, name: str = "train"):
        self.task, self.cfg, self.run_dir = task, cfg, Path(run_dir)
        self.dist = dist or Dist(device=next(task.model.parameters()).device)
        console = console or Console(stderr=True)
        # Rank 0 speaks for all.
        self.console = console if self.dist.main else Console(file=io.StringIO(), stderr=True)
        self.checkpoint_every, self.name = checkpoint_every, name
        self.records: list[EpochRecord] = []
        self.params = [p for p in task.model.parameters() if p.requires_grad]
        self.optimizer = OPTIMIZERS[cfg.optimizer](self.params, cfg)  # an unknown name: one line listing them
        self.rng = random.Random(cfg.seed)
        steps = getattr(task, "steps_per_epoch", None)
        self.steps = steps() if steps else len(task.batches(random.Random(cfg.seed)))
        self.schedule = Schedule(self.optimizer, cfg, self.steps)
        self.average = WeightAverage(task.model, cfg.average) if cfg.average > 0 else None
        # Scores may be negative (a language model's is minus its held-out loss).
        self.loop = LoopState(epoch_rng=self.rng.getstate(), world_size=self.dist.world, best_score=-math.inf)

    # ------------------------------------------------------------------ the loop

    def run(self, ckpt: Checkpoint | None = None, setup_seconds: float = 0.0) -> TrainResult:
        """Train until the epochs, the patience or the time budget run out, or a stop is
        requested; ``setup_seconds`` (data loading, building) count toward the budget."""
        if ckpt is not None:
            self.restore(ckpt)
        else:
            self.loop.elapsed = setup_seconds
        self.seed_rank()
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        stopped = "max_epochs"
        with self.progress() as progress, StopOnSignal() as stop:
            bar = progress.add_task(self.name, total=self.steps, epoch="", loss=0.0, ups=0.0, dev="-")
            while self.loop.epoch <= self.cfg.max_epochs:
                if self.dist.any(stop.requested):
                    stopped = "interrupted"
                    break
                reason = self.train_epoch(progress, bar, stop)
                if reason:
                    stopped = reason
                    break
        return self.finish(stopped)

    def seed_rank(self) -> None:
        if self.dist.enabled and self.dist.rank:
            # Dropout draws other masks on each process (rank 0 keeps the stream a single
            # process would use); the weights are the same everywhere (DDP copies rank 0's).
            loop = self.loop
            torch.manual_seed(self.cfg.seed + 1_000_003 * self.dist.rank + 1_009 * loop.epoch + loop.step)

    def train_epoch(self, progress: Progress, bar: Any, stop: StopOnSignal) -> str:
        """The rest of the current epoch and its evaluation(s); the reason to stop, or ''."""
        loop, cfg, task = self.loop, self.cfg, self.task
        task.model.train()
        shown = self.show(loop.best_score) if loop.best_epoch else "-"
        progress.reset(bar, total=self.steps, completed=loop.step, epoch=f"{loop.epoch}/{cfg.max_epochs}",
                       loss=0.0, ups=0.0, dev=shown)
        self.rng.setstate(loop.epoch_rng)
        batches = task.batches(self.rng)
        if loop.step == 0 and hasattr(task, "start_epoch"):
            task.start_epoch(loop.epoch)
        self.epoch_start = epoch_start = time.perf_counter() - loop.epoch_seconds
        for i in range(loop.step, len(batches)):
            self.train_step(batches[i])
            loop.step = i + 1
            if loop.step % 10 == 0 or loop.step == len(batches):
                ups = loop.seen_tokens * self.dist.world / max(1e-9, time.perf_counter() - epoch_start)
                progress.update(bar, completed=loop.step, loss=loop.total_loss / max(1, loop.seen_sentences), ups=ups)
            loop.epoch_seconds = time.perf_counter() - epoch_start
            if self.dist.any(stop.requested):
                self.checkpoint()
                return "interrupted"
            over_time = self.over_budget_everywhere(loop.epoch_seconds)
            if loop.step < len(batches) and (over_time or (cfg.eval_every and loop.step % cfg.eval_every == 0)):
                reason = self.evaluate(progress, bar, end_of_epoch=False) or over_time
                if reason:
                    self.checkpoint()
                    return reason
                task.model.train()
            if self.checkpoint_every and loop.step % self.checkpoint_every == 0:
                self.checkpoint()
        return self.evaluate(progress, bar, end_of_epoch=True)

    def train_step(self, batch: Any) -> None:
        loop = self.loop
        step = self.task.loss(batch)
        if not isinstance(step, StepLoss):
            step = StepLoss(*step)
        self.optimizer.zero_grad(set_to_none=True)
        (step.loss * step.scale if step.scale != 1.0 else step.loss).backward()
        if self.cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.clip)
        self.optimizer.step()
        self.schedule.batch_done()
        global_step = (loop.epoch - 1) * self.steps + loop.step
        if self.average is not None:
            self.average.update(global_step)
        if hasattr(self.task, "step_done"):
            self.task.step_done(global_step)
        if step.items:
            loop.total_loss += step.loss.item() * step.items
            loop.seen_sentences += step.items
            loop.seen_tokens += step.units

    def over_budget_everywhere(self, epoch_seconds: float) -> str:
        """:meth:`over_budget` agreed by every process: each reads its own clock, and a
        process that evaluated or stopped alone would leave the others waiting for it."""
        over_time = self.over_budget(epoch_seconds)
        if self.dist.enabled and self.cfg.max_minutes is not None:
            return self.over_budget(math.inf) if self.dist.any(bool(over_time)) else ""
        return over_time

    def over_budget(self, epoch_seconds: float) -> str:
        budget = self.cfg.max_minutes
        if budget is not None and (self.loop.elapsed + epoch_seconds) / 60 > budget:
            return f"time budget of {budget:g} minutes"
        return ""

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, progress: Progress, bar: Any, end_of_epoch: bool) -> str:
        """Score dev, keep the best model, write the logs (and at an epoch's end move on
        to the next epoch and checkpoint); the reason to stop, or ''."""
        loop, dist = self.loop, self.dist
        train_seconds = loop.epoch_seconds
        totals = dist.sum([loop.total_loss, loop.seen_tokens, loop.seen_sentences])
        with self.evaluation_weights():
            report, score = dist.broadcast(self.task.evaluate())
            improved = score > loop.best_score
            if improved and dist.main:
                self.task.save(self.run_dir / "best")
        seconds = time.perf_counter() - self.epoch_start
        record = EpochRecord(loop.epoch, totals[0] / max(1, totals[2]), score, report, self.schedule.lr, seconds,
                             totals[1] / max(train_seconds, 1e-9), loop.elapsed + seconds, 0 if end_of_epoch else loop.step)
        self.records.append(record)
        self.schedule.epoch_done(score)
        if improved:
            loop.best_score, loop.best_epoch, loop.bad_epochs = score, loop.epoch, 0
        else:
            loop.bad_epochs += 1
        if dist.main:
            self.write_logs()
        self.log(record, improved, progress, bar)
        if end_of_epoch:
            self.next_epoch(record)
        if loop.bad_epochs >= self.cfg.patience:
            return f"no dev improvement for {self.cfg.patience} {'evaluations' if self.cfg.eval_every else 'epochs'}"
        return self.over_budget_everywhere(seconds) if end_of_epoch else ""

    def evaluation_weights(self) -> Any:
        """What dev scores and the best model saves: the weight average (``train.average``),
        or what the family says (another average, say), or the weights being trained."""
        if self.average is not None:
            return self.average.swapped_in()
        return self.task.evaluation_weights() if hasattr(self.task, "evaluation_weights") else nullcontext()

    def next_epoch(self, record: EpochRecord) -> None:
        loop = self.loop
        loop.epoch += 1
        loop.step = loop.seen_tokens = loop.seen_sentences = 0
        loop.total_loss = loop.epoch_seconds = 0.0
        loop.epoch_rng = self.rng.getstate()
        loop.elapsed = record.elapsed
        self.checkpoint()

    def log(self, record: EpochRecord, improved: bool, progress: Progress, bar: Any) -> None:
        progress.update(bar, dev=self.show(record.dev_score) + (" *" if improved else ""))
        where = f"epoch {record.epoch}" + (f" step {record.step}" if record.step else "")
        self.console.log(
            f"{where}: loss {record.train_loss:.4f}  {self.task.describe(record.dev)}{' (best)' if improved else ''}"
            f"  lr {record.lr:.2e}  {record.seconds:.0f}s  {record.units_per_second:,.0f} {self.task.unit}/s"
        )

    # ------------------------------------------------------------------ state on disk

    def checkpoint(self) -> None:
        """Write the training state. Called by every process at the same point; only rank 0
        writes, with the epoch's running totals summed over the processes."""
        loop, dist = self.loop, self.dist
        totals = dist.sum([loop.total_loss, loop.seen_tokens, loop.seen_sentences])
        if not dist.main:
            return
        loop.records = [asdict(r) for r in self.records]
        mine = loop.total_loss, loop.seen_tokens, loop.seen_sentences
        loop.total_loss, loop.seen_tokens, loop.seen_sentences = totals[0], int(totals[1]), int(totals[2])
        config, vocab_json = self.task.checkpoint_parts()
        module = self.task.checkpoint_module() if hasattr(self.task, "checkpoint_module") else self.task.model
        try:
            save_checkpoint(self.run_dir / CHECKPOINT_FILE, config=config, vocab_json=vocab_json, model=module,
                            optimizer=self.optimizer, schedule_state=self.schedule.state_dict(), loop=loop,
                            average=self.average)
        finally:
            loop.total_loss, loop.seen_tokens, loop.seen_sentences = mine

    def restore(self, ckpt: Checkpoint) -> None:
        """Optimizer, schedule, random state and loop counters from a checkpoint (the
        family has already put the weights back into its model)."""
        dist = self.dist
        self.optimizer.load_state_dict(ckpt.optimizer_state)
        self.schedule.load_state_dict(ckpt.schedule_state)
        torch.set_rng_state(ckpt.torch_rng)
        loop = self.loop = ckpt.loop
        if loop.step and loop.world_size != dist.world:
            raise TaggerError(
                f"this checkpoint was written in the middle of an epoch by {loop.world_size} training "
                f"process(es); resume it with {loop.world_size} (the batches of the epoch depend on it)",
                self.run_dir / CHECKPOINT_FILE,
            )
        if dist.enabled and not dist.main:  # rank 0's counters hold the whole epoch so far (see checkpoint)
            loop.total_loss, loop.seen_tokens, loop.seen_sentences = 0.0, 0, 0
        loop.world_size = dist.world
        self.records = [EpochRecord.from_dict(r) for r in loop.records]
        if self.average is not None:
            self.restore_average(ckpt)
        if hasattr(self.task, "restore"):
            self.task.restore(ckpt)
        self.console.log(f"resuming {self.run_dir} at epoch {loop.epoch}, batch {loop.step}")

    def restore_average(self, ckpt: Checkpoint) -> None:
        """The weight average from the checkpoint; one written before the trainer kept the
        average has none, and the average starts again from the restored weights."""
        if ckpt.average_weights:
            try:
                self.average.load_state_dict(ckpt.average_weights)
            except RuntimeError as err:
                raise TaggerError(f"the checkpoint's weight average does not fit this model ({str(err)[:120]})",
                                  self.run_dir / CHECKPOINT_FILE) from None

    def write_logs(self) -> None:
        best = self.run_dir / "best"
        lines = "".join(json.dumps(asdict(r)) + "\n" for r in self.records)
        for folder in (self.run_dir, best):
            if folder.is_dir():
                atomic_write_text(folder / "metrics.jsonl", lines)
        plot_training(self.records, self.run_dir / "training.png")
        if best.is_dir():
            shutil.copyfile(self.run_dir / "training.png", best / "training.png")

    # ------------------------------------------------------------------ around the loop

    def progress(self) -> Progress:
        return Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[ups]:,.0f} " + self.task.unit + "/s"),
            TextColumn("dev {task.fields[dev]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, transient=False, disable=not self.dist.main,
        )

    def finish(self, stopped: str) -> TrainResult:
        loop, run_dir = self.loop, self.run_dir
        ckpt_path = run_dir / CHECKPOINT_FILE
        if stopped == "interrupted":
            self.console.print(
                f"[yellow]Stopped on request (Ctrl-C or SIGTERM). Checkpoint saved in {ckpt_path} (epoch {loop.epoch}, "
                f"batch {loop.step}); continue with: {self.resume_command()}"
                + (f". Best model so far: {run_dir / 'best'} (epoch {loop.best_epoch})" if loop.best_epoch else ""))
        if loop.best_epoch == 0:
            hint = f"; continue with: {self.resume_command()}" if ckpt_path.exists() else ""
            raise TaggerError(f"training stopped before the first evaluation, so there is no model yet{hint}", run_dir)
        best = max(self.records, key=lambda r: r.dev_score)  # the first of equal scores, as improvements are strict
        # A run stopped inside an epoch has spent that epoch's time too (and its evaluation, if any).
        seconds = max(loop.elapsed + (loop.epoch_seconds if loop.step else 0.0), self.records[-1].elapsed)
        result = TrainResult(run_dir / "best", loop.best_epoch, loop.best_score, best.dev, self.records,
                             seconds, stopped, self.task.model)
        if self.dist.main:
            print_summary(result, self.task, self.console)
        self.dist.barrier()  # the other processes wait until rank 0 has written everything
        return result

    def show(self, score: float) -> str:
        """A dev score as the family reads it (F1 or accuracy in %, bits per character...)."""
        return self.task.format_score(score) if hasattr(self.task, "format_score") else f"{score * 100:.2f}"

    def resume_command(self) -> str:
        return getattr(self.task, "resume_command", "tagger train --resume {run_dir}").format(run_dir=self.run_dir)


def print_summary(result: TrainResult, task: Any, console: Console) -> None:
    """One row per evaluation (the best marked) and a closing line."""
    extra = task.summary_columns if hasattr(task, "summary_columns") else (lambda report: {})
    show = task.format_score if hasattr(task, "format_score") else (lambda score: f"{score * 100:.2f}")
    table = Table(title="training summary", title_justify="left")
    columns = list(extra(result.best_dev))
    for col in ("epoch", "train loss", "dev score", *columns, "lr", "seconds", f"{task.unit}/s"):
        table.add_column(col, justify="right")
    best = max(result.epochs, key=lambda r: r.dev_score)
    for r in result.epochs:
        mark = " *" if r is best else ""
        shown = extra(r.dev)
        table.add_row(f"{r.epoch}{'.' + str(r.step) if r.step else ''}{mark}", f"{r.train_loss:.4f}",
                      show(r.dev_score), *(shown.get(c, "") for c in columns), f"{r.lr:.1e}",
                      f"{r.seconds:.0f}", f"{r.units_per_second:,.0f}")
    console.print(table)
    size = sum(f.stat().st_size for f in result.model_dir.iterdir() if f.is_file()) if result.model_dir.is_dir() else 0
    console.print(
        f"best dev score [bold]{show(result.best_score)}[/bold] at epoch {result.best_epoch}; "
        f"stopped: {result.stopped_because}; {result.seconds / 60:.1f} min; "
        f"model: {result.model_dir} ({size / 1e6:.1f} MB)"
    )
