"""The tree model: word vectors, a composition applied level by level up a batch of
trees, and a sentiment classifier on every node (5 classes, plus an optional
negative/positive head for the binary task)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .batch import EncodedTree, TreeBatch
from .compose import Composition, get_composition
from .config import TreeModelConfig
from .tree import NUM_LABELS


@dataclass
class NodeOutputs:
    """What one forward pass gives for every row of a batch."""

    states: Tensor  # [nodes, state_size]: what parents were built from
    vectors: Tensor  # [nodes, dim]: what the classifier reads
    fine: Tensor  # [nodes, 5] logits
    binary: Tensor | None  # [nodes, 2] logits of the binary head, if the model has one


class TreeModel(nn.Module):
    def __init__(self, cfg: TreeModelConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab_size, cfg.word_dim, padding_idx=0)
        nn.init.uniform_(self.embed.weight, -cfg.init_range, cfg.init_range)
        with torch.no_grad():
            self.embed.weight[0].zero_()
        self.composition: Composition = get_composition(cfg.composition, cfg.word_dim, cfg.dim)
        self.embed_dropout = nn.Dropout(cfg.embed_dropout)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classify = nn.Linear(cfg.dim, NUM_LABELS)
        self.binary = nn.Linear(cfg.dim, 2) if cfg.binary_head else None

    @property
    def builds_trees(self) -> bool:
        return self.composition.builds_trees

    def node_states(self, batch: TreeBatch) -> Tensor:
        """The state of every row, one tensor operation per height: each level's
        children are gathered by index from the rows already computed."""
        comp = self.composition
        leaves = comp.leaf(self.embed_dropout(self.embed(batch.word_ids)))
        states = leaves.new_zeros(batch.num_nodes, comp.state_size)
        # Writing level blocks into one buffer is safe for autograd: index_select
        # keeps only the indices for its backward pass, never the buffer's values.
        states[: len(batch.word_ids)] = leaves
        for level in batch.levels:
            states[level.start : level.end] = comp.combine(
                states.index_select(0, level.left), states.index_select(0, level.right)
            )
        return states

    def forward(self, batch: TreeBatch) -> NodeOutputs:
        states = self.node_states(batch)
        vectors = self.composition.output(states)
        dropped = self.dropout(vectors)
        binary = self.binary(dropped) if self.binary is not None else None
        return NodeOutputs(states, vectors, self.classify(dropped), binary)

    def probabilities(self, out: NodeOutputs) -> tuple[Tensor, Tensor]:
        """Fine (5-class) probabilities, and negative/positive ones: from the binary
        head when there is one, else the fine mass of 0-1 against 3-4."""
        fine = out.fine.softmax(-1)
        if out.binary is not None:
            return fine, out.binary.softmax(-1)
        negative, positive = fine[:, :2].sum(-1), fine[:, 3:].sum(-1)
        pair = torch.stack([negative, positive], dim=-1)
        return fine, pair / pair.sum(-1, keepdim=True)

    def recursive_states(self, tree: EncodedTree) -> Tensor:
        """The same states computed one node at a time, children first (a plain loop in
        node order, which is bottom-up): the slow way, kept to measure what the level
        batching saves."""
        comp = self.composition
        words = torch.from_numpy(tree.word_ids)
        states = [comp.leaf(self.embed_dropout(self.embed(words[i : i + 1]))) for i in range(len(words))]
        for left, right in zip(tree.left.tolist(), tree.right.tolist()):
            states.append(comp.combine(states[left], states[right]))
        return torch.cat(states)
