"""Dropout that drops the same features at every time step of a sentence."""
from __future__ import annotations

from torch import Tensor, nn


class LockedDropout(nn.Module):
    """Variational dropout (Gal & Ghahramani 2016) over [B, T, D]: one mask per
    sentence, so a dropped feature stays dropped for the whole sequence."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


def make_dropout(p: float, locked: bool) -> nn.Module:
    return LockedDropout(p) if locked else nn.Dropout(p)
