"""Compositions: how a node's vector is made from its two children's (and a leaf's
from its word vector), each registered by name (``model.composition`` in a recipe).

Every composition works on rows: ``leaf(x)`` maps word vectors ``[n, word_dim]`` to
node states, ``combine(left, right)`` maps two ``[n, state_size]`` blocks of child
states to their parents' states, and ``output(states)`` gives the ``[n, dim]``
vectors the sentiment classifier reads. A state may carry more than the output (the
Tree-LSTM's memory cell).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import TaggerError


class Composition(nn.Module):
    state_size: int
    dim: int
    builds_trees = False  # True for a composition that can also build its own tree (the greedy RAE)

    def leaf(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def combine(self, left: Tensor, right: Tensor) -> Tensor:
        raise NotImplementedError

    def output(self, states: Tensor) -> Tensor:
        return states


COMPOSITIONS: dict[str, Callable[[int, int], Composition]] = {}


def register_composition(name: str):
    def register(cls):
        COMPOSITIONS[name] = cls
        return cls

    return register


def get_composition(name: str, word_dim: int, dim: int) -> Composition:
    if name not in COMPOSITIONS:
        raise TaggerError(f"unknown composition '{name}' (choose: {', '.join(COMPOSITIONS)})")
    return COMPOSITIONS[name](word_dim, dim)


MERGES = ("weighted", "uniform", "balanced")


def weigh_children(left_error: Tensor, right_error: Tensor, left_size: Tensor, right_size: Tensor,
                   merge: str = "weighted") -> Tensor:
    """The two children's reconstruction errors combined into the node's (``rae.merge``):
    ``weighted`` n1/(n1+n2) e1 + n2/(n1+n2) e2 (Socher et al. 2011), ``uniform``
    (e1 + e2)/2 whatever the children span, ``balanced`` (n1 e1 + n2 e2)/2, which grows with
    the words under the node and so favours merging small nodes first. All three agree on two words."""
    if merge == "weighted":
        total = left_size + right_size
        return (left_size / total) * left_error + (right_size / total) * right_error
    if merge == "uniform":
        return 0.5 * (left_error + right_error)
    if merge == "balanced":
        return 0.5 * (left_size * left_error + right_size * right_error)
    raise TaggerError(f"unknown rae.merge '{merge}' (choose: {', '.join(MERGES)})")


def _word_projection(word_dim: int, dim: int) -> nn.Module:
    """Word vectors are node vectors when the sizes agree; otherwise a linear map."""
    return nn.Identity() if word_dim == dim else nn.Linear(word_dim, dim, bias=False)


@register_composition("rnn")
class RecursiveNN(Composition):
    """Socher et al.'s recursive neural network: ``p = tanh(W [c1; c2] + b)``."""

    def __init__(self, word_dim: int, dim: int):
        super().__init__()
        self.dim = self.state_size = dim
        self.project = _word_projection(word_dim, dim)
        self.W = nn.Linear(2 * dim, dim)

    def leaf(self, x: Tensor) -> Tensor:
        return self.project(x)

    def combine(self, left: Tensor, right: Tensor) -> Tensor:
        return torch.tanh(self.W(torch.cat([left, right], dim=-1)))


@register_composition("rntn")
class RNTN(RecursiveNN):
    """The recursive neural tensor network (Socher et al. 2013):
    ``p = tanh([c1; c2]ᵀ V [c1; c2] + W [c1; c2] + b)``, one ``2d x 2d`` slice of V per output unit."""

    def __init__(self, word_dim: int, dim: int):
        super().__init__(word_dim, dim)
        self.V = nn.Parameter(torch.empty(2 * dim, dim, 2 * dim).uniform_(-0.5 / (2 * dim), 0.5 / (2 * dim)))

    def combine(self, left: Tensor, right: Tensor) -> Tensor:
        both = torch.cat([left, right], dim=-1)  # [n, 2d]
        # xᵀ V_k x for every k at once: (x V) is [n, d, 2d], then a row-wise dot with x.
        xv = (both @ self.V.reshape(2 * self.dim, -1)).view(-1, self.dim, 2 * self.dim)
        tensor_term = torch.bmm(xv, both.unsqueeze(-1)).squeeze(-1)
        return torch.tanh(tensor_term + self.W(both))


@register_composition("treelstm")
class BinaryTreeLSTM(Composition):
    """The binary constituency Tree-LSTM (Tai et al. 2015), a forget gate per child:

    ``i, f_l, f_r, o = σ(U [h_l; h_r] + b)``, ``u = tanh(...)``,
    ``c = i⊙u + f_l⊙c_l + f_r⊙c_r``, ``h = o⊙tanh(c)``; a leaf reads its word
    vector through the same gates without children. The state row is ``[h; c]``.
    """

    def __init__(self, word_dim: int, dim: int):
        super().__init__()
        self.dim, self.state_size = dim, 2 * dim
        self.leaf_gates = nn.Linear(word_dim, 3 * dim)  # i, o, u
        self.gates = nn.Linear(2 * dim, 5 * dim)  # i, f_l, f_r, o, u
        with torch.no_grad():  # forget gates start open: memory flows up the tree from the start
            self.gates.bias[dim : 3 * dim].fill_(1.0)

    def leaf(self, x: Tensor) -> Tensor:
        i, o, u = self.leaf_gates(x).chunk(3, dim=-1)
        c = torch.sigmoid(i) * torch.tanh(u)
        return torch.cat([torch.sigmoid(o) * torch.tanh(c), c], dim=-1)

    def combine(self, left: Tensor, right: Tensor) -> Tensor:
        d = self.dim
        h_l, c_l, h_r, c_r = left[:, :d], left[:, d:], right[:, :d], right[:, d:]
        i, f_l, f_r, o, u = self.gates(torch.cat([h_l, h_r], dim=-1)).chunk(5, dim=-1)
        c = torch.sigmoid(i) * torch.tanh(u) + torch.sigmoid(f_l) * c_l + torch.sigmoid(f_r) * c_r
        return torch.cat([torch.sigmoid(o) * torch.tanh(c), c], dim=-1)

    def output(self, states: Tensor) -> Tensor:
        return states[:, : self.dim]


@register_composition("rae")
class RecursiveAutoencoder(Composition):
    """The semi-supervised recursive autoencoder (Socher et al. 2011): an encoder
    ``p = tanh(W_e [c1; c2] + b_e)`` scaled to unit length, and a decoder
    ``[c1'; c2'] = W_d p + b_d`` whose reconstruction error, weighted by the words
    under each child, both trains it and decides which neighbours the greedy tree
    builder merges. Leaves are unit length too, so no vector can shrink its way to a
    small error."""

    builds_trees = True

    def __init__(self, word_dim: int, dim: int):
        super().__init__()
        self.dim = self.state_size = dim
        self.project = _word_projection(word_dim, dim)
        self.encoder = nn.Linear(2 * dim, dim)
        self.decoder = nn.Linear(dim, 2 * dim)

    def leaf(self, x: Tensor) -> Tensor:
        return nn.functional.normalize(self.project(x), dim=-1)

    def combine(self, left: Tensor, right: Tensor) -> Tensor:
        return nn.functional.normalize(torch.tanh(self.encoder(torch.cat([left, right], dim=-1))), dim=-1)

    def reconstruction_error(self, left: Tensor, right: Tensor, parent: Tensor,
                             left_size: Tensor, right_size: Tensor, merge: str = "weighted") -> Tensor:
        """``n1/(n1+n2) |c1 - c1'|² + n2/(n1+n2) |c2 - c2'|²`` per row (``merge="weighted"``;
        see :func:`weigh_children` for the others)."""
        rebuilt_left, rebuilt_right = self.decoder(parent).chunk(2, dim=-1)
        return weigh_children((left - rebuilt_left).pow(2).sum(-1), (right - rebuilt_right).pow(2).sum(-1),
                              left_size, right_size, merge)


@register_composition("rae-treelstm")
class TreeLSTMAutoencoder(BinaryTreeLSTM):
    """The greedy recursive autoencoder with a Tree-LSTM cell as its encoder: the same
    greedy merging by reconstruction error, but the parent is a Tree-LSTM node and the
    decoder rebuilds the children's ``h`` from the parent's. Vectors are compared at
    unit length, so shrinking them cannot lower the error."""

    builds_trees = True

    def __init__(self, word_dim: int, dim: int):
        super().__init__(word_dim, dim)
        self.decoder = nn.Linear(dim, 2 * dim)

    def reconstruction_error(self, left: Tensor, right: Tensor, parent: Tensor,
                             left_size: Tensor, right_size: Tensor, merge: str = "weighted") -> Tensor:
        d = self.dim
        rebuilt_left, rebuilt_right = self.decoder(parent[:, :d]).chunk(2, dim=-1)
        unit = nn.functional.normalize
        return weigh_children((unit(left[:, :d], dim=-1) - unit(rebuilt_left, dim=-1)).pow(2).sum(-1),
                              (unit(right[:, :d], dim=-1) - unit(rebuilt_right, dim=-1)).pow(2).sum(-1),
                              left_size, right_size, merge)
