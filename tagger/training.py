"""What every trainer shares: optimizers and learning-rate schedules by name, the
signal handler that turns Ctrl-C into a clean stop, and seeding."""
from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable
from typing import Any

import torch

from .config import TrainConfig
from .errors import TaggerError

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
