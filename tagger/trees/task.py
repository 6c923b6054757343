"""The tree family's part of training, behind a small interface a shared trainer can
drive: ``batches(split)``, ``loss(batch)``, ``decode(batch)``, ``score(predictions, gold)``
(and ``evaluate(split)``, which chains the last three)."""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from ..vocab import PAD, UNK, Vocab
from .batch import EncodedTree, TreeBatch, encode_tree, make_batch
from .config import TreeRecipe
from .greedy import greedy_merges
from .metrics import TreePrediction, sentiment_report
from .model import NodeOutputs, TreeModel
from .tree import Tree, balanced_tree, tree_from_merges


def word_key(word: str, lowercase: bool) -> str:
    return word.lower() if lowercase else word


def build_vocab(trees: Sequence[Tree], lowercase: bool, min_freq: int) -> Vocab:
    counts = Counter(word_key(w, lowercase) for t in trees for w in t.words)
    return Vocab.build(counts, min_freq, (PAD, UNK))


@dataclass
class TaskBatch:
    index: list[int]  # positions of the trees in their split
    trees: list[Tree]
    encoded: list[EncodedTree]
    level: TreeBatch


class TreeSentiment:
    """Sentiment on every node of a tree, for one model and its data."""

    def __init__(self, recipe: TreeRecipe, model: TreeModel, vocab: Vocab, data: dict[str, list[Tree]],
                 unlabelled: Sequence[Sequence[str]] = ()):
        self.recipe, self.model, self.vocab = recipe, model, vocab
        self.data = data
        self.encoded = {split: [self.encode(t) for t in trees] for split, trees in data.items()}
        self.unlabelled = [list(words) for words in unlabelled if words]
        self._unlabelled_at = 0
        counts = Counter(w for t in self.encoded.get("train", []) for w in t.word_ids.tolist())
        self.singletons = torch.zeros(len(vocab), dtype=torch.bool)
        self.singletons[[w for w, c in counts.items() if c == 1 and w > 1]] = True

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, tree: Tree) -> EncodedTree:
        lowercase = self.recipe.model.lowercase
        return encode_tree(tree, self.vocab, lambda w: word_key(w, lowercase))

    # ------------------------------------------------------------------ batches

    def batches(self, split: str, rng: random.Random | None = None, batch_size: int | None = None) -> list[TaskBatch]:
        """Training (with ``rng``): shuffled, then trees of similar height batched
        together (fewer levels per batch), batches in random order. Otherwise in
        order of height."""
        size = batch_size or (self.recipe.train.batch_size if rng else self.recipe.train.eval_batch_size)
        encoded = self.encoded[split]
        order = list(range(len(encoded)))
        height = lambda i: int(encoded[i].heights[-1])
        if rng is None:
            order.sort(key=height)
            chunks = [order[s : s + size] for s in range(0, len(order), size)]
        else:
            rng.shuffle(order)
            pool = 50 * size  # sort within pools: batches still differ from epoch to epoch
            order = [i for s in range(0, len(order), pool) for i in sorted(order[s : s + pool], key=height)]
            chunks = [order[s : s + size] for s in range(0, len(order), size)]
            rng.shuffle(chunks)
        return [self.make(split, chunk) for chunk in chunks]

    def make(self, split: str, index: list[int]) -> TaskBatch:
        trees = [self.data[split][i] for i in index]
        encoded = [self.encoded[split][i] for i in index]
        return TaskBatch(index, trees, encoded, make_batch(encoded))

    # ------------------------------------------------------------------ loss

    def loss(self, batch: TaskBatch) -> Tensor:
        """Per tree: cross-entropy on every labelled node (the root ``root_weight``
        times), the binary head's on every non-neutral one, and for the autoencoder
        the reconstruction error of every internal node, weighted by ``rae.alpha``."""
        rae = self.recipe.rae
        if not self.model.builds_trees:
            return self._tree_loss(batch.level, sentiment_weight=1.0) / batch.level.num_trees
        encoded = list(batch.encoded) if rae.train_trees in ("gold", "both") else []
        if rae.train_trees in ("greedy", "both"):
            built = self.build_trees([t.words for t in batch.trees])
            encoded += [self.encode(label_matching_spans(t, g)) for t, g in zip(built, batch.trees)]
        if rae.phrases > 0:
            encoded += self._phrase_trees(batch.trees, rae.phrases)
        # Gold and built trees in one level batch: one pass up the levels for both.
        total = self._tree_loss(make_batch(encoded), 1 - rae.alpha, rae.alpha) / batch.level.num_trees
        if self.unlabelled and rae.unlabelled_weight > 0:
            total = total + rae.unlabelled_weight * self._unlabelled_loss(batch.level.num_trees)
        return total

    def _phrase_trees(self, trees: Sequence[Tree], count: int) -> list[EncodedTree]:
        """Up to ``count`` random labelled phrases of each tree (two words or more, not
        the root) on the model's own greedy trees, labelled where a span is a parse-tree span."""
        phrases = []
        for tree in trees:
            spans = tree.spans()
            nodes = [k for k in range(len(tree.words), tree.root) if tree.labels[k] is not None]
            for pick in torch.randperm(len(nodes))[:count].tolist():
                phrases.append((tree, spans[nodes[pick]]))
        if not phrases:
            return []
        built = self.build_trees([tree.words[start:end] for tree, (start, end) in phrases])
        return [self.encode(label_phrase(own, tree, start)) for own, (tree, (start, _)) in zip(built, phrases)]

    def _tree_loss(self, level: TreeBatch, sentiment_weight: float, reconstruction_weight: float = 0.0) -> Tensor:
        cfg = self.recipe.model
        level = level.to(self.device)
        if self.model.training and cfg.word_dropout > 0:
            drop = self.singletons.to(self.device)[level.word_ids] & (torch.rand(level.word_ids.shape) < cfg.word_dropout)
            level.word_ids = level.word_ids.masked_fill(drop, self.vocab.unk_id)
        out = self.model(level)
        weights = torch.ones(level.num_nodes, device=self.device)
        weights[level.roots] = cfg.root_weight
        labelled = level.labels >= 0
        loss = (F.cross_entropy(out.fine[labelled], level.labels[labelled], reduction="none") * weights[labelled]).sum()
        if out.binary is not None:
            polar = labelled & (level.labels != 2)
            target = (level.labels[polar] > 2).long()
            loss = loss + cfg.binary_weight * (
                F.cross_entropy(out.binary[polar], target, reduction="none") * weights[polar]).sum()
        loss = sentiment_weight * loss
        if reconstruction_weight > 0:
            loss = loss + reconstruction_weight * self._reconstruction(level, out).sum()
        return loss

    def _reconstruction(self, level: TreeBatch, out: NodeOutputs) -> Tensor:
        """The reconstruction error of every internal node of a level batch (children
        weighed by ``rae.merge_loss``)."""
        if not level.levels:
            return out.states.new_zeros(1)
        lefts = torch.cat([lv.left for lv in level.levels])
        rights = torch.cat([lv.right for lv in level.levels])
        parents = torch.arange(level.levels[0].start, level.num_nodes, device=self.device)
        states = out.states
        return self.model.composition.reconstruction_error(
            states[lefts], states[rights], states[parents], level.sizes[lefts], level.sizes[rights],
            self.recipe.rae.merge_loss)

    def _unlabelled_loss(self, count: int) -> Tensor:
        """Reconstruction error of the model's own trees over the next ``count`` unlabelled sentences."""
        start = self._unlabelled_at % len(self.unlabelled)
        chosen = (self.unlabelled + self.unlabelled)[start : start + min(count, len(self.unlabelled))]
        self._unlabelled_at = start + len(chosen)
        level = make_batch([self.encode(t) for t in self.build_trees(chosen)]).to(self.device)
        return self._reconstruction(level, self.model(level)).sum() / len(chosen)

    # ------------------------------------------------------------------ trees, decoding, scores

    @torch.no_grad()
    def build_trees(self, sentences: Sequence[Sequence[str]]) -> list[Tree]:
        """Trees for plain sentences: the autoencoder's greedy trees, or balanced ones
        for a model that cannot build its own. Sentences are grouped by length."""
        if not self.model.builds_trees:
            return [balanced_tree(words) for words in sentences]
        lowercase = self.recipe.model.lowercase
        out: list[Tree | None] = [None] * len(sentences)
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        step = self.recipe.rae.batch_size
        comp = self.model.composition
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            ids = [torch.tensor(self.vocab.ids(word_key(w, lowercase) for w in sentences[i]), device=self.device)
                   for i in chunk]
            leaves = [comp.leaf(self.model.embed(x)).float().cpu() for x in ids]
            for i, merges in zip(chunk, greedy_merges(comp, leaves, self.recipe.rae.merge)):
                out[i] = tree_from_merges(sentences[i], merges)
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def decode(self, batch: TaskBatch) -> list[TreePrediction]:
        self.model.eval()
        level = batch.level.to(self.device)
        fine, binary = self.model.probabilities(self.model(level))
        fine, binary = fine.float().cpu().numpy(), binary.float().cpu().numpy()
        return [TreePrediction(tree, fine[rows], binary[rows]) for tree, rows in zip(batch.trees, level.rows)]

    def predict(self, trees: Sequence[Tree]) -> list[TreePrediction]:
        """Predictions for any trees (given or built), in input order."""
        out: list[TreePrediction | None] = [None] * len(trees)
        encoded = [self.encode(t) for t in trees]
        order = sorted(range(len(trees)), key=lambda i: int(encoded[i].heights[-1]))
        step = self.recipe.train.eval_batch_size
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            batch = TaskBatch(chunk, [trees[i] for i in chunk], [encoded[i] for i in chunk],
                              make_batch([encoded[i] for i in chunk]))
            for i, pred in zip(chunk, self.decode(batch)):
                out[i] = pred
        return out  # type: ignore[return-value]

    def score(self, predictions: Sequence[TreePrediction], gold: Sequence[Tree], roots_only: bool = False) -> dict:
        return sentiment_report(gold, predictions, roots_only)

    def evaluate(self, split: str) -> tuple[dict, float]:
        """The dev report (four numbers; for a tree-building model, also root numbers on
        its own trees, ``*_greedy``) and the number that picks the best epoch."""
        gold = self.data[split]
        report = self.score(self.predict(gold), gold)
        if self.model.builds_trees:
            greedy = self.predict(self.build_trees([t.words for t in gold]))
            roots = self.score(greedy, gold, roots_only=True)
            report |= {f"{k}_greedy": v for k, v in roots.items() if k in ("fine_root", "binary_root")}
        return report, monitored(report, self.recipe.train.monitor)


def monitored(report: dict, monitor: str | None) -> float:
    if monitor in (None, "root"):
        return (report["fine_root"] + report["binary_root"]) / 2
    return report[monitor]


def label_phrase(tree: Tree, gold: Tree, start: int) -> Tree:
    """``tree`` over the words of ``gold`` from ``start`` on, labelled where a node's span
    (shifted by ``start``) is a ``gold`` node's span."""
    gold_label = dict(zip(gold.spans(), gold.labels))
    return tree.with_labels([gold_label.get((s + start, e + start)) for s, e in tree.spans()])


def label_matching_spans(tree: Tree, gold: Tree) -> Tree:
    """``tree`` (over the same words as ``gold``) labelled where a node's span is a
    gold node's span: the words, the root, and whatever phrases the two trees share."""
    gold_label = dict(zip(gold.spans(), gold.labels))
    return tree.with_labels([gold_label.get(span) for span in tree.spans()])
