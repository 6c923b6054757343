"""Decoding in NumPy: constrained Viterbi vectorised over the batch, argmax, classes.

The same arithmetic as :func:`tagger.nn.decode.viterbi` in the same order and dtype
(float32), so equal emissions give the same paths, ties included (both take the
first maximum).
"""
from __future__ import annotations

import numpy as np


def viterbi(emissions: np.ndarray, lengths: np.ndarray, transitions: np.ndarray, start: np.ndarray,
            end: np.ndarray) -> np.ndarray:
    """Best label ids [B, T] (0 on padding) for emissions [B, T, L] and lengths [B] >= 1;
    transitions [L, L] are indexed [from, to]. Loops over time steps only."""
    B, T, L = emissions.shape
    dtype = emissions.dtype
    trans = transitions.astype(dtype, copy=False)[None]  # [1, L, L]
    score = start.astype(dtype, copy=False)[None] + emissions[:, 0]  # [B, L]
    identity = np.broadcast_to(np.arange(L), (B, L))
    back = np.empty((T, B, L), dtype=np.int64)
    for t in range(1, T):
        candidates = score[:, :, None] + trans  # [B, from, to]
        idx = candidates.argmax(axis=1)
        best = np.take_along_axis(candidates, idx[:, None, :], axis=1)[:, 0]
        # A padding step carries the last real label through (identity back-pointer).
        real = (t < lengths)[:, None]
        score = np.where(real, best + emissions[:, t], score)
        back[t] = np.where(real, idx, identity)
    score = score + end.astype(dtype, copy=False)[None]
    out = np.empty((B, T), dtype=np.int64)
    cur = score.argmax(axis=1)
    out[:, T - 1] = cur
    rows = np.arange(B)
    for t in range(T - 1, 0, -1):
        cur = back[t][rows, cur]
        out[:, t - 1] = cur
    out[np.arange(T)[None, :] >= lengths[:, None]] = 0
    return out


def argmax_labels(logits: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Unconstrained labels [B, T]: the best real label (id 0 is padding), 0 on padding."""
    ids = logits[..., 1:].argmax(axis=-1) + 1
    ids[np.arange(ids.shape[1])[None, :] >= lengths[:, None]] = 0
    return ids


def choose_classes(probs: np.ndarray, multi_label: bool, threshold: float) -> list[list[int]]:
    """Class ids per sentence: the most probable, or (multi-label) every class at or
    above ``threshold``, most probable first, as the torch head's ``choose``."""
    if not multi_label:
        return [[int(i)] for i in probs.argmax(axis=-1)]
    return [sorted((i for i, p in enumerate(row) if p >= threshold), key=lambda i: -row[i]) for row in probs.tolist()]
