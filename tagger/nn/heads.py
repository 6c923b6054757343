"""Task heads: each turns encoder states into a loss and decoded label ids.

Heads are looked up by name in ``HEADS`` (``@register_head``), so a recipe picks
one with ``kind = "crf"`` and new heads need no change elsewhere. A head is built
with plain arguments: ``(input_size, labels, span=...)`` for a token head
(``level = "token"``), ``(input_size, labels, pooling=..., hidden=..., directions=...,
multi_label=..., threshold=..., attention_dim=...)`` for a sentence head
(``level = "sentence"``); the tagger's builder (``tagger.model``) reads the recipe.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import heads as HEADS
from ..schemes import transition_mask
from .crf import CRF, marginals
from .decode import constrained_decode, viterbi
from .pooling import POOLINGS


def register_head(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator adding a head to ``HEADS`` (``heads.kind = "name"`` in a recipe)."""
    return HEADS.register(name)


def head_level(kind: str) -> str:
    """``"token"`` (a label per word) or ``"sentence"`` (labels per sentence) for a head kind;
    an unknown kind counts as a token head (the model reports it when it is built)."""
    cls = HEADS.get(kind)
    return getattr(cls, "level", "token")


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
    """A label per token; ``labels`` has padding at id 0."""

    level = "token"

    def __init__(self, input_size: int, labels: Sequence[str], span: bool = False):
        super().__init__()
        self.proj = nn.Linear(input_size, len(labels))
        self.span = span
        start, trans, end = label_constraints(labels, span)
        self.register_buffer("allowed_start", start, persistent=False)
        self.register_buffer("allowed", trans, persistent=False)
        self.register_buffer("allowed_end", end, persistent=False)

    def loss(self, states: Tensor, gold: Tensor, mask: Tensor, soft: tuple[Tensor, ...] | None = None,
             soft_weight: float = 0.0) -> Tensor:
        """The loss against the gold labels, or (``soft``, a teacher's :meth:`soft_targets`)
        the cross-entropy against ``soft_weight * teacher + (1 - soft_weight) * gold``."""
        raise NotImplementedError

    def decode(self, states: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError

    def soft_targets(self, heads: Sequence["TokenHead"], states: Sequence[Tensor], mask: Tensor) -> tuple[Tensor, ...]:
        """The label distribution of ``heads`` (this one among them: an ensemble, or just
        this head) for distillation, as tensors with a time axis, zero at padding."""
        raise NotImplementedError

    def decode_mean(self, heads: Sequence["TokenHead"], states: Sequence[Tensor], mask: Tensor) -> Tensor:
        """The labels of an ensemble: ``heads`` (this one among them, all of its kind and
        labels) each read its own model's ``states``, and their scores are averaged."""
        raise NotImplementedError


@register_head("softmax")
class SoftmaxHead(TokenHead):
    """Independent per-token softmax; decoding still respects BIO transitions."""

    def loss(self, states: Tensor, gold: Tensor, mask: Tensor, soft: tuple[Tensor, ...] | None = None,
             soft_weight: float = 0.0) -> Tensor:
        logits = self.proj(states)
        total = F.cross_entropy(logits[mask], gold[mask], reduction="sum")
        if soft is not None:
            log_probs = F.log_softmax(logits[mask], dim=-1)
            teacher = -(soft[0][mask].to(log_probs.dtype) * log_probs).sum()
            total = soft_weight * teacher + (1.0 - soft_weight) * total
        return total / mask.shape[0]

    def soft_targets(self, heads: Sequence[TokenHead], states: Sequence[Tensor], mask: Tensor) -> tuple[Tensor, ...]:
        # The normalised product of the models' distributions, as decode_mean decodes it.
        log_probs = torch.stack([F.log_softmax(h.proj(s), dim=-1) for h, s in zip(heads, states)]).mean(0)
        return (torch.softmax(log_probs, dim=-1) * mask.unsqueeze(2),)

    def decode(self, states: Tensor, mask: Tensor) -> Tensor:
        logits = self.proj(states)
        if not self.span:  # no transition constraints: a plain argmax is the best path
            return logits[..., 1:].argmax(-1).add(1).masked_fill(~mask, 0)
        log_probs = F.log_softmax(logits, dim=-1)
        return constrained_decode(log_probs, mask, self.allowed_start, self.allowed, self.allowed_end)

    def decode_mean(self, heads: Sequence[TokenHead], states: Sequence[Tensor], mask: Tensor) -> Tensor:
        # The mean log-probability: the labels with the highest product of the models' probabilities.
        log_probs = torch.stack([F.log_softmax(h.proj(s), dim=-1) for h, s in zip(heads, states)]).mean(0)
        if not self.span:
            return log_probs[..., 1:].argmax(-1).add(1).masked_fill(~mask, 0)
        return constrained_decode(log_probs, mask, self.allowed_start, self.allowed, self.allowed_end)


@register_head("crf")
class CRFHead(TokenHead):
    """Linear-chain CRF (Lample et al. 2016) with the same hard constraints."""

    def __init__(self, input_size: int, labels: Sequence[str], span: bool = False):
        super().__init__(input_size, labels, span)
        self.crf = CRF(len(labels), self.allowed_start, self.allowed, self.allowed_end)

    def loss(self, states: Tensor, gold: Tensor, mask: Tensor, soft: tuple[Tensor, ...] | None = None,
             soft_weight: float = 0.0) -> Tensor:
        emissions = self.proj(states)
        if soft is None:
            return self.crf.nll(emissions, gold, mask, reduction="sum") / mask.shape[0]
        unary, pairwise = soft
        return self.crf.soft_nll(emissions, unary, pairwise[:, 1:], mask, gold, soft_weight).sum() / mask.shape[0]

    def soft_targets(self, heads: Sequence[TokenHead], states: Sequence[Tensor], mask: Tensor) -> tuple[Tensor, ...]:
        # The marginals of the CRF decode_mean decodes (mean emissions and transitions). The
        # pairwise ones get a zero first step, so that both have a time axis of T.
        emissions = torch.stack([h.proj(s) for h, s in zip(heads, states)]).mean(0)
        trans, start, end = (torch.stack(p).mean(0) for p in zip(*(h.crf.masked_params() for h in heads)))
        unary, pairwise = marginals(emissions, mask, trans, start, end)
        return unary, torch.cat([pairwise.new_zeros(pairwise[:, :1].shape), pairwise], dim=1)

    def decode(self, states: Tensor, mask: Tensor) -> Tensor:
        return self.crf.decode(self.proj(states), mask)

    def decode_mean(self, heads: Sequence[TokenHead], states: Sequence[Tensor], mask: Tensor) -> Tensor:
        # A CRF's path score is its log-probability plus a per-sentence constant, so Viterbi
        # over the mean of the emissions and transitions finds the path with the highest
        # product of the models' probabilities.
        emissions = torch.stack([h.proj(s) for h, s in zip(heads, states)]).mean(0)
        trans, start, end = (torch.stack(p).mean(0) for p in zip(*(h.crf.masked_params() for h in heads)))
        return viterbi(emissions, mask, trans, start, end)


@register_head("classify")
class PooledClassifierHead(nn.Module):
    """A label (or, ``multi_label``, a set of labels) per sentence: the encoder states
    are pooled into one vector (``POOLINGS``) and projected onto the classes.

    ``labels`` has no padding entry. The loss is cross-entropy over a softmax, or
    binary cross-entropy on each class's sigmoid for multi-label tasks, summed over
    the batch and divided by its size like the token heads. ``decode`` returns the
    class probabilities [B, C]; ``choose`` turns them into label ids.
    """

    level = "sentence"

    def __init__(
        self,
        input_size: int,
        labels: Sequence[str],
        pooling: str = "mean",
        hidden: int | None = None,
        directions: int = 1,
        multi_label: bool = False,
        threshold: float = 0.5,
        attention_dim: int = 128,
    ):
        super().__init__()
        pool_cls = POOLINGS[pooling]  # an unknown name: one line listing the poolings
        if not labels:
            raise ValueError("a classify head needs at least one label")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        if attention_dim < 1:
            raise ValueError(f"attention_dim must be positive, got {attention_dim}")
        self.pooling_name = pooling
        self.pool = pool_cls(input_size, hidden or input_size // directions, directions, attention_dim)
        self.proj = nn.Linear(self.pool.out_dim, len(labels))
        self.multi_label = multi_label
        self.threshold = threshold

    def logits(self, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None]:
        pooled, weights = self.pool(states, mask)
        return self.proj(pooled), weights

    def loss(self, states: Tensor, gold: Tensor, mask: Tensor, soft: tuple[Tensor, ...] | None = None,
             soft_weight: float = 0.0) -> Tensor:
        """Against the gold labels, or (``soft``: a teacher's class probabilities [B, C])
        against ``soft_weight * teacher + (1 - soft_weight) * gold``."""
        logits, _ = self.logits(states, mask)
        if self.multi_label:
            target = gold.to(logits.dtype)
            if soft is not None:
                target = soft_weight * soft[0].to(logits.dtype) + (1.0 - soft_weight) * target
            return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / mask.shape[0]
        loss = F.cross_entropy(logits, gold.view(-1), reduction="sum")
        if soft is not None:
            teacher = -(soft[0].to(logits.dtype) * F.log_softmax(logits, dim=-1)).sum()
            loss = soft_weight * teacher + (1.0 - soft_weight) * loss
        return loss / mask.shape[0]

    def soft_targets(self, heads: Sequence["PooledClassifierHead"], states: Sequence[Tensor], mask: Tensor) -> tuple[Tensor, ...]:
        """The mean class probabilities of ``heads`` (this one among them), for distillation."""
        return (self.decode_mean(heads, states, mask),)

    def probabilities(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)

    def decode(self, states: Tensor, mask: Tensor) -> Tensor:
        return self.probabilities(self.logits(states, mask)[0])

    def decode_mean(self, heads: Sequence["PooledClassifierHead"], states: Sequence[Tensor], mask: Tensor) -> Tensor:
        """An ensemble's class probabilities: the mean of ``heads``' (this one among them)."""
        return torch.stack([h.decode(s, mask) for h, s in zip(heads, states)]).mean(0)

    def attention(self, states: Tensor, mask: Tensor) -> Tensor:
        """The attention weights [B, T] over the tokens (attention pooling only)."""
        _, weights = self.pool(states, mask)
        if weights is None:
            raise ValueError(f"the '{self.pooling_name}' pooling has no attention weights")
        return weights

    def choose(self, probs: Tensor) -> list[list[int]]:
        """Label ids per sentence: the most probable class, or (multi-label) every
        class at or above the threshold, most probable first (possibly none)."""
        if not self.multi_label:
            return [[i] for i in probs.argmax(-1).tolist()]
        chosen = []
        for row in probs.tolist():
            ids = [i for i, p in enumerate(row) if p >= self.threshold]
            chosen.append(sorted(ids, key=lambda i: -row[i]))
        return chosen
