"""Training a tree model: the toolkit's optimisers, schedules, signal handling, seeds,
checkpoints and plots around the tree family's task (:class:`TreeSentiment`)."""
from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
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

from ..checkpoint import CHECKPOINT_FILE, LoopState, load_checkpoint, save_checkpoint
from ..errors import TaggerError
from ..files import atomic_write_text
from ..plots import plot_training
from ..predict import resolve_device
from ..training import OPTIMIZERS, Schedule, StopOnSignal, seed_everything
from ..vocab import Vocab
from .config import TreeRecipe
from .data import load_trees, read_sentences
from .model import TreeModel
from .modeldir import model_from_parts, model_parts, save_model
from .task import TreeSentiment, build_vocab, word_key


def _adam(cls, fused: bool = True):
    def make(params: list, cfg) -> torch.optim.Optimizer:
        try:  # one fused kernel over all parameters: ~3x faster steps on a CPU, where the
            # word-vector matrix makes the optimizer step a large share of an epoch
            return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
        except (RuntimeError, TypeError):  # a PyTorch or device without fused kernels
            return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    return make


# The toolkit's optimisers; Adam and AdamW fused, and Adagrad (Tai et al.'s choice) added.
TREE_OPTIMIZERS = {
    **OPTIMIZERS,
    "adam": _adam(torch.optim.Adam),
    "adamw": _adam(torch.optim.AdamW),
    "adagrad": lambda p, c: torch.optim.Adagrad(p, lr=c.lr, weight_decay=c.weight_decay),
}


@dataclass
class TreeEpoch:
    epoch: int
    train_loss: float  # per tree
    dev_score: float
    dev: dict
    lr: float
    seconds: float
    trees_per_second: float
    elapsed: float


@dataclass
class TreeTrainResult:
    model_dir: Path
    best_epoch: int
    best_score: float
    best_dev: dict
    epochs: list[TreeEpoch] = field(default_factory=list)
    seconds: float = 0.0
    stopped_because: str = ""


class WeightAverage(torch.nn.Module):
    """An exponential moving average of a model's weights, kept as buffers (so a
    checkpoint holds it). The decay grows from 0.1 towards ``decay`` over the first
    steps, so early weights do not linger."""

    def __init__(self, model: torch.nn.Module, decay: float):
        super().__init__()
        self.decay = decay
        self.params = [p for _, p in model.named_parameters()]
        for name, param in model.named_parameters():
            self.register_buffer(name.replace(".", "__"), param.detach().clone())

    @torch.no_grad()
    def update(self, step: int) -> None:
        weight = 1 - min(self.decay, (1 + step) / (10 + step))
        for average, param in zip(self.buffers(), self.params):
            average.lerp_(param, weight)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averaged weights in the model for the duration of the block."""
        kept = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for param, average in zip(self.params, self.buffers()):
                param.copy_(average)
        try:
            yield
        finally:
            with torch.no_grad():
                for param, value in zip(self.params, kept):
                    param.copy_(value)


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
                resume: bool = False, checkpoint_every: int = 0, changes: dict | None = None) -> TreeTrainResult:
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
    trainer = TreeTrainer(recipe, run_dir, console, checkpoint_every)
    return trainer.run(ckpt)


class TreeTrainer:
    """One training run; ``run`` is the loop, the other methods its steps."""

    def __init__(self, recipe: TreeRecipe, run_dir: Path, console: Console, checkpoint_every: int):
        self.recipe, self.run_dir, self.console = recipe, run_dir, console
        self.checkpoint_every = checkpoint_every
        self.cfg = recipe.train
        self.records: list[TreeEpoch] = []

    def setup(self, ckpt) -> None:
        cfg, recipe = self.cfg, self.recipe
        seed_everything(cfg.seed)
        started = time.perf_counter()
        corpus = load_trees(recipe.data, ("train", "valid"))
        if ckpt is None:
            model, vocab = build_model(recipe, corpus["train"], self.console)
        else:
            weights = ckpt.model_weights
            if recipe.model.average > 0:  # the checkpoint holds model.* and average.* tensors
                weights = {k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")}
            model, recipe, vocab = model_from_parts(ckpt.config, ckpt.vocab_json, weights, self.run_dir / CHECKPOINT_FILE)
            self.recipe = recipe
        model.to(resolve_device(cfg.device)).train()
        self.average = WeightAverage(model, recipe.model.average) if recipe.model.average > 0 else None
        unlabelled = []
        if recipe.data.unlabelled and model.builds_trees:
            unlabelled = read_sentences(recipe.data.unlabelled, recipe.model.tokenizer, recipe.data.max_unlabelled)
        self.task = TreeSentiment(recipe, model, vocab, corpus, unlabelled)
        self.model, self.vocab = model, vocab
        params = [p for p in model.parameters() if p.requires_grad]
        if cfg.optimizer not in TREE_OPTIMIZERS:
            raise TaggerError(f"unknown optimizer '{cfg.optimizer}' (choose: {', '.join(TREE_OPTIMIZERS)})")
        self.params = params
        self.optimizer = TREE_OPTIMIZERS[cfg.optimizer](params, cfg)
        self.steps = (len(corpus["train"]) + cfg.batch_size - 1) // cfg.batch_size
        self.schedule = Schedule(self.optimizer, cfg, self.steps)
        self.rng = random.Random(cfg.seed)
        self.loop = LoopState(epoch_rng=self.rng.getstate())
        self.loop.elapsed = time.perf_counter() - started  # data loading and set-up count toward the budget
        nodes = sum(t.size for t in corpus["train"])
        self.console.log(
            f"{recipe.name}: {recipe.model.composition} over {len(corpus['train']):,} training trees ({nodes:,} nodes), "
            f"{len(corpus['valid']):,} dev; {len(vocab):,} words; {sum(p.numel() for p in params):,} parameters"
            + (f"; {len(unlabelled):,} unlabelled sentences" if unlabelled else "")
        )

    def restore(self, ckpt) -> None:
        if self.average is not None:
            self.average.load_state_dict(
                {k[len("average."):]: v for k, v in ckpt.model_weights.items() if k.startswith("average.")})
        self.optimizer.load_state_dict(ckpt.optimizer_state)
        self.schedule.load_state_dict(ckpt.schedule_state)
        torch.set_rng_state(ckpt.torch_rng)
        self.loop = ckpt.loop
        self.records = [TreeEpoch(**r) for r in self.loop.records]
        self.console.log(f"resuming {self.run_dir} at epoch {self.loop.epoch}, batch {self.loop.step}")

    def checkpoint(self) -> None:
        self.loop.records = [asdict(r) for r in self.records]
        config, vocab_json, _ = model_parts(self.model, self.recipe, self.vocab)
        saved = self.model
        if self.average is not None:  # the running average is part of the training state
            saved = torch.nn.ModuleDict({"model": self.model, "average": self.average})
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, config=config, vocab_json=vocab_json, model=saved,
                        optimizer=self.optimizer, schedule_state=self.schedule.state_dict(), loop=self.loop)

    def run(self, ckpt) -> TreeTrainResult:
        self.setup(ckpt)
        if ckpt is not None:
            self.restore(ckpt)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        stopped, loop = "max_epochs", self.loop
        with self.progress() as progress, StopOnSignal() as stop:
            bar = progress.add_task("train", total=self.steps, epoch="", loss=0.0, tps=0.0, dev="-")
            while loop.epoch <= self.cfg.max_epochs:
                if stop.requested or not self.train_epoch(progress, bar, stop):
                    stopped = "interrupted"
                    break
                reason = self.end_epoch(progress, bar)
                if reason:
                    stopped = reason
                    break
        return self.finish(stopped)

    def progress(self) -> Progress:
        return Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[tps]:,.0f} trees/s"),
            TextColumn("dev {task.fields[dev]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, transient=False,
        )

    def train_epoch(self, progress: Progress, bar, stop: StopOnSignal) -> bool:
        """Train the rest of the current epoch; False when a stop was requested (the
        checkpoint is then written where it stopped)."""
        loop, cfg = self.loop, self.cfg
        self.model.train()
        shown = f"{loop.best_score * 100:.2f}" if loop.best_epoch else "-"
        progress.reset(bar, total=self.steps, completed=loop.step, epoch=f"{loop.epoch}/{cfg.max_epochs}",
                       loss=0.0, tps=0.0, dev=shown)
        self.rng.setstate(loop.epoch_rng)
        batches = self.task.batches("train", self.rng)
        epoch_start = time.perf_counter() - loop.epoch_seconds
        for i in range(loop.step, len(batches)):
            loss = self.task.loss(batches[i])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip > 0:
                torch.nn.utils.clip_grad_norm_(self.params, cfg.clip)
            self.optimizer.step()
            self.schedule.batch_done()
            if self.average is not None:
                self.average.update((loop.epoch - 1) * self.steps + i)
            loop.step = i + 1
            loop.total_loss += loss.item() * batches[i].level.num_trees
            loop.seen_sentences += batches[i].level.num_trees
            loop.seen_tokens += batches[i].level.num_nodes
            if loop.step % 10 == 0 or loop.step == len(batches):
                progress.update(bar, completed=loop.step, loss=loop.total_loss / loop.seen_sentences,
                                tps=loop.seen_sentences / (time.perf_counter() - epoch_start))
            if stop.requested or (self.checkpoint_every and loop.step % self.checkpoint_every == 0):
                loop.epoch_seconds = time.perf_counter() - epoch_start
                self.checkpoint()
                if stop.requested:
                    return False
        loop.epoch_seconds = time.perf_counter() - epoch_start
        return True

    def end_epoch(self, progress: Progress, bar) -> str:
        """Score dev, keep the best model, write logs and the checkpoint; the reason to
        stop, or '' to go on."""
        loop, cfg = self.loop, self.cfg
        train_seconds = loop.epoch_seconds
        eval_start = time.perf_counter()
        averaged = self.average.swapped_in() if self.average is not None else nullcontext()
        with averaged:  # scored and saved with the averaged weights
            report, score = self.task.evaluate("valid")
            if score > loop.best_score:
                save_model(self.run_dir / "best", self.model, self.recipe, self.vocab)
        report.pop("confusion", None)
        seconds = train_seconds + time.perf_counter() - eval_start
        record = TreeEpoch(loop.epoch, loop.total_loss / max(1, loop.seen_sentences), score, report,
                           self.schedule.lr, seconds, loop.seen_sentences / max(train_seconds, 1e-9),
                           loop.elapsed + seconds)
        self.records.append(record)
        self.schedule.epoch_done(score)
        improved = score > loop.best_score
        if improved:
            loop.best_score, loop.best_epoch, loop.bad_epochs = score, loop.epoch, 0
        else:
            loop.bad_epochs += 1
        self.write_logs()
        progress.update(bar, dev=f"{score * 100:.2f}" + (" *" if improved else ""))
        self.console.log(f"epoch {loop.epoch}: loss {record.train_loss:.4f}  {_numbers(report)}"
                         f"{' (best)' if improved else ''}  lr {record.lr:.1e}  {seconds:.0f}s")
        loop.epoch += 1
        loop.step = loop.seen_tokens = loop.seen_sentences = 0
        loop.total_loss = loop.epoch_seconds = 0.0
        loop.epoch_rng = self.rng.getstate()
        loop.elapsed = record.elapsed
        self.checkpoint()
        if loop.bad_epochs >= cfg.patience:
            return f"no dev improvement for {cfg.patience} epochs"
        if cfg.max_minutes and loop.elapsed / 60 + seconds / 60 > cfg.max_minutes:
            return f"time budget of {cfg.max_minutes:g} minutes"
        return ""

    def write_logs(self) -> None:
        best = self.run_dir / "best"
        lines = "".join(json.dumps(asdict(r)) + "\n" for r in self.records)
        for folder in (self.run_dir, best):
            atomic_write_text(folder / "metrics.jsonl", lines)
        plot_training(self.records, self.run_dir / "training.png")
        shutil.copyfile(self.run_dir / "training.png", best / "training.png")

    def finish(self, stopped: str) -> TreeTrainResult:
        loop = self.loop
        if stopped == "interrupted":
            self.console.print(
                f"[yellow]Stopped on request (Ctrl-C or SIGTERM). Checkpoint saved in {self.run_dir / CHECKPOINT_FILE} "
                f"(epoch {loop.epoch}, batch {loop.step}); continue with: tagger train --resume {self.run_dir}"
                + (f". Best model so far: {self.run_dir / 'best'} (epoch {loop.best_epoch})" if loop.best_epoch else ""))
        if loop.best_epoch == 0:
            hint = f"; continue with: tagger train --resume {self.run_dir}" if (self.run_dir / CHECKPOINT_FILE).exists() else ""
            raise TaggerError(f"training stopped before the first epoch finished, so there is no model yet{hint}", self.run_dir)
        result = TreeTrainResult(self.run_dir / "best", loop.best_epoch, loop.best_score,
                                 self.records[loop.best_epoch - 1].dev, self.records, loop.elapsed, stopped)
        print_summary(result, self.console)
        return result


def _numbers(report: dict) -> str:
    names = {"fine_root": "fine root", "binary_root": "bin root", "fine_all": "fine all", "binary_all": "bin all",
             "fine_root_greedy": "fine root (own trees)", "binary_root_greedy": "bin root (own trees)"}
    return "  ".join(f"{label} {report[key] * 100:.2f}" for key, label in names.items() if key in report)


def print_summary(result: TreeTrainResult, console: Console) -> None:
    columns = ["fine_root", "binary_root", "fine_all", "binary_all", "fine_root_greedy", "binary_root_greedy"]
    columns = [c for c in columns if c in result.best_dev]
    table = Table(title="training summary (dev %)", title_justify="left")
    for col in ("epoch", "train loss", *columns, "lr", "seconds", "trees/s"):
        table.add_column(col.replace("_", " "), justify="right")
    for r in result.epochs:
        mark = " *" if r.epoch == result.best_epoch else ""
        table.add_row(f"{r.epoch}{mark}", f"{r.train_loss:.4f}", *(f"{r.dev[c] * 100:.2f}" for c in columns),
                      f"{r.lr:.1e}", f"{r.seconds:.0f}", f"{r.trees_per_second:,.0f}")
    console.print(table)
    console.print(f"best dev score [bold]{result.best_score * 100:.2f}[/bold] at epoch {result.best_epoch}; "
                  f"stopped: {result.stopped_because}; {result.seconds / 60:.1f} min; model: {result.model_dir}")
