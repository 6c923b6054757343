"""Training a language model with truncated backpropagation through time, through
the shared :class:`tagger.trainer.Trainer`.

The text is cut into ``batch_size`` parallel streams; each step unrolls ``bptt``
symbols of every stream, and the recurrent state is carried (detached) into the
next window, so the model sees context far beyond one window. The carried state is
part of the checkpoint, so a run resumed mid-epoch continues exactly.
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import Tensor, nn

from ..checkpoint import CHECKPOINT_FILE, load_checkpoint
from ..device import resolve_device, set_threads
from ..errors import TaggerError
from ..trainer import StepLoss, Trainer, TrainResult
from ..training import seed_everything
from .config import LMRecipe
from .model import LanguageModel, State, lm_from_parts
from .text import build_vocab, load_lm_text, stream, to_ids


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


class CarriedState(nn.Module):
    """The recurrent state carried from one window to the next, as tensors a checkpoint
    can hold: ``h{layer}`` (and ``c{layer}`` for an LSTM); none at an epoch's start."""

    def __init__(self) -> None:
        super().__init__()
        self.state: State | None = None

    def to_buffers(self) -> None:
        for name in list(self._buffers):
            del self._buffers[name]
        for i, layer in enumerate(self.state or []):
            for kind, tensor in zip("hc", layer if isinstance(layer, tuple) else (layer,)):
                self.register_buffer(f"{kind}{i}", tensor.detach().contiguous())

    def load(self, tensors: dict[str, Tensor], device: torch.device) -> None:
        layers = sorted({int(k[1:]) for k in tensors})
        if not layers:
            self.state = None
            return
        lstm = any(k.startswith("c") for k in tensors)
        self.state = [(tensors[f"h{i}"].to(device), tensors[f"c{i}"].to(device)) if lstm else tensors[f"h{i}"].to(device)
                      for i in layers]


class LMTraining:
    """The language model's part of training: windows of the training streams in text
    order (the state carries over), their cross-entropy, held-out loss as the score."""

    def __init__(self, recipe: LMRecipe, model: LanguageModel, train_data: Tensor, valid_data: Tensor):
        self.recipe, self.model = recipe, model
        self.train_data, self.valid_data = train_data, valid_data
        self.bptt = recipe.data.bptt
        self.unit = "chars" if recipe.model.level == "char" else "words"
        self.carry = CarriedState()

    def steps_per_epoch(self) -> int:
        return len(range(0, self.train_data.shape[1] - 1, self.bptt))

    def batches(self, rng: random.Random) -> list[int]:
        return list(range(0, self.train_data.shape[1] - 1, self.bptt))  # in order: the state carries over

    def start_epoch(self, epoch: int) -> None:
        self.carry.state = None

    def loss(self, start: int) -> StepLoss:
        targets = self.train_data[:, start + 1 : start + 1 + self.bptt]
        inputs = self.train_data[:, start : start + targets.shape[1]]
        state = None if self.carry.state is None else detach(self.carry.state)
        logits, self.carry.state = self.model(inputs, state)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return StepLoss(loss, targets.numel(), targets.numel())

    def evaluate(self) -> tuple[dict, float]:
        nats = stream_loss(self.model, self.valid_data, self.bptt)
        return describe_loss(nats, self.recipe.model.level), -nats

    def save(self, directory: Path) -> None:
        self.model.save(directory)

    def checkpoint_parts(self) -> tuple[dict, str]:
        return {"family": "lm", "recipe": self.recipe.to_dict(), "lm": self.model.describe()}, "{}"

    def checkpoint_module(self) -> nn.Module:
        self.carry.to_buffers()
        return nn.ModuleDict({"model": self.model, "carry": self.carry})

    def restore(self, ckpt: Any) -> None:
        tensors = {k[len("carry."):]: v for k, v in ckpt.model_weights.items() if k.startswith("carry.")}
        self.carry.load(tensors, self.train_data.device)

    def format_score(self, score: float) -> str:
        return describe_loss(-score, self.recipe.model.level)["headline"]

    def describe(self, report: dict) -> str:
        return f"valid {report['headline']} ({report['nats']:.4f} nats)"

    def summary_columns(self, report: dict) -> dict[str, str]:
        return {"bits": f"{report['bits']:.3f}", "perplexity": f"{report['perplexity']:.2f}"}

    @property
    def resume_command(self) -> str:
        return "tagger lm train --resume {run_dir}"


def train_lm(recipe: LMRecipe | None, output: str | Path, console: Console | None = None, *,
             train_text: str | None = None, valid_text: str | None = None, resume: bool = False,
             checkpoint_every: int = 0, changes: dict | None = None) -> TrainResult:
    """Train a language model into the run directory ``output`` (best model in
    ``output/best``). The text comes from ``recipe.data`` unless ``train_text`` (and
    ``valid_text``) are given; without held-out text the last ``data.valid_fraction``
    of the training text is held out. ``resume=True`` continues the run in ``output``
    from its checkpoint exactly (the recipe comes from it; ``changes`` may set threads,
    device and max_minutes)."""
    console = console or Console(stderr=True)
    run_dir = Path(output)
    ckpt = load_checkpoint(run_dir / CHECKPOINT_FILE) if resume else None
    if ckpt is not None:
        if ckpt.config.get("family") != "lm":
            raise TaggerError("not a language-model training run (its checkpoint is of another kind of model)",
                              run_dir / CHECKPOINT_FILE)
        recipe = LMRecipe.from_dict(ckpt.config["recipe"], str(run_dir / CHECKPOINT_FILE))
        for name, value in (changes or {}).items():
            setattr(recipe.train, name, value)
    if recipe is None:
        raise TaggerError("give a recipe, or --resume RUN_DIR")
    recipe.check("<recipe>")
    set_threads(recipe.train.threads)
    seed_everything(recipe.train.seed)
    started = time.perf_counter()
    task = _build_task(recipe, ckpt, train_text, valid_text, console, run_dir / CHECKPOINT_FILE)
    trainer = Trainer(task, recipe.train, run_dir, console, checkpoint_every=checkpoint_every, name="lm")
    return trainer.run(ckpt, setup_seconds=time.perf_counter() - started)


def _build_task(recipe: LMRecipe, ckpt: Any, train_text: str | None, valid_text: str | None,
                console: Console, ckpt_path: Path) -> LMTraining:
    cfg, device = recipe.model, resolve_device(recipe.train.device)
    if train_text is None:
        if ckpt is not None and not recipe.data.train:
            raise TaggerError("this run was trained on text given from Python: resume it with train_lm(..., "
                              "train_text=..., resume=True)")
        train_text, valid_text, described = load_lm_text(recipe.data)
        console.log(f"training text: {described}")
    if valid_text is None:
        train_text, valid_text = split_valid(train_text, recipe.data.valid_fraction)
    train_syms = stream(train_text, cfg.level, cfg.lowercase, cfg.reverse)
    valid_syms = stream(valid_text, cfg.level, cfg.lowercase, cfg.reverse)
    if ckpt is None:
        model = LanguageModel(cfg, build_vocab(train_syms, cfg.level, cfg.min_freq, cfg.max_vocab))
    else:
        weights = {k[len("model."):]: v for k, v in ckpt.model_weights.items() if k.startswith("model.")}
        model = lm_from_parts(ckpt.config["lm"], weights, ckpt_path).train()
    model.to(device)
    streams = recipe.train.batch_size
    train_data = batchify(to_ids(train_syms, model.vocab), streams).to(device)
    valid_streams = min(streams, max(1, len(valid_syms) // (recipe.data.bptt + 1)))
    valid_data = batchify(to_ids(valid_syms, model.vocab), valid_streams).to(device)
    unit = "chars" if cfg.level == "char" else "words"
    console.log(
        f"language model ({cfg.level}, {cfg.layers}x{cfg.hidden} {cfg.cell}{', backward' if cfg.reverse else ''}): "
        f"{len(train_syms):,} training {unit}, {len(valid_syms):,} held out; vocabulary {len(model.vocab):,}; "
        f"{sum(p.numel() for p in model.parameters()):,} parameters; device {device}"
    )
    return LMTraining(recipe, model, train_data, valid_data)
