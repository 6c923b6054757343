"""Linear-chain CRF with optional hard transition constraints (e.g. BIO).

Shapes: ``B`` batch, ``T`` time steps, ``L`` labels.  Masks are boolean ``[B, T]``,
left-aligned (valid prefix, then padding), and every sequence has length >= 1.
Transitions are indexed ``[from, to]``.

Score of a path ``y`` of length ``n``::

    start[y0] + sum_t emissions[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{n-1}]

Disallowed start/transition/end entries are replaced by ``-10000.`` every time they are
used, whatever the parameter holds, so the model can never learn its way around them.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .decode import NEG, viterbi


def _bool_buffer(value, shape: tuple[int, ...], name: str) -> Tensor:
    if value is None:
        return torch.ones(shape, dtype=torch.bool)
    t = torch.as_tensor(value, dtype=torch.bool).detach().clone()
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(t.shape)}")
    return t


class CRF(nn.Module):
    """Linear-chain CRF over ``num_labels`` labels.

    ``allowed_start [L]``, ``allowed [L, L]`` (from, to) and ``allowed_end [L]`` are boolean
    masks (tensors or nested lists; ``None`` = everything allowed).  They are buffers, so they
    are saved in ``state_dict``.
    """

    def __init__(
        self,
        num_labels: int,
        allowed_start: Tensor | Sequence[bool] | None = None,
        allowed: Tensor | Sequence[Sequence[bool]] | None = None,
        allowed_end: Tensor | Sequence[bool] | None = None,
    ):
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        L = self.num_labels = int(num_labels)
        self.register_buffer("allowed_start", _bool_buffer(allowed_start, (L,), "allowed_start"))
        self.register_buffer("allowed", _bool_buffer(allowed, (L, L), "allowed"))
        self.register_buffer("allowed_end", _bool_buffer(allowed_end, (L,), "allowed_end"))
        self.transitions = nn.Parameter(torch.empty(L, L))
        self.start = nn.Parameter(torch.empty(L))
        self.end = nn.Parameter(torch.empty(L))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in (self.transitions, self.start, self.end):
            nn.init.uniform_(p, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_labels={self.num_labels}"

    # ------------------------------------------------------------------ helpers

    def masked_params(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(transitions, start, end)`` with disallowed entries forced to ``-10000.``."""
        neg = torch.full((), NEG, dtype=self.transitions.dtype, device=self.transitions.device)
        return (
            torch.where(self.allowed, self.transitions, neg),
            torch.where(self.allowed_start, self.start, neg),
            torch.where(self.allowed_end, self.end, neg),
        )

    def _check(self, emissions: Tensor, mask: Tensor | None, tags: Tensor | None = None) -> Tensor:
        if emissions.dim() != 3:
            raise ValueError(f"CRF emissions must be [B, T, L], got shape {list(emissions.shape)}")
        B, T, L = emissions.shape
        if L != self.num_labels:
            raise ValueError(f"CRF has {self.num_labels} labels but emissions have {L} (shape {list(emissions.shape)})")
        if T == 0:
            raise ValueError("CRF emissions have no time steps (T == 0)")
        if tags is not None and tuple(tags.shape) != (B, T):
            raise ValueError(f"CRF tags must be [{B}, {T}] to match emissions, got {list(tags.shape)}")
        if mask is None:
            return torch.ones(B, T, dtype=torch.bool, device=emissions.device)
        if tuple(mask.shape) != (B, T):
            raise ValueError(f"CRF mask must be [{B}, {T}] to match emissions, got {list(mask.shape)}")
        mask = mask.to(device=emissions.device, dtype=torch.bool)
        if not bool(mask[:, 0].all()):
            raise ValueError("CRF mask: every sequence must have length >= 1 (mask[:, 0] must be all True)")
        return mask

    # ------------------------------------------------------------------ API

    def log_partition(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """``log Z`` per sequence, ``[B]`` (forward algorithm)."""
        mask = self._check(emissions, mask)
        return self._log_partition(emissions, mask, *self.masked_params())

    def _log_partition(self, emissions: Tensor, mask: Tensor, trans: Tensor, start: Tensor, end: Tensor) -> Tensor:
        return log_partition(emissions, mask, trans, start, end)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """Score of the gold path ``tags`` per sequence, ``[B]``.  Padding tags are ignored."""
        mask = self._check(emissions, mask, tags)
        return self._score(emissions, tags, mask, *self.masked_params())

    def _score(self, emissions: Tensor, tags: Tensor, mask: Tensor, trans: Tensor, start: Tensor, end: Tensor) -> Tensor:
        tags = tags.to(device=emissions.device, dtype=torch.long).masked_fill(~mask, 0)
        maskf = mask.to(emissions.dtype)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # [B, T]
        total = start[tags[:, 0]] + (emit * maskf).sum(1)
        if tags.shape[1] > 1:
            total = total + (trans[tags[:, :-1], tags[:, 1:]] * maskf[:, 1:]).sum(1)
        last = mask.long().sum(1) - 1  # [B]
        last_tags = tags.gather(1, last.unsqueeze(1)).squeeze(1)
        return total + end[last_tags]

    def soft_nll(self, emissions: Tensor, unary: Tensor, pairwise: Tensor, mask: Tensor | None = None,
                 tags: Tensor | None = None, weight: float = 1.0) -> Tensor:
        """Cross-entropy from a target distribution over paths to this CRF's, per sequence ``[B]``:
        ``log Z - E_q[score]``, the target ``q`` given by its marginals (:func:`marginals`:
        ``unary [B, T, L]``, ``pairwise [B, T-1, L, L]``, zero at padding). With ``tags``,
        the target is ``weight * q + (1 - weight) * (the path tags)``, and log Z is computed once."""
        mask = self._check(emissions, mask, tags)
        trans, start, end = self.masked_params()
        out = self._log_partition(emissions, mask, trans, start, end)
        out = out - weight * expected_score(emissions, unary, pairwise, mask, trans, start, end)
        if tags is not None and weight < 1.0:
            out = out - (1.0 - weight) * self._score(emissions, tags, mask, trans, start, end)
        return out

    def marginals(self, emissions: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """This CRF's label marginals ``[B, T, L]`` and pairwise marginals ``[B, T-1, L, L]``."""
        mask = self._check(emissions, mask)
        return marginals(emissions, mask, *self.masked_params())

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None, reduction: str = "sum") -> Tensor:
        """Negative log-likelihood ``log Z - score(tags)``; reduction ``"sum"``, ``"mean"`` or ``"none"``."""
        if reduction not in ("sum", "mean", "none"):
            raise ValueError(f"reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
        mask = self._check(emissions, mask, tags)
        params = self.masked_params()
        out = self._log_partition(emissions, mask, *params) - self._score(emissions, tags, mask, *params)
        if reduction == "sum":
            return out.sum()
        if reduction == "mean":
            return out.mean()
        return out

    def forward(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None, reduction: str = "sum") -> Tensor:
        """Same as :meth:`nll`."""
        return self.nll(emissions, tags, mask, reduction)

    def decode(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """Best path per sequence, ``LongTensor[B, T]`` with 0 at masked positions."""
        mask = self._check(emissions, mask)
        with torch.no_grad():
            trans, start, end = self.masked_params()
            return viterbi(emissions.detach(), mask, trans, start, end)


def log_partition(emissions: Tensor, mask: Tensor, trans: Tensor, start: Tensor, end: Tensor,
                  pair: Tensor | None = None) -> Tensor:
    """``log Z`` per sequence ``[B]`` by the forward algorithm; ``pair [B, T-1, L, L]`` adds a
    score to each step's transitions (zero: the gradient of log Z by it is the pairwise marginals)."""
    trans = trans.unsqueeze(0)  # [1, L_from, L_to]
    # unbind once: T views whose backward is a single stack (indexing emissions[:, t] in the
    # loop would cost a full-size zero tensor per step in the backward pass).
    emit = emissions.unbind(1)  # T x [B, L]
    step_mask = mask.unsqueeze(2).unbind(1)  # T x [B, 1]
    steps = pair.unbind(1) if pair is not None else None
    alpha = start.unsqueeze(0) + emit[0]  # [B, L]
    for t in range(1, len(emit)):
        step = trans if steps is None else trans + steps[t - 1]
        nxt = torch.logsumexp(alpha.unsqueeze(2) + step, dim=1) + emit[t]
        alpha = torch.where(step_mask[t], nxt, alpha)
    return torch.logsumexp(alpha + end.unsqueeze(0), dim=1)


def marginals(emissions: Tensor, mask: Tensor, trans: Tensor, start: Tensor, end: Tensor) -> tuple[Tensor, Tensor]:
    """Label marginals ``[B, T, L]`` and pairwise marginals ``[B, T-1, L, L]`` (``[b, t, i, j]``:
    label ``i`` at ``t`` and ``j`` at ``t + 1``) of a CRF with these scores, zero at padding:
    the gradients of log Z (forward-backward by autograd). Not for use under inference mode."""
    B, T, L = emissions.shape
    with torch.enable_grad():
        emissions = emissions.detach().clone().requires_grad_()
        pair = emissions.new_zeros(B, T - 1, L, L, requires_grad=True)
        trans, start, end = (p.detach().to(emissions.dtype) for p in (trans, start, end))
        log_z = log_partition(emissions, mask, trans, start, end, pair)
        # A batch of one-word sentences has no transitions: pair is then unused.
        unary, pairwise = torch.autograd.grad(log_z.sum(), (emissions, pair), allow_unused=True)
    return unary * mask.unsqueeze(2), torch.zeros_like(pair) if pairwise is None else pairwise


def expected_score(emissions: Tensor, unary: Tensor, pairwise: Tensor, mask: Tensor,
                   trans: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """``E_q[score(y)]`` per sequence ``[B]`` under the distribution with these marginals."""
    unary = unary.to(emissions.dtype) * mask.unsqueeze(2)
    last = (mask.long().sum(1) - 1).view(-1, 1, 1).expand(-1, 1, unary.shape[2])
    total = (unary * emissions).sum((1, 2)) + unary[:, 0] @ start + unary.gather(1, last).squeeze(1) @ end
    if pairwise.shape[1] > 0:
        total = total + (pairwise.to(emissions.dtype) * trans).sum((1, 2, 3))
    return total
