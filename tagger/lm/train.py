"""Training a language model with truncated backpropagation through time.

The text is cut into ``batch_size`` parallel streams; each step unrolls ``bptt``
symbols of every stream, and the recurrent state is carried (detached) into the
next window, so the model sees context far beyond one window.
"""
from __future__ import annotations

import json
import math
import time
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
from torch import Tensor

from ..device import resolve_device, set_threads
from ..errors import TaggerError
from ..files import atomic_write_text
from ..training import OPTIMIZERS, StopOnSignal, seed_everything
from ..vocab import Vocab
from .config import LMConfig
from .model import LanguageModel, State
from .text import build_vocab, stream, to_ids


def split_valid(text: str, fraction: float) -> tuple[str, str]:
    """Hold out the last ``fraction`` of the text, cut at a line break when there is one."""
    cut = int(len(text) * (1 - fraction))
    newline = text.rfind("\n", 0, cut)
    if newline > len(text) * (1 - fraction) * 0.5:
        cut = newline + 1
    return text[:cut], text[cut:]


def batchify(ids: Tensor, batch_size: int) -> Tensor:
    """[N] -> [B, N // B]: B contiguous streams, read in parallel."""
    per_stream = ids.numel() // batch_size
    if per_stream < 2:
        raise TaggerError(f"the text is too short for {batch_size} streams ({ids.numel()} symbols)")
    return ids[: per_stream * batch_size].view(batch_size, per_stream)


def detach(state: State) -> State:
    return [tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach() for s in state]


@torch.inference_mode()
def stream_loss(model: LanguageModel, data: Tensor, bptt: int) -> float:
    """Mean negative log-likelihood (nats per symbol) of streams [B, N], state carried."""
    was_training = model.training
    model.eval()
    state, total, count = None, 0.0, 0
    for start in range(0, data.shape[1] - 1, bptt):
        inputs = data[:, start : start + bptt]
        targets = data[:, start + 1 : start + 1 + bptt]
        inputs = inputs[:, : targets.shape[1]]
        logits, state = model(inputs, state)
        total += torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum").item()
        count += targets.numel()
    model.train(was_training)
    return total / max(1, count)


def score_text(model: LanguageModel, text: str, bptt: int = 200, batch_size: int = 16) -> dict:
    """Nats, bits and perplexity per symbol of a text under the model."""
    cfg = model.cfg
    ids = to_ids(stream(text, cfg.level, cfg.lowercase, cfg.reverse), model.vocab)
    device = next(model.parameters()).device
    batch_size = max(1, min(batch_size, ids.numel() // 2))
    nats = stream_loss(model, batchify(ids, batch_size).to(device), bptt)
    unknown = int((ids == model.vocab.unk_id).sum()) if model.vocab.unk_id is not None else 0
    return describe_loss(nats, cfg.level) | {"symbols": int(ids.numel()), "unknown": unknown}


def describe_loss(nats: float, level: str) -> dict:
    out = {"nats": nats, "bits": nats / math.log(2), "perplexity": math.exp(min(nats, 50))}
    out["headline"] = f"{out['bits']:.3f} bits/char" if level == "char" else f"perplexity {out['perplexity']:.1f}"
    return out


@dataclass
class LMRecord:
    epoch: int
    step: int
    train_loss: float  # nats per symbol
    valid_loss: float
    lr: float
    seconds: float
    symbols_per_second: float
    elapsed: float


@dataclass
class LMResult:
    best_dir: Path
    best_loss: float
    best_epoch: int
    records: list[LMRecord] = field(default_factory=list)
    elapsed: float = 0.0
    stopped: str = ""


def train_lm(
    cfg: LMConfig,
    train_text: str,
    output: str | Path,
    valid_text: str | None = None,
    console: Console | None = None,
) -> LMResult:
    console = console or Console(stderr=True)
    cfg.validate()
    set_threads(cfg.threads)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    started = time.perf_counter()
    if valid_text is None:
        train_text, valid_text = split_valid(train_text, cfg.valid_fraction)
    train_syms = stream(train_text, cfg.level, cfg.lowercase, cfg.reverse)
    valid_syms = stream(valid_text, cfg.level, cfg.lowercase, cfg.reverse)
    vocab: Vocab = build_vocab(train_syms, cfg.level, cfg.min_freq, cfg.max_vocab)
    train_data = batchify(to_ids(train_syms, vocab), cfg.batch_size).to(device)
    valid_data = batchify(to_ids(valid_syms, vocab), min(cfg.batch_size, max(1, len(valid_syms) // (cfg.bptt + 1)))).to(device)
    model = LanguageModel(cfg, vocab).to(device)
    unit = "chars" if cfg.level == "char" else "words"
    console.log(
        f"language model ({cfg.level}, {cfg.layers}x{cfg.hidden} {cfg.cell}{', backward' if cfg.reverse else ''}): "
        f"{len(train_syms):,} training {unit}, {len(valid_syms):,} held out; vocabulary {len(vocab):,}; "
        f"{sum(p.numel() for p in model.parameters()):,} parameters; device {device}"
    )
    if cfg.optimizer not in OPTIMIZERS:
        raise TaggerError(f"unknown optimizer '{cfg.optimizer}' (choose: {', '.join(OPTIMIZERS)})")
    optimizer = OPTIMIZERS[cfg.optimizer](list(model.parameters()), cfg)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.lr_decay, patience=0)
    run_dir = Path(output)
    best_dir = run_dir / "best"
    run_dir.mkdir(parents=True, exist_ok=True)
    windows = list(range(0, train_data.shape[1] - 1, cfg.bptt))
    records: list[LMRecord] = []
    best_loss, best_epoch, bad, stopped = math.inf, 0, 0, "max_epochs"
    show = (lambda n: f"{n / math.log(2):.3f} bpc") if cfg.level == "char" else (lambda n: f"ppl {math.exp(min(n, 50)):.1f}")
    progress = Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("train {task.fields[train]}"), TextColumn("valid {task.fields[valid]}"),
        TextColumn("{task.fields[sps]:,.0f} {task.fields[unit]}/s"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console,
    )

    def validate(epoch: int, step: int, total: float, count: int, since: float) -> bool:
        nonlocal best_loss, best_epoch, bad
        valid_loss = stream_loss(model, valid_data, cfg.bptt)
        now = time.perf_counter()
        records.append(LMRecord(epoch, step, total / max(1, count), valid_loss, optimizer.param_groups[0]["lr"],
                                now - since, count / max(1e-9, now - since), now - started))
        plateau.step(valid_loss)
        improved = valid_loss < best_loss
        if improved:
            best_loss, best_epoch, bad = valid_loss, epoch, 0
            model.save(best_dir)
        else:
            bad += 1
        _write_logs(records, run_dir, best_dir)
        console.log(f"epoch {epoch} step {step}: train {show(records[-1].train_loss)}  valid {show(valid_loss)} "
                    f"({valid_loss:.4f} nats){' (best)' if improved else ''}  lr {records[-1].lr:.1e}")
        progress.update(bar, valid=show(valid_loss) + (" *" if improved else ""))
        return improved

    with progress, StopOnSignal() as stop:
        bar = progress.add_task("lm", total=len(windows), epoch=1, train="-", valid="-", sps=0.0, unit=unit)
        for epoch in range(1, cfg.max_epochs + 1):
            model.train()
            progress.reset(bar, total=len(windows), epoch=f"{epoch}/{cfg.max_epochs}", train="-",
                           valid=show(best_loss) if best_epoch else "-", sps=0.0, unit=unit)
            state, total, count, since = None, 0.0, 0, time.perf_counter()
            for step, start in enumerate(windows, 1):
                inputs = train_data[:, start : start + cfg.bptt]
                targets = train_data[:, start + 1 : start + 1 + cfg.bptt]
                inputs = inputs[:, : targets.shape[1]]
                state = None if state is None else detach(state)
                logits, state = model(inputs, state)
                loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                optimizer.step()
                total += loss.item() * targets.numel()
                count += targets.numel()
                if step % 5 == 0 or step == len(windows):
                    progress.update(bar, completed=step, train=show(total / count),
                                    sps=count / (time.perf_counter() - since))
                over_time = cfg.max_minutes is not None and (time.perf_counter() - started) / 60 > cfg.max_minutes
                if stop.requested or over_time:
                    break
                if cfg.eval_every and step % cfg.eval_every == 0 and step != len(windows):
                    validate(epoch, step, total, count, since)
                    model.train()
            if stop.requested:
                stopped = "interrupted"
            elif over_time:
                stopped = f"time budget of {cfg.max_minutes:g} minutes"
            if count:
                validate(epoch, step, total, count, since)
            if stopped != "max_epochs":
                break
            if bad >= cfg.patience:
                stopped = f"no validation improvement {cfg.patience} times"
                break
    if best_epoch == 0:
        raise TaggerError("training stopped before the first validation, so there is no model yet", run_dir)
    result = LMResult(best_dir, best_loss, best_epoch, records, time.perf_counter() - started, stopped)
    print_lm_summary(result, cfg, console)
    return result


def _write_logs(records: list[LMRecord], run_dir: Path, best_dir: Path) -> None:
    from .plots import plot_lm_training

    text = "".join(json.dumps(asdict(r)) + "\n" for r in records)
    for directory in (run_dir, best_dir):
        if directory.exists():
            atomic_write_text(directory / "metrics.jsonl", text)
            plot_lm_training(records, directory / "training.png")


def print_lm_summary(result: LMResult, cfg: LMConfig, console: Console) -> None:
    table = Table(title="language model", show_header=False)
    best = describe_loss(result.best_loss, cfg.level)
    table.add_row("model", f"{cfg.level} {cfg.layers}x{cfg.hidden} {cfg.cell}{' (backward)' if cfg.reverse else ''}")
    table.add_row("best validation", f"{best['nats']:.4f} nats/symbol, {best['headline']} (epoch {result.best_epoch})")
    table.add_row("validations", str(len(result.records)))
    table.add_row("time", f"{result.elapsed / 60:.1f} min")
    table.add_row("stopped", result.stopped)
    table.add_row("saved", str(result.best_dir))
    console.print(table)
