"""The Sentiment Treebank's four numbers, a confusion matrix, and bracket F1.

* fine-grained accuracy (5 classes) at the root and over all phrases (every node, words included);
* binary accuracy (negative 0-1 against positive 3-4; nodes whose gold label is 2 are
  left out) at the root and over all phrases.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .tree import LABEL_NAMES, NUM_LABELS, Tree

NEUTRAL = 2
FOUR_NUMBERS = ("fine_root", "binary_root", "fine_all", "binary_all")


@dataclass
class TreePrediction:
    """A model's output for one tree: the tree it read (given or built) and, for every
    node, the 5-class and the negative/positive probabilities."""

    tree: Tree
    fine: np.ndarray  # [nodes, 5]
    binary: np.ndarray  # [nodes, 2]

    @property
    def labels(self) -> list[int]:
        return self.fine.argmax(-1).tolist()

    @property
    def positive(self) -> list[bool]:
        return (self.binary[:, 1] > self.binary[:, 0]).tolist()

    def labelled_tree(self) -> Tree:
        return self.tree.with_labels(self.labels)


def gold_binary(label: int) -> bool | None:
    """True for positive (3-4), False for negative (0-1), None for neutral."""
    return None if label == NEUTRAL else label > NEUTRAL


def sentiment_report(gold: Sequence[Tree], predicted: Sequence[TreePrediction], roots_only: bool = False) -> dict:
    """The four numbers (fractions) with their counts and 5x5 confusion matrices
    (``confusion[gold][predicted]``). ``roots_only`` (predictions on trees the model
    built itself, whose phrases are not the gold ones) scores the roots alone."""
    counts = {name: [0, 0] for name in FOUR_NUMBERS}  # correct, total
    confusion = {"root": np.zeros((NUM_LABELS, NUM_LABELS), dtype=np.int64),
                 "all": np.zeros((NUM_LABELS, NUM_LABELS), dtype=np.int64)}
    for tree, pred in zip(gold, predicted):
        labels, positive = pred.labels, pred.positive
        nodes = [(tree.root, pred.tree.root, "root")]
        if not roots_only:
            nodes += [(i, i, "all") for i in range(tree.size)]
        for gold_node, pred_node, where in nodes:
            label = tree.labels[gold_node]
            if label is None:
                continue
            confusion[where][label, labels[pred_node]] += 1
            _count(counts[f"fine_{where}"], labels[pred_node] == label)
            polarity = gold_binary(label)
            if polarity is not None:
                _count(counts[f"binary_{where}"], positive[pred_node] == polarity)
    report: dict = {}
    for name, (correct, total) in counts.items():
        if roots_only and name.endswith("_all"):
            continue
        report[name] = correct / total if total else 0.0
        report[f"{name}_count"] = total
    report["confusion"] = {where: matrix.tolist() for where, matrix in confusion.items()
                           if not (roots_only and where == "all")}
    return report


def _count(cell: list[int], correct: bool) -> None:
    cell[0] += int(correct)
    cell[1] += 1


def brackets(tree: Tree) -> set[tuple[int, int]]:
    """The spans of the internal nodes other than the root (every binary tree over the
    same words has the root's span, so it is left out, as are the words)."""
    spans = tree.spans()
    return {spans[len(tree.words) + k] for k in range(len(tree.children) - 1)}


def bracket_f1(gold: Sequence[Tree], predicted: Sequence[Tree]) -> dict:
    """Unlabelled bracket precision, recall and F1 summed over the corpus."""
    matched = gold_total = pred_total = 0
    for g, p in zip(gold, predicted):
        gold_spans, pred_spans = brackets(g), brackets(p)
        matched += len(gold_spans & pred_spans)
        gold_total += len(gold_spans)
        pred_total += len(pred_spans)
    precision = matched / pred_total if pred_total else 0.0
    recall = matched / gold_total if gold_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "brackets": gold_total}


def format_report(report: dict) -> str:
    """The four numbers as a small text table."""
    rows = [("", "root", "all phrases")]
    for kind in ("fine", "binary"):
        cells = []
        for where in ("root", "all"):
            name = f"{kind}_{where}"
            cells.append(f"{report[name] * 100:6.2f} ({report[name + '_count']:,})" if name in report else "-")
        rows.append((f"{kind}-grained" if kind == "fine" else "binary", *cells))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, width))) for r in rows)


def format_confusion(matrix: Sequence[Sequence[int]]) -> str:
    """A 5x5 confusion matrix as text (rows gold, columns predicted)."""
    head = "gold \\ predicted " + " ".join(f"{i:>6}" for i in range(NUM_LABELS))
    lines = [head]
    for i, row in enumerate(matrix):
        lines.append(f"{i} {LABEL_NAMES[i]:<14} " + " ".join(f"{c:>6}" for c in row))
    return "\n".join(lines)
