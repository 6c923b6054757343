"""The tree models: level batching against a plain recursion, each composition against
values worked out by hand, the greedy autoencoder against brute force, and the
four sentiment numbers against hand counts."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from tagger.errors import TaggerError
from tagger.trees.batch import encode_tree, make_batch
from tagger.trees.compose import COMPOSITIONS
from tagger.trees.config import TreeModelConfig, TreeRecipe, load_tree_recipe
from tagger.trees.greedy import _Pairs, greedy_merges
from tagger.trees.metrics import TreePrediction, sentiment_report
from tagger.trees.model import TreeModel
from tagger.trees.task import TreeSentiment, build_vocab, label_matching_spans, label_phrase
from tagger.trees.tree import Tree, parse_tree, tree_from_merges

WORDS = ["good", "bad", "film", "not", "very", "the", "plot", "dull", "fun", "."]


def random_nested(rng: random.Random, n: int):
    """A random binary tree over n random words, as nested tuples (label, word) or (label, left, right)."""
    if n == 1:
        return (rng.randrange(5), rng.choice(WORDS))
    split = rng.randrange(1, n)
    return (rng.randrange(5), random_nested(rng, split), random_nested(rng, n - split))


def bracketed(node) -> str:
    if isinstance(node[1], str):
        return f"({node[0]} {node[1]})"
    return f"({node[0]} {bracketed(node[1])} {bracketed(node[2])})"


def reference_states(model: TreeModel, vocab, node, out: list):
    """One node at a time, recursively: appends every node's state in post-order."""
    comp = model.composition
    if isinstance(node[1], str):
        state = comp.leaf(model.embed(torch.tensor([vocab.id(node[1])])))
    else:
        left = reference_states(model, vocab, node[1], out)
        right = reference_states(model, vocab, node[2], out)
        state = comp.combine(left, right)
    out.append(state)
    return state


def post_order_ids(tree: Tree) -> list[int]:
    """The flat tree's node ids in post-order (the order the recursion visits them)."""
    order: list[int] = []
    inner = {len(tree.words) + k: pair for k, pair in enumerate(tree.children)}

    def visit(node: int) -> None:
        if node in inner:
            visit(inner[node][0])
            visit(inner[node][1])
        order.append(node)

    visit(tree.root)
    return order


def small_model(composition: str, vocab_size: int, word_dim: int = 7, dim: int = 5, **kw) -> TreeModel:
    cfg = TreeModelConfig(composition=composition, word_dim=word_dim, dim=dim, embed_dropout=0.0, dropout=0.0, **kw)
    return TreeModel(cfg, vocab_size).double()


@pytest.mark.parametrize("composition", sorted(COMPOSITIONS))
def test_level_batching_equals_one_tree_at_a_time_recursion(composition):
    rng = random.Random(3)
    torch.manual_seed(3)
    nested = [random_nested(rng, rng.randint(1, 14)) for _ in range(25)]
    trees = [parse_tree(bracketed(n)) for n in nested]
    vocab = build_vocab(trees, lowercase=False, min_freq=1)
    model = small_model(composition, len(vocab))
    batch = make_batch([encode_tree(t, vocab) for t in trees])
    states = model.node_states(batch)
    loss_batched = (states * torch.linspace(-1, 1, states.shape[1], dtype=torch.double)).sum()
    grads_batched = torch.autograd.grad(loss_batched, list(model.parameters()), allow_unused=True)

    loss_reference = 0.0
    for tree, node, rows in zip(trees, nested, batch.rows):
        expected: list = []
        reference_states(model, vocab, node, expected)
        ids = post_order_ids(tree)
        torch.testing.assert_close(states[torch.from_numpy(rows[ids])], torch.cat(expected), rtol=1e-10, atol=1e-12)
        loss_reference = loss_reference + (torch.cat(expected) * torch.linspace(-1, 1, states.shape[1], dtype=torch.double)).sum()
    grads_reference = torch.autograd.grad(loss_reference, list(model.parameters()), allow_unused=True)
    assert [g is None for g in grads_batched] == [g is None for g in grads_reference]
    assert sum(g is not None for g in grads_batched) >= 3  # the words and the composition's weights
    for batched, reference in zip(grads_batched, grads_reference):
        if batched is not None:
            torch.testing.assert_close(batched, reference, rtol=1e-9, atol=1e-12)


def test_levels_are_contiguous_and_children_come_first():
    trees = [parse_tree("(1 (2 a) (3 (2 b) (2 c)))"), parse_tree("(4 z)"), parse_tree("(2 (2 d) (2 e))")]
    vocab = build_vocab(trees, False, 1)
    batch = make_batch([encode_tree(t, vocab) for t in trees])
    assert batch.num_nodes == 5 + 1 + 3 and len(batch.word_ids) == 6
    assert [(lv.start, lv.end) for lv in batch.levels] == [(6, 8), (8, 9)]
    for level in batch.levels:
        assert int(torch.max(torch.cat([level.left, level.right]))) < level.start
    assert batch.labels[torch.from_numpy(batch.rows[0])].tolist() == [2, 2, 2, 3, 1]
    assert batch.roots.tolist() == [8, 3, 7]  # z, a one-word tree, is leaf row 3


def two_leaf_model(composition: str, word_dim: int, dim: int) -> tuple[TreeModel, object]:
    """A model over the tree (2 (2 x) (2 y)) whose word vectors are set by hand."""
    tree = parse_tree("(2 (2 x) (2 y))")
    vocab = build_vocab([tree], False, 1)
    model = small_model(composition, len(vocab), word_dim=word_dim, dim=dim)
    return model, make_batch([encode_tree(tree, vocab)]), vocab


def set_params(module: torch.nn.Module, **values) -> None:
    with torch.no_grad():
        for name, value in values.items():
            getattr(module, name).copy_(torch.tensor(value, dtype=torch.double))


def test_rnn_composition_by_hand():
    model, batch, vocab = two_leaf_model("rnn", 1, 1)
    model.embed.weight.data[vocab.id("x")] = 0.5
    model.embed.weight.data[vocab.id("y")] = -1.0
    set_params(model.composition.W, weight=[[0.3, 0.2]], bias=[0.1])
    root = model.node_states(batch)[batch.roots[0]]
    assert root.item() == pytest.approx(math.tanh(0.3 * 0.5 + 0.2 * -1.0 + 0.1))  # tanh(0.05)


def test_rntn_composition_by_hand():
    model, batch, vocab = two_leaf_model("rntn", 1, 1)
    model.embed.weight.data[vocab.id("x")] = 0.5
    model.embed.weight.data[vocab.id("y")] = -1.0
    set_params(model.composition.W, weight=[[0.3, 0.2]], bias=[0.1])
    # V[i, k, j]: the one output unit's slice is [[1, 2], [0, 3]]
    set_params(model.composition, V=[[[1.0, 2.0]], [[0.0, 3.0]]])
    # [0.5, -1] [[1, 2], [0, 3]] [0.5, -1]ᵀ = 0.25 - 1 + 0 + 3 = 2.25; plus W x + b = 0.05
    assert model.node_states(batch)[batch.roots[0]].item() == pytest.approx(math.tanh(2.3))


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_treelstm_composition_by_hand():
    model, batch, vocab = two_leaf_model("treelstm", 1, 1)
    model.embed.weight.data[vocab.id("x")] = 0.5
    model.embed.weight.data[vocab.id("y")] = -1.0
    comp = model.composition
    set_params(comp.leaf_gates, weight=[[1.0], [2.0], [1.0]], bias=[0.0, 0.0, 0.0])  # i, o, u
    # i, f_l, f_r, o, u from [h_l; h_r]
    set_params(comp.gates, weight=[[1, 0], [0, 1], [1, 1], [0.5, 0.5], [1, -1]], bias=[0.0, 0.0, 0.0, 0.0, 0.1])

    def leaf(x: float) -> tuple[float, float]:
        c = sigmoid(x) * math.tanh(x)
        return sigmoid(2 * x) * math.tanh(c), c

    (h1, c1), (h2, c2) = leaf(0.5), leaf(-1.0)
    c = sigmoid(h1) * math.tanh(h1 - h2 + 0.1) + sigmoid(h2) * c1 + sigmoid(h1 + h2) * c2
    h = sigmoid(0.5 * (h1 + h2)) * math.tanh(c)
    states = model.node_states(batch)
    assert states[batch.roots[0]].tolist() == pytest.approx([h, c])
    assert states[0].tolist() == pytest.approx([h1, c1])


def test_rae_composition_and_reconstruction_error_by_hand():
    model, batch, vocab = two_leaf_model("rae", 2, 2)
    model.embed.weight.data[vocab.id("x")] = torch.tensor([3.0, 4.0], dtype=torch.double)
    model.embed.weight.data[vocab.id("y")] = torch.tensor([2.0, 0.0], dtype=torch.double)
    comp = model.composition
    set_params(comp.encoder, weight=[[1, 0, 0, 0], [0, 0, 1, 0]], bias=[0.0, 0.0])
    set_params(comp.decoder, weight=[[1, 0], [0, 1], [1, 0], [0, 1]], bias=[0.0, 0.0, 0.0, 0.0])
    states = model.node_states(batch)
    c1, c2 = [0.6, 0.8], [1.0, 0.0]  # the leaves, scaled to unit length
    raw = [math.tanh(0.6), math.tanh(1.0)]
    norm = math.hypot(*raw)
    p = [raw[0] / norm, raw[1] / norm]
    assert states[batch.roots[0]].tolist() == pytest.approx(p)
    # both children are rebuilt as p; one word each, so each error weighs 1/2
    expected = 0.5 * ((c1[0] - p[0]) ** 2 + (c1[1] - p[1]) ** 2) + 0.5 * ((c2[0] - p[0]) ** 2 + (c2[1] - p[1]) ** 2)
    error = comp.reconstruction_error(states[:1], states[1:2], states[2:], torch.ones(1), torch.ones(1))
    assert error.item() == pytest.approx(expected)
    weighted = comp.reconstruction_error(states[:1], states[1:2], states[2:], torch.tensor([3.0]), torch.tensor([1.0]))
    assert weighted.item() == pytest.approx(0.75 * (0.6 - p[0]) ** 2 + 0.75 * (0.8 - p[1]) ** 2
                                            + 0.25 * (1 - p[0]) ** 2 + 0.25 * p[1] ** 2)
    e1, e2 = (0.6 - p[0]) ** 2 + (0.8 - p[1]) ** 2, (1 - p[0]) ** 2 + p[1] ** 2  # each child's own error
    args = (states[:1], states[1:2], states[2:], torch.tensor([3.0]), torch.tensor([1.0]))
    assert comp.reconstruction_error(*args, merge="weighted").item() == pytest.approx(0.75 * e1 + 0.25 * e2)
    assert comp.reconstruction_error(*args, merge="uniform").item() == pytest.approx(0.5 * e1 + 0.5 * e2)
    assert comp.reconstruction_error(*args, merge="balanced").item() == pytest.approx(0.5 * (3 * e1 + e2))
    assert e1 != pytest.approx(e2)  # so the three numbers above really differ
    with pytest.raises(TaggerError, match="rae.merge 'sum'"):
        comp.reconstruction_error(*args, merge="sum")


# --------------------------------------------------------------------------- greedy autoencoder


def brute_force_merges(rae, leaves: torch.Tensor, merge: str = "weighted") -> list[tuple[int, int]]:
    """Every step: score every adjacent pair one at a time, merge the lowest."""
    nodes = [(i, leaves[i : i + 1], 1.0) for i in range(len(leaves))]  # (id, vector, words)
    merges, next_id = [], len(leaves)
    while len(nodes) > 1:
        scored = []
        for k in range(len(nodes) - 1):
            (_, a, na), (_, b, nb) = nodes[k], nodes[k + 1]
            parent = rae.combine(a, b)
            error = rae.reconstruction_error(a, b, parent, torch.tensor([na]), torch.tensor([nb]), merge).item()
            scored.append((error, k, parent))
        error, k, parent = min(scored, key=lambda s: (s[0], s[1]))
        merges.append((nodes[k][0], nodes[k + 1][0]))
        nodes[k : k + 2] = [(next_id, parent, nodes[k][2] + nodes[k + 1][2])]
        next_id += 1
    return merges


@pytest.mark.parametrize("merge", ["weighted", "uniform", "balanced"])
@pytest.mark.parametrize("composition", ["rae", "rae-treelstm"])
def test_greedy_merges_equal_brute_force_on_tiny_sentences(composition, merge):
    torch.manual_seed(11)
    rae = COMPOSITIONS[composition](4, 4).double()
    with torch.no_grad():
        for p in rae.parameters():
            p.uniform_(-1, 1)  # larger weights than the default: errors spread, no near-ties
    sentences = [rae.leaf(torch.randn(n, 4, dtype=torch.double)) for n in (1, 2, 3, 4, 5, 6, 6, 3)]
    batched = greedy_merges(rae, sentences, merge)
    assert [len(m) for m in batched] == [0, 1, 2, 3, 4, 5, 5, 2]
    for leaves, merges in zip(sentences, batched):
        assert merges == brute_force_merges(rae, leaves, merge)
    tree = tree_from_merges(list("abcdef"), batched[5])
    assert tree.spans()[-1] == (0, 6) and tree.heights()[:6] == [0] * 6


class LeftHeadRAE(COMPOSITIONS["rae"]):
    """A toy autoencoder on 1-d vectors: the parent is its left child and the decoder
    rebuilds both children as the parent, so merging (l, r) costs the left child 0 and
    the right child (r - l)², weighed by ``merge``."""

    def __init__(self):
        super().__init__(1, 1)
        with torch.no_grad():
            self.decoder.weight.fill_(1.0)
            self.decoder.bias.zero_()

    def combine(self, left, right):
        return left


@pytest.mark.parametrize("merge, expected", [
    ("weighted", [(0, 1), (4, 2), (5, 3)]),  # the 2-word node absorbs c: (1 · 1)/3 = 0.33 < 0.405
    ("uniform", [(0, 1), (2, 3), (4, 5)]),  # c counts 1/2 beside it: 0.5 > (c, d)'s 0.81/2 = 0.405
    ("balanced", [(0, 1), (2, 3), (4, 5)]),  # (2 · 0 + 1 · 1)/2 = 0.5 > 0.405
])
def test_the_merge_mode_decides_which_neighbours_the_greedy_builder_joins(merge, expected):
    # words a b c d at 0, 0, 1, 1.9: (a, b) costs 0 and goes first; then (ab, c) against (c, d)
    leaves = torch.tensor([[0.0], [0.0], [1.0], [1.9]], dtype=torch.double)
    rae = LeftHeadRAE().double()
    assert greedy_merges(rae, [leaves], merge) == [expected]
    assert brute_force_merges(rae, leaves, merge) == expected


def test_rae_merge_is_checked_and_old_models_without_it_are_weighted():
    for field in ("rae.merge", "rae.merge_loss"):
        with pytest.raises(TaggerError) as err:
            load_tree_recipe("sst-trees-rae", [f"{field}=sum"])
        assert f"unknown {field} 'sum'" in str(err.value) and "\n" not in str(err.value)
    assert load_tree_recipe("sst-trees-rae", ["rae.merge=uniform"]).rae.merge == "uniform"
    old = TreeRecipe().to_dict()
    del old["rae"]["merge"], old["rae"]["merge_loss"]  # a model saved before the fields existed
    assert (TreeRecipe.from_dict(old).rae.merge, TreeRecipe.from_dict(old).rae.merge_loss) == ("weighted", "weighted")


@pytest.mark.parametrize("merge_loss", ["weighted", "uniform", "balanced"])
def test_the_training_loss_weighs_children_by_rae_merge_loss(merge_loss):
    torch.manual_seed(3)
    tree = parse_tree("(2 (2 (2 a) (2 b)) (2 c))")  # the root's children span 2 words and 1
    recipe = TreeRecipe()
    recipe.model = TreeModelConfig(composition="rae", word_dim=3, dim=3, embed_dropout=0.0, dropout=0.0)
    recipe.rae.merge, recipe.rae.merge_loss = "uniform", merge_loss  # the builder's choice plays no part
    vocab = build_vocab([tree], True, 1)
    model = TreeModel(recipe.model, len(vocab)).double()
    task = TreeSentiment(recipe, model, vocab, {})
    level = make_batch([task.encode(tree)])
    out = model(level)
    comp, states = model.composition, out.states
    a, b, c = states[:3]
    ab = comp.combine(a[None], b[None])[0]
    root = comp.combine(ab[None], c[None])[0]
    own = lambda child, rebuilt: (child - rebuilt).pow(2).sum().item()  # one child's error, unweighted
    (ra, rb), (rab, rc) = comp.decoder(ab).chunk(2), comp.decoder(root).chunk(2)
    e_ab = 0.5 * own(a, ra) + 0.5 * own(b, rb)  # two single words: every mode weighs 1/2 each
    e1, e2 = own(ab, rab), own(c, rc)
    e_root = {"weighted": 2 / 3 * e1 + 1 / 3 * e2, "uniform": 0.5 * (e1 + e2), "balanced": 0.5 * (2 * e1 + e2)}[merge_loss]
    assert sorted(task._reconstruction(level, out).tolist()) == pytest.approx(sorted([e_ab, e_root]))


def test_greedy_tree_of_a_500_word_sentence_stays_linear_in_memory():
    torch.manual_seed(5)
    rae = COMPOSITIONS["rae"](16, 16)
    leaves = rae.leaf(torch.randn(500, 16)).detach()
    pairs = _Pairs(rae, [leaves])
    held = [v for v in vars(pairs).values() if isinstance(v, torch.Tensor)]
    assert max(t.numel() for t in held) <= 500 * 16  # node vectors; nothing 500 x 500
    (merges,) = greedy_merges(rae, [leaves])
    assert len(merges) == 499
    used = [i for pair in merges for i in pair]
    assert sorted(used) == list(range(998))  # every node but the root is merged exactly once
    assert tree_from_merges([str(i) for i in range(500)], merges).spans()[-1] == (0, 500)


def test_label_matching_spans_keeps_shared_phrases():
    gold = parse_tree("(3 (2 (2 a) (2 b)) (4 (2 c) (4 d)))")
    built = tree_from_merges(list("abcd"), [(1, 2), (0, 4), (5, 3)])  # ((a (b c)) d)
    labelled = label_matching_spans(built, gold)
    assert labelled.labels == [2, 2, 2, 4, None, None, 3]


def test_label_phrase_shifts_spans_into_the_sentence():
    gold = parse_tree("(3 (2 a) (4 (1 (2 b) (0 c)) (4 d)))")  # the phrase "b c d" starts at word 1
    own = tree_from_merges(list("bcd"), [(0, 1), (3, 2)])  # ((b c) d)
    assert label_phrase(own, gold, 1).labels == [2, 0, 4, 1, 4]
    other = tree_from_merges(list("bcd"), [(1, 2), (0, 3)])  # (b (c d)): (c d) is no gold phrase
    assert label_phrase(other, gold, 1).labels == [2, 0, 4, None, 4]


# --------------------------------------------------------------------------- metrics


def prediction(tree: Tree, labels: list[int], positive: list[bool]) -> TreePrediction:
    fine = np.full((tree.size, 5), 0.05)
    fine[np.arange(tree.size), labels] = 0.8
    binary = np.array([[0.2, 0.8] if p else [0.8, 0.2] for p in positive])
    return TreePrediction(tree, fine, binary)


def test_four_numbers_against_hand_counts():
    a = parse_tree("(3 (2 x) (4 y))")  # gold: x=2, y=4, root=3
    b = parse_tree("(1 (0 u) (2 v))")  # gold: u=0, v=2, root=1
    c = parse_tree("(2 w)")  # a one-word tree: its word is its root (neutral)
    preds = [
        prediction(a, [2, 3, 3], [False, True, True]),  # fine: x right, y wrong, root right; binary: y right, root right
        prediction(b, [1, 2, 0], [False, True, True]),  # fine: u wrong, v right, root wrong; binary: u right, root wrong
        prediction(c, [2], [True]),  # fine right; neutral: no binary count
    ]
    report = sentiment_report([a, b, c], preds)
    # roots: a right, b wrong, c right -> 2/3; binary roots: a right, b wrong (c neutral) -> 1/2
    assert report["fine_root"] == pytest.approx(2 / 3) and report["fine_root_count"] == 3
    assert report["binary_root"] == pytest.approx(1 / 2) and report["binary_root_count"] == 2
    # all nodes: 7 labelled; right: x, root a, v, w -> 4/7; non-neutral: y, root a, u, root b -> right y, a, u -> 3/4
    assert report["fine_all"] == pytest.approx(4 / 7) and report["fine_all_count"] == 7
    assert report["binary_all"] == pytest.approx(3 / 4) and report["binary_all_count"] == 4
    root = np.array(report["confusion"]["root"])
    assert root[3, 3] == 1 and root[1, 0] == 1 and root[2, 2] == 1 and root.sum() == 3
    assert np.array(report["confusion"]["all"]).sum() == 7


def test_roots_only_scores_built_trees_against_gold_roots():
    gold = parse_tree("(4 (2 (2 a) (2 b)) (4 c))")
    built = tree_from_merges(["a", "b", "c"], [(1, 2), (0, 3)])  # a different tree over the same words
    report = sentiment_report([gold], [prediction(built, [0, 0, 0, 0, 4], [False] * 4 + [True])], roots_only=True)
    assert report["fine_root"] == 1.0 and report["binary_root"] == 1.0
    assert "fine_all" not in report and "all" not in report["confusion"]


def test_binary_probabilities_without_a_binary_head_sum_the_fine_classes():
    model = small_model("rnn", 4, dim=3, binary_head=False)
    from tagger.trees.model import NodeOutputs

    fine_logits = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.25, 0.15]], dtype=torch.double))
    fine, binary = model.probabilities(NodeOutputs(None, None, fine_logits, None))
    assert fine.tolist()[0] == pytest.approx([0.1, 0.2, 0.3, 0.25, 0.15])
    assert binary.tolist()[0] == pytest.approx([0.3 / 0.7, 0.4 / 0.7])


def test_model_average_is_the_old_place_of_train_average():
    recipe = load_tree_recipe("sst-trees", ["model.average=0.9", "train.average=0.0"])
    assert (recipe.train.average, recipe.model.average) == (0.9, 0.0)
    assert load_tree_recipe("sst-trees").train.average == 0.998  # the recipe sets it under [train]
    with pytest.raises(TaggerError, match="model.average"):
        load_tree_recipe("sst-trees", ["model.average=1.5"])


def test_a_checkpoint_from_when_trees_kept_their_own_average_still_resumes():
    from types import SimpleNamespace

    from tagger.trees.train import _split_old_average

    weight, average = torch.ones(2), torch.zeros(2)
    old = SimpleNamespace(model_weights={"model.embed.weight": weight, "average.embed__weight": average},
                          average_weights={})
    assert _split_old_average(old) == {"embed.weight": weight}
    assert old.average_weights == {"embed__weight": average}  # where the trainer restores it from
    new = SimpleNamespace(model_weights={"embed.weight": weight}, average_weights={"embed__weight": average})
    assert _split_old_average(new) == {"embed.weight": weight}
