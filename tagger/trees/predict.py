"""A loaded tree model, ready to predict: ``tagger.load(MODEL)`` for a tree model.

Each input is a bracketed tree (``"(3 (2 It) (4 (2 's) (4 wonderful)))"``; its
labels, if any, are ignored), a plain sentence (a string, tokenized by the model's
tokenizer, or a list of words) or a :class:`Tree`. A sentence is given a tree by
the model: the greedy autoencoder's for a model that has one, else a balanced
binary tree (``tree_source`` says which).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import TaggerError
from .metrics import TreePrediction, sentiment_report
from .modeldir import load_model
from .task import TreeSentiment
from .tree import LABEL_NAMES, Tree, parse_tree

Item = str | Sequence[str] | Tree


class TreePredictor:
    def __init__(self, task: TreeSentiment, batch_size: int = 256):
        self.task = task
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> TreePredictor:
        from ..device import resolve_device

        model, recipe, vocab = load_model(path, resolve_device(device))
        return cls(TreeSentiment(recipe, model, vocab, {}))

    @property
    def recipe(self):
        return self.task.recipe

    @property
    def tree_source(self) -> str:
        """How a plain sentence gets its tree."""
        return "the greedy autoencoder" if self.task.model.builds_trees else "a balanced binary tree"

    def words(self, text: str) -> list[str]:
        from .data import sentence_words

        return sentence_words(text, self.recipe.model.tokenizer)

    def trees(self, items: Iterable[Item]) -> list[Tree]:
        """The tree each input is read on; sentences get theirs in one batch."""
        items = list(items)
        out: list[Tree | None] = [None] * len(items)
        plain: list[tuple[int, list[str]]] = []
        for i, item in enumerate(items):
            if isinstance(item, Tree):
                out[i] = item
            elif isinstance(item, str) and item.lstrip().startswith("("):
                out[i] = parse_tree(item, "<input>", i + 1, gold_labels=False)
            else:
                words = self.words(item) if isinstance(item, str) else list(item)
                if not words:
                    raise TaggerError(f"input {i + 1} has no words")
                plain.append((i, words))
        for (i, _), tree in zip(plain, self.task.build_trees([w for _, w in plain])):
            out[i] = tree
        return out  # type: ignore[return-value]

    def predict_nodes(self, items: Iterable[Item]) -> list[TreePrediction]:
        """Node-level predictions: per input, the tree it was read on and the 5-class and
        negative/positive probabilities of every node (``.labels``, ``.labelled_tree()``)."""
        self.task.recipe.train.eval_batch_size = self.batch_size
        return self.task.predict(self.trees(items))

    def predict(self, items: Iterable[Item]) -> list[int]:
        """The root label (0-4) of each input."""
        return [p.labels[p.tree.root] for p in self.predict_nodes(items)]

    def predict_proba(self, items: Iterable[Item]) -> list[dict[int, float]]:
        """The root's probability of each label 0-4, per input."""
        return [dict(enumerate(p.fine[p.tree.root].tolist())) for p in self.predict_nodes(items)]

    def evaluate(self, trees: Sequence[Tree], own_trees: bool = False) -> dict:
        """The four numbers on gold trees; ``own_trees`` also scores the roots of the
        trees the model builds itself from the words (``*_greedy``)."""
        report = sentiment_report(trees, self.predict_nodes(trees))
        if own_trees:
            built = self.predict_nodes([t.words for t in trees])
            roots = sentiment_report(trees, built, roots_only=True)
            report |= {f"{k}_greedy": v for k, v in roots.items() if k != "confusion"}
        return report


def describe_root(pred: TreePrediction) -> str:
    """``3 positive (0.62)  [0.01 0.02 0.05 0.62 0.30]``."""
    root = pred.tree.root
    label = pred.labels[root]
    probs = " ".join(f"{p:.2f}" for p in pred.fine[root].tolist())
    return f"{label} {LABEL_NAMES[label]} ({pred.fine[root][label]:.2f})  [{probs}]"
