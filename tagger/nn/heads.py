"""Task heads: each turns encoder states into a loss and decoded label ids.

Heads are looked up by name in ``HEADS`` (``@register_head``), so a recipe picks
one with ``kind = "crf"`` and new heads need no change elsewhere.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..schemes import transition_mask
from .crf import CRF
from .decode import constrained_decode

HEADS: dict[str, type["TokenHead"]] = {}


def register_head(name: str) -> Callable[[type["TokenHead"]], type["TokenHead"]]:
    def add(cls: type["TokenHead"]) -> type["TokenHead"]:
        HEADS[name] = cls
        return cls

    return add


def label_constraints(labels: Sequence[str], span: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Allowed start/transition/end masks over ``labels``, whose id 0 is padding.

    Padding is never a legal label; span (BIO) label sets also forbid I-X after O
    or after another type.
    """
    n = len(labels)
    start = torch.ones(n, dtype=torch.bool)
    trans = torch.ones(n, n, dtype=torch.bool)
    end = torch.ones(n, dtype=torch.bool)
    if span:
        s, t, e = transition_mask(list(labels[1:]))
        start[1:], trans[1:, 1:], end[1:] = torch.tensor(s), torch.tensor(t), torch.tensor(e)
    start[0] = end[0] = False
    trans[0, :] = trans[:, 0] = False
    return start, trans, end


class TokenHead(nn.Module):
    def __init__(self, in_dim: int, labels: Sequence[str], span: bool):
        super().__init__()
        self.proj = nn.Linear(in_dim, len(labels))
        self.span = span
        start, trans, end = label_constraints(labels, span)
        self.register_buffer("allowed_start", start, persistent=False)
        self.register_buffer("allowed", trans, persistent=False)
        self.register_buffer("allowed_end", end, persistent=False)

    def loss(self, states: Tensor, gold: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError

    def decode(self, states: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError


@register_head("softmax")
class SoftmaxHead(TokenHead):
    """Independent per-token softmax; decoding still respects BIO transitions."""

    def loss(self, states: Tensor, gold: Tensor, mask: Tensor) -> Tensor:
        logits = self.proj(states)
        return F.cross_entropy(logits[mask], gold[mask], reduction="sum") / mask.shape[0]

    def decode(self, states: Tensor, mask: Tensor) -> Tensor:
        logits = self.proj(states)
        if not self.span:  # no transition constraints: a plain argmax is the best path
            return logits[..., 1:].argmax(-1).add(1).masked_fill(~mask, 0)
        log_probs = F.log_softmax(logits, dim=-1)
        return constrained_decode(log_probs, mask, self.allowed_start, self.allowed, self.allowed_end)


@register_head("crf")
class CRFHead(TokenHead):
    """Linear-chain CRF (Lample et al. 2016) with the same hard constraints."""

    def __init__(self, in_dim: int, labels: Sequence[str], span: bool):
        super().__init__(in_dim, labels, span)
        self.crf = CRF(len(labels), self.allowed_start, self.allowed, self.allowed_end)

    def loss(self, states: Tensor, gold: Tensor, mask: Tensor) -> Tensor:
        return self.crf.nll(self.proj(states), gold, mask, reduction="sum") / mask.shape[0]

    def decode(self, states: Tensor, mask: Tensor) -> Tensor:
        return self.crf.decode(self.proj(states), mask)
