"""Poolings: encoder states [B, T, H] and a mask [B, T] -> one vector per sentence [B, H].

Looked up by name in ``POOLINGS`` (``@register_pooling``). Every pooling reads the
real tokens only, so padding a sentence (batching it with longer ones) never
changes its vector. ``forward`` returns ``(pooled, weights)``: ``weights`` [B, T]
are the attention weights for ``attention`` and None for the others.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..registry import poolings as POOLINGS


def register_pooling(name: str) -> Callable[[type["Pooling"]], type["Pooling"]]:
    """Class decorator adding a :class:`Pooling` to ``POOLINGS`` (``heads.pooling = "name"``)."""
    return POOLINGS.register(name)


class Pooling(nn.Module):
    """``in_dim`` is the encoder's output size: ``hidden`` per direction times ``directions``."""

    def __init__(self, in_dim: int, hidden: int, directions: int, attention_dim: int = 128):
        super().__init__()
        self.in_dim, self.hidden, self.directions = in_dim, hidden, directions
        self.out_dim = in_dim

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError


@register_pooling("mean")
class MeanPooling(Pooling):
    """The average of the real tokens' states."""

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, None]:
        m = mask.unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / m.sum(1).clamp(min=1.0), None


@register_pooling("max")
class MaxPooling(Pooling):
    """The element-wise maximum over the real tokens (padding counts as -inf)."""

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, None]:
        return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1), None


@register_pooling("last")
class LastPooling(Pooling):
    """What each direction read last: the forward state at the last real token and,
    for a bidirectional encoder, the backward state at the first token."""

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, None]:
        last = mask.sum(1).clamp(min=1) - 1  # [B] index of the last real token
        rows = torch.arange(states.shape[0], device=states.device)
        forward = states[rows, last, : self.hidden]
        if self.directions == 1:
            return forward, None
        return torch.cat([forward, states[:, 0, self.hidden :]], dim=-1), None


@register_pooling("attention")
class AttentionPooling(Pooling):
    """Additive attention: score_t = w2^T tanh(W1 h_t), softmax over the real tokens,
    and the weighted sum of the states."""

    def __init__(self, in_dim: int, hidden: int, directions: int, attention_dim: int = 128):
        super().__init__(in_dim, hidden, directions, attention_dim)
        self.w1 = nn.Linear(in_dim, attention_dim)
        self.w2 = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        scores = self.w2(torch.tanh(self.w1(states))).squeeze(-1)  # [B, T]
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        weights = weights.masked_fill(~mask, 0.0)  # exact zeros, NaN-free even for an empty row
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1), weights
