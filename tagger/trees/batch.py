"""Trees as level batches: every node of a batch of trees gets a row, rows sorted by
height, so all nodes of one height form one contiguous block whose children sit in
earlier blocks. A model computes a block in one tensor operation (children gathered
by index) and never recurses per node."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..vocab import Vocab
from .tree import Tree


@dataclass
class EncodedTree:
    """A tree as arrays, computed once per tree: word ids (leaves), child ids and
    height of every internal node, the label (-1: none) and word count of every node."""

    word_ids: np.ndarray
    left: np.ndarray
    right: np.ndarray
    heights: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.heights)


def encode_tree(tree: Tree, vocab: Vocab, key=lambda w: w) -> EncodedTree:
    spans = tree.spans()
    children = np.array(tree.children, dtype=np.int64).reshape(-1, 2)
    return EncodedTree(
        word_ids=np.array(vocab.ids(key(w) for w in tree.words), dtype=np.int64),
        left=children[:, 0],
        right=children[:, 1],
        heights=np.array(tree.heights(), dtype=np.int64),
        labels=np.array([-1 if label is None else label for label in tree.labels], dtype=np.int64),
        sizes=np.array([end - start for start, end in spans], dtype=np.float32),
    )


@dataclass
class Level:
    """Rows ``start:end`` of a batch: nodes of one height, and the rows of their children."""

    start: int
    end: int
    left: Tensor
    right: Tensor


@dataclass
class TreeBatch:
    word_ids: Tensor  # [leaves]: rows 0..leaves-1 are the words
    levels: list[Level]  # heights 1, 2, ...
    labels: Tensor  # [nodes], -1 where unlabelled
    sizes: Tensor  # [nodes] words under each node
    roots: Tensor  # [trees] the row of each tree's root
    rows: list[np.ndarray]  # per tree: the row of each of its nodes (by node id)
    num_nodes: int

    @property
    def num_trees(self) -> int:
        return len(self.rows)

    def to(self, device: torch.device) -> TreeBatch:
        if device.type == "cpu":
            return self
        move = lambda t: t.to(device, non_blocking=True)
        levels = [Level(lv.start, lv.end, move(lv.left), move(lv.right)) for lv in self.levels]
        return TreeBatch(move(self.word_ids), levels, move(self.labels), move(self.sizes), move(self.roots),
                         self.rows, self.num_nodes)


def make_batch(trees: Sequence[EncodedTree]) -> TreeBatch:
    """One level batch of ``trees``: rows sorted by (height, tree, node id)."""
    counts = np.array([t.num_nodes for t in trees], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    heights = np.concatenate([t.heights for t in trees])
    total = len(heights)
    # Stable by height: within a level, trees and their nodes keep their order.
    order = np.argsort(heights, kind="stable")
    row_of = np.empty(total, dtype=np.int64)
    row_of[order] = np.arange(total)
    left = np.full(total, -1, dtype=np.int64)
    right = np.full(total, -1, dtype=np.int64)
    words = np.zeros(total, dtype=np.int64)
    for tree, offset in zip(trees, offsets):
        n = len(tree.word_ids)
        words[offset : offset + n] = tree.word_ids
        left[offset + n : offset + tree.num_nodes] = tree.left + offset
        right[offset + n : offset + tree.num_nodes] = tree.right + offset
    sorted_heights = heights[order]
    bounds = np.searchsorted(sorted_heights, np.arange(sorted_heights[-1] + 2))
    levels = []
    for height in range(1, len(bounds) - 1):
        start, end = int(bounds[height]), int(bounds[height + 1])
        nodes = order[start:end]
        levels.append(Level(start, end, torch.from_numpy(row_of[left[nodes]]), torch.from_numpy(row_of[right[nodes]])))
    return TreeBatch(
        word_ids=torch.from_numpy(words[order[: bounds[1]]]),
        levels=levels,
        labels=torch.from_numpy(np.concatenate([t.labels for t in trees])[order]),
        sizes=torch.from_numpy(np.concatenate([t.sizes for t in trees])[order]),
        roots=torch.from_numpy(row_of[offsets + counts - 1]),
        rows=[row_of[o : o + c] for o, c in zip(offsets, counts)],
        num_nodes=total,
    )
