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
    transitions [L, L] are indexed [from, to]. Loops over time steps only, with four
    NumPy calls a step: a server's small batches spend more on each call than on its
    arithmetic. Every row runs all T steps; a row's path ends at its own last step
    (its score there is kept in ``scores``) and its padding steps get identity
    back-pointers afterwards, in one assignment."""
    B, T, L = emissions.shape
    dtype = emissions.dtype
    trans = transitions.astype(dtype, copy=False)[None]  # [1, L, L]
    scores = np.empty((T, B, L), dtype=dtype)  # best score of a path ending at t in each label
    back = np.empty((T, B, L), dtype=np.intp)
    np.add(start.astype(dtype, copy=False)[None], emissions[:, 0], out=scores[0])
    for t in range(1, T):
        candidates = scores[t - 1][:, :, None] + trans  # [B, from, to]
        candidates.argmax(axis=1, out=back[t])  # the first maximum, as torch's max
        np.add(candidates.max(axis=1), emissions[:, t], out=scores[t])
    rows = np.arange(B)
    last = lengths.astype(np.intp) - 1
    padding = np.arange(T)[None, :] > last[:, None]  # [B, T]
    back.transpose(1, 0, 2)[padding] = np.arange(L)  # a padding step carries the last real label through
    cur = (scores[last, rows] + end.astype(dtype, copy=False)[None]).argmax(axis=1)
    out = np.empty((B, T), dtype=np.int64)
    out[:, T - 1] = cur
    for t in range(T - 1, 0, -1):
        cur = back[t, rows, cur]
        out[:, t - 1] = cur
    out[padding] = 0
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
