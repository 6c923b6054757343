"""What every trainer shares: optimizers and learning-rate schedules by name, the
signal handler that turns Ctrl-C into a clean stop, and seeding."""
from __future__ import annotations

import random
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .config import TrainConfig
from .registry import optimizers as OPTIMIZERS
from .registry import schedules as SCHEDULES


# name -> (parameters, TrainConfig-like cfg with lr, weight_decay, momentum) -> optimizer
def _adam(cls: type) -> Any:
    def make(params: list, cfg: TrainConfig) -> torch.optim.Optimizer:
        if getattr(cfg, "fused", False):
            try:  # one fused kernel over all parameters: ~3x faster steps on a CPU when a large
                # word-vector matrix makes the optimizer step a large share of an epoch
                return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
            except (RuntimeError, TypeError):  # a PyTorch or device without fused kernels
                pass
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    return make


OPTIMIZERS.register("adam", _adam(torch.optim.Adam))
OPTIMIZERS.register("adamw", _adam(torch.optim.AdamW))
OPTIMIZERS.register("nadam", lambda p, c: torch.optim.NAdam(p, lr=c.lr, weight_decay=c.weight_decay))
OPTIMIZERS.register("sgd", lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay))
# Tai et al. (2015) trained their Tree-LSTMs with Adagrad.
OPTIMIZERS.register("adagrad", lambda p, c: torch.optim.Adagrad(p, lr=c.lr, weight_decay=c.weight_decay))

# A schedule: (optimizer, cfg, total steps) -> (scheduler stepped per batch, scheduler stepped per epoch), either None.
Schedulers = tuple[Any, Any]


@SCHEDULES.register("constant")
def _constant(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total: int) -> Schedulers:
    return None, None


@SCHEDULES.register("plateau")
def _plateau(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total: int) -> Schedulers:
    """Decay by ``lr_decay`` when the dev score has not risen for ``schedule_patience`` epochs."""
    return None, torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=cfg.lr_decay, patience=cfg.schedule_patience
    )


@SCHEDULES.register("linear")
def _linear(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total: int) -> Schedulers:
    """Down to zero over the whole run, a step per batch."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total)), None


@SCHEDULES.register("exponential")
def _exponential(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total: int) -> Schedulers:
    return None, torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)


class Schedule:
    """The recipe's learning-rate schedule (``SCHEDULES``), stepped per batch (linear) or per epoch (the rest)."""

    NAMES = SCHEDULES  # the names, as before; the registry reads like a tuple of them

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
        make = SCHEDULES[cfg.schedule]  # an unknown name: one line listing the schedules
        self.cfg = cfg
        self.optimizer = optimizer
        self.per_batch, self.per_epoch = make(optimizer, cfg, max(1, cfg.max_epochs * steps_per_epoch))

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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


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
