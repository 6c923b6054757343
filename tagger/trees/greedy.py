"""The greedy recursive autoencoder's tree builder (Socher et al. 2011).

Starting from the words, it repeatedly merges the pair of neighbours whose parent
reconstructs them best (lowest reconstruction error, length-weighted by default) until one node
is left. It is vectorised over sentences and candidate pairs: all adjacent pairs
are scored in one operation at the start, and after each merge only the two pairs
that touch the new node are re-scored (one operation for the whole batch). Nodes
are linked through next/previous position arrays instead of being shifted, so the
memory is linear in the sentence length: a 500-word sentence holds 500 node vectors
and 500 pair scores, never a 500 x 500 table.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .compose import RecursiveAutoencoder

INF = float("inf")


class _Pairs:
    """The batch's current nodes and the score of every (node, next node) pair."""

    def __init__(self, rae: RecursiveAutoencoder, leaves: Sequence[Tensor], merge: str = "weighted"):
        self.rae, self.merge = rae, merge
        self.lengths = torch.tensor([len(x) for x in leaves])
        batch, width = len(leaves), int(self.lengths.max())
        self.nodes = torch.nn.utils.rnn.pad_sequence(list(leaves), batch_first=True)  # [B, L, d]
        positions = torch.arange(width).expand(batch, width)
        self.sizes = (positions < self.lengths[:, None]).to(self.nodes.dtype)  # words under the node at each position
        self.node_id = positions.clone()
        self.next = (positions + 1).masked_fill(positions + 1 >= self.lengths[:, None], width)  # width: none
        self.prev = positions - 1
        self.width = width
        self.errors = torch.full((batch, width), INF, dtype=self.nodes.dtype)
        self.parents = torch.zeros_like(self.nodes)
        if width > 1:
            rows = torch.arange(batch).repeat_interleave(width - 1)
            lefts = torch.arange(width - 1).repeat(batch)
            keep = lefts < (self.lengths[rows] - 1)
            self.score(rows[keep], lefts[keep])

    def score(self, rows: Tensor, lefts: Tensor) -> None:
        """(Re)compute the parent and error of the pairs starting at ``lefts``."""
        if len(rows) == 0:
            return
        rights = self.next[rows, lefts]
        left, right = self.nodes[rows, lefts], self.nodes[rows, rights]
        parent = self.rae.combine(left, right)
        self.parents[rows, lefts] = parent
        self.errors[rows, lefts] = self.rae.reconstruction_error(
            left, right, parent, self.sizes[rows, lefts], self.sizes[rows, rights], self.merge
        )

    def merge_best(self, rows: Tensor, step: int) -> tuple[Tensor, Tensor]:
        """Merge each row's lowest-error pair; the parent becomes node ``length + step``.
        Returns the ids of the merged (left, right) nodes."""
        i = self.errors[rows].argmin(dim=1)
        j = self.next[rows, i]
        merged = (self.node_id[rows, i], self.node_id[rows, j])
        self.nodes[rows, i] = self.parents[rows, i]
        self.sizes[rows, i] += self.sizes[rows, j]
        self.node_id[rows, i] = self.lengths[rows] + step
        self.errors[rows, j] = INF
        after = self.next[rows, j]
        self.next[rows, i] = after
        has_next = after < self.width
        self.prev[rows[has_next], after[has_next]] = i[has_next]
        self.errors[rows[~has_next], i[~has_next]] = INF
        before = self.prev[rows, i]
        has_prev = before >= 0
        # Only the pairs touching the new node changed: (new, next) and (previous, new).
        self.score(torch.cat([rows[has_next], rows[has_prev]]), torch.cat([i[has_next], before[has_prev]]))
        return merged


@torch.no_grad()
def greedy_merges(rae: RecursiveAutoencoder, leaves: Sequence[Tensor],
                  merge: str = "weighted") -> list[list[tuple[int, int]]]:
    """For each sentence (its leaf vectors ``[n, d]``), the merges of its greedy tree in
    order: merge ``k`` joins two earlier nodes into node ``n + k`` (see
    :func:`tagger.trees.tree.tree_from_merges`). ``merge`` weighs the children's
    reconstruction errors (``rae.merge``, see :func:`tagger.trees.compose.weigh_children`)."""
    pairs = _Pairs(rae, leaves, merge)
    batch = len(leaves)
    lefts = torch.zeros(batch, max(pairs.width - 1, 0), dtype=torch.long)
    rights = torch.zeros_like(lefts)
    for step in range(pairs.width - 1):
        rows = torch.nonzero(pairs.lengths - 1 > step).squeeze(1)
        lefts[rows, step], rights[rows, step] = pairs.merge_best(rows, step)
    return [list(zip(lefts[b, : n - 1].tolist(), rights[b, : n - 1].tolist())) for b, n in enumerate(pairs.lengths.tolist())]
