"""Batched Viterbi decoding, shared by the CRF head and the constrained softmax head.

Shapes: ``B`` batch, ``T`` time steps, ``L`` labels.  Masks are boolean ``[B, T]`` and
left-aligned (a valid prefix, then padding); every sequence has at least one valid step.
Transition matrices are indexed ``[from, to]``.
"""
from __future__ import annotations

import torch
from torch import Tensor

#: Score given to a disallowed transition.  Finite on purpose: ``-inf`` can turn into NaN
#: (``-inf - -inf``) when every transition into a label is disallowed.
NEG = -10000.0


def mask_to_scores(allowed: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Boolean "allowed" mask -> additive scores: ``0.`` where allowed, ``-10000.`` where not."""
    allowed = torch.as_tensor(allowed, dtype=torch.bool)
    return torch.where(
        allowed,
        torch.zeros((), dtype=dtype, device=allowed.device),
        torch.full((), NEG, dtype=dtype, device=allowed.device),
    )


def _check(emissions: Tensor, mask: Tensor | None, transitions: Tensor, start: Tensor, end: Tensor) -> Tensor:
    if emissions.dim() != 3:
        raise ValueError(f"emissions must be [B, T, L], got shape {tuple(emissions.shape)}")
    B, T, L = emissions.shape
    if T == 0:
        raise ValueError("emissions have no time steps (T == 0)")
    if tuple(transitions.shape) != (L, L):
        raise ValueError(f"transitions must be [{L}, {L}] to match emissions, got {tuple(transitions.shape)}")
    if tuple(start.shape) != (L,) or tuple(end.shape) != (L,):
        raise ValueError(
            f"start/end must be [{L}] to match emissions, got {tuple(start.shape)} and {tuple(end.shape)}"
        )
    if mask is None:
        return torch.ones(B, T, dtype=torch.bool, device=emissions.device)
    if tuple(mask.shape) != (B, T):
        raise ValueError(f"mask must be [{B}, {T}] to match emissions, got {tuple(mask.shape)}")
    return mask.to(device=emissions.device, dtype=torch.bool)


def viterbi(emissions: Tensor, mask: Tensor | None, transitions: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """Best label sequence per batch item.

    Score of a path ``y`` with length ``n``:
    ``start[y0] + sum_t emissions[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{n-1}]``.

    Returns ``LongTensor[B, T]``; masked (padding) positions hold 0.  Padding never affects
    the result for the valid prefix.  Vectorised over batch and labels; loops over time only.
    """
    mask = _check(emissions, mask, transitions, start, end)
    B, T, L = emissions.shape
    dtype, device = emissions.dtype, emissions.device
    with torch.no_grad():
        trans = transitions.to(device=device, dtype=dtype).unsqueeze(0)  # [1, L, L]
        emit = emissions.unbind(1)  # T x [B, L]
        step_mask = mask.unsqueeze(2).unbind(1)  # T x [B, 1]
        score = start.to(device=device, dtype=dtype).unsqueeze(0) + emit[0]  # [B, L]
        # At a padding step the back-pointer is the identity, so the last valid tag is carried
        # through the padding unchanged (and score is left untouched).
        identity = torch.arange(L, device=device).unsqueeze(0).expand(B, L)
        backpointers = []
        for t in range(1, T):
            best, idx = (score.unsqueeze(2) + trans).max(dim=1)  # over "from": [B, L_to]
            m = step_mask[t]
            score = torch.where(m, best + emit[t], score)
            backpointers.append(torch.where(m, idx, identity))
        score = score + end.to(device=device, dtype=dtype).unsqueeze(0)
        cur = score.argmax(dim=1)  # [B]
        tags = [cur]
        for bp in reversed(backpointers):
            cur = bp.gather(1, cur.unsqueeze(1)).squeeze(1)
            tags.append(cur)
        tags.reverse()
        out = torch.stack(tags, dim=1)
        return out.masked_fill(~mask, 0)


def constrained_decode(
    log_probs: Tensor,
    mask: Tensor | None,
    allowed_start: Tensor,
    allowed: Tensor,
    allowed_end: Tensor,
) -> Tensor:
    """Best label sequence for a softmax head under hard transition constraints.

    Maximises the sum of per-token ``log_probs`` over sequences whose transitions are all
    allowed (``allowed[from, to]``, ``allowed_start[y0]``, ``allowed_end[y_last]``).
    Returns ``LongTensor[B, T]`` with 0 at masked positions.
    """
    dtype, device = log_probs.dtype, log_probs.device
    allowed_start = torch.as_tensor(allowed_start, dtype=torch.bool, device=device)
    allowed = torch.as_tensor(allowed, dtype=torch.bool, device=device)
    allowed_end = torch.as_tensor(allowed_end, dtype=torch.bool, device=device)
    return viterbi(
        log_probs,
        mask,
        mask_to_scores(allowed, dtype),
        mask_to_scores(allowed_start, dtype),
        mask_to_scores(allowed_end, dtype),
    )
