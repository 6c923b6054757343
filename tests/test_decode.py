import itertools

import pytest
import torch

from tagger.nn.decode import constrained_decode, mask_to_scores, viterbi

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def bio_constraints(labels):
    """allowed_start [L], allowed [L, L] (from, to), allowed_end [L] for BIO labels."""

    def ok(prev, cur):  # prev None = start of sequence
        if not cur.startswith("I-"):
            return True
        return prev is not None and prev != "O" and prev[2:] == cur[2:]

    start = torch.tensor([ok(None, c) for c in labels])
    allowed = torch.tensor([[ok(p, c) for c in labels] for p in labels])
    end = torch.ones(len(labels), dtype=torch.bool)
    return start, allowed, end


def is_legal_bio(labels, path):
    prev = None
    for y in path:
        cur = labels[y]
        if cur.startswith("I-") and (prev is None or prev == "O" or prev[2:] != cur[2:]):
            return False
        prev = cur
    return True


def brute_viterbi(em, trans, start, end):
    T, L = em.shape
    best, best_path = None, None
    for path in itertools.product(range(L), repeat=T):
        s = start[path[0]] + end[path[-1]] + sum(em[t, y] for t, y in enumerate(path))
        s = s + sum(trans[a, b] for a, b in zip(path, path[1:]))
        if best is None or s > best:
            best, best_path = s, list(path)
    return best_path


@pytest.mark.parametrize("T,L", [(1, 3), (2, 3), (4, 3), (3, 4), (4, 4)])
def test_viterbi_matches_brute_force_with_start_end(T, L):
    g = torch.Generator().manual_seed(T * 10 + L)
    B = 3
    em = torch.randn(B, T, L, generator=g, dtype=torch.float64)
    trans = torch.randn(L, L, generator=g, dtype=torch.float64)
    start = torch.randn(L, generator=g, dtype=torch.float64) * 2
    end = torch.randn(L, generator=g, dtype=torch.float64) * 2
    lengths = [T, max(1, T - 1), 1]
    mask = torch.arange(T).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    out = viterbi(em, mask, trans, start, end)
    assert out.dtype == torch.long and out.shape == (B, T)
    for b, n in enumerate(lengths):
        assert out[b, :n].tolist() == brute_viterbi(em[b, :n], trans, start, end)
        assert out[b, n:].eq(0).all()
        # batch result == per-sequence result
        assert viterbi(em[b : b + 1, :n], None, trans, start, end)[0].tolist() == out[b, :n].tolist()


def test_viterbi_start_end_matter():
    # Emissions alone prefer label 0 everywhere; a large end bonus on label 1 flips the last step,
    # and a large start bonus on label 2 flips the first.
    em = torch.tensor([[[1.0, 0.0, 0.0]] * 3])
    trans = torch.zeros(3, 3)
    mask = torch.ones(1, 3, dtype=torch.bool)
    assert viterbi(em, mask, trans, torch.zeros(3), torch.zeros(3)).tolist() == [[0, 0, 0]]
    assert viterbi(em, mask, trans, torch.zeros(3), torch.tensor([0.0, 5.0, 0.0])).tolist() == [[0, 0, 1]]
    assert viterbi(em, mask, trans, torch.tensor([0.0, 0.0, 5.0]), torch.zeros(3)).tolist() == [[2, 0, 0]]


def test_viterbi_padding_never_changes_result():
    g = torch.Generator().manual_seed(1)
    B, T, L = 6, 5, 4
    em = torch.randn(B, T, L, generator=g)
    trans, start, end = torch.randn(L, L, generator=g), torch.randn(L, generator=g), torch.randn(L, generator=g)
    lengths = torch.tensor([5, 1, 3, 2, 4, 1])
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    out = viterbi(em, mask, trans, start, end)
    em2 = torch.cat([em, 1000 * torch.randn(B, 4, L, generator=g)], 1)
    em2[:, :T][~mask] = -1000 * torch.rand(int((~mask).sum()), L, generator=g)
    mask2 = torch.cat([mask, torch.zeros(B, 4, dtype=torch.bool)], 1)
    out2 = viterbi(em2, mask2, trans, start, end)
    assert torch.equal(out2[:, :T], out)
    assert out2[:, T:].eq(0).all()


@pytest.mark.parametrize("neg", [-1e4, float("-inf")])
def test_viterbi_no_nan_when_label_unreachable(neg):
    L = 3
    trans = torch.zeros(L, L)
    trans[:, 2] = neg  # nothing can transition into label 2
    start = torch.tensor([neg, 0.0, 0.0])
    end = torch.zeros(L)
    em = torch.zeros(2, 4, L)
    em[:, :, 2] = 5.0  # emissions love the unreachable label
    em[:, :, 0] = 1.0
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    out = viterbi(em, mask, trans, start, end)
    # label 2 only possible at t=0 (start allows it); after that 0 is best
    assert out.tolist() == [[2, 0, 0, 0], [2, 0, 0, 0]]


def test_viterbi_shape_errors():
    em = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError):
        viterbi(em, None, torch.zeros(3, 3), torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError):
        viterbi(em, None, torch.zeros(4, 4), torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError):
        viterbi(em, torch.ones(2, 4, dtype=torch.bool), torch.zeros(4, 4), torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError):
        viterbi(torch.zeros(3, 4), None, torch.zeros(4, 4), torch.zeros(4), torch.zeros(4))


def test_mask_to_scores():
    s = mask_to_scores(torch.tensor([[True, False], [False, True]]))
    assert s.dtype == torch.float32
    assert s.tolist() == [[0.0, -10000.0], [-10000.0, 0.0]]
    assert mask_to_scores([True, False], dtype=torch.float64).dtype == torch.float64


def test_constrained_decode_fixes_illegal_argmax():
    labels = BIO
    start, allowed, end = bio_constraints(labels)
    # token 0: O clearly best; token 1: I-PER best, B-PER second.
    probs = torch.tensor(
        [
            [0.70, 0.10, 0.10, 0.05, 0.05],
            [0.05, 0.35, 0.45, 0.10, 0.05],
        ]
    )
    lp = probs.log().unsqueeze(0)
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert lp.argmax(-1)[0].tolist() == [0, 2]  # "O I-PER": illegal
    out = constrained_decode(lp, mask, start, allowed, end)[0].tolist()
    assert is_legal_bio(labels, out)
    # brute force over legal sequences
    legal = [p for p in itertools.product(range(5), repeat=2) if is_legal_bio(labels, p)]
    ref = max(legal, key=lambda p: float(lp[0, 0, p[0]] + lp[0, 1, p[1]]))
    assert out == list(ref)
    # by hand: O B-PER = 0.70 * 0.35 = 0.245 beats B-PER I-PER = 0.10 * 0.45 = 0.045 (and O O, O B-LOC ...)
    assert out == [0, 1]

    # Make the first token less sure of O: now B-PER I-PER (0.40 * 0.45 = 0.18) beats O B-PER (0.45 * 0.35).
    probs2 = torch.tensor([[0.45, 0.40, 0.05, 0.05, 0.05], [0.05, 0.35, 0.45, 0.10, 0.05]])
    lp2 = probs2.log().unsqueeze(0)
    assert lp2.argmax(-1)[0].tolist() == [0, 2]
    assert constrained_decode(lp2, mask, start, allowed, end)[0].tolist() == [1, 2]


def test_constrained_decode_sentence_start_and_type_change():
    start, allowed, end = bio_constraints(BIO)
    # argmax would be "I-LOC B-PER I-LOC": illegal at the start and after another type.
    probs = torch.tensor(
        [
            [0.10, 0.10, 0.05, 0.30, 0.45],
            [0.10, 0.60, 0.10, 0.10, 0.10],
            [0.10, 0.10, 0.30, 0.05, 0.45],
        ]
    )
    lp = probs.log().unsqueeze(0)
    out = constrained_decode(lp, None, start, allowed, end)[0].tolist()
    legal = [p for p in itertools.product(range(5), repeat=3) if is_legal_bio(BIO, p)]
    ref = max(legal, key=lambda p: sum(float(lp[0, t, y]) for t, y in enumerate(p)))
    assert out == list(ref) == [3, 1, 2]


@pytest.mark.parametrize("T", [1, 2, 3, 4])
def test_constrained_decode_matches_brute_force_over_legal(T):
    start, allowed, end = bio_constraints(BIO)
    g = torch.Generator().manual_seed(100 + T)
    B = 8
    lp = torch.log_softmax(3 * torch.randn(B, T, 5, generator=g, dtype=torch.float64), -1)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    out = constrained_decode(lp, mask, start, allowed, end)
    for b in range(B):
        n = int(lengths[b])
        legal = [p for p in itertools.product(range(5), repeat=n) if is_legal_bio(BIO, p)]
        ref = max(legal, key=lambda p: sum(float(lp[b, t, y]) for t, y in enumerate(p)))
        assert out[b, :n].tolist() == list(ref)
        assert out[b, n:].eq(0).all()


def test_constrained_decode_never_illegal_on_random_inputs():
    start, allowed, end = bio_constraints(BIO)
    g = torch.Generator().manual_seed(7)
    B, T = 500, 12
    lp = torch.log_softmax(4 * torch.randn(B, T, 5, generator=g), -1)
    # push mass onto I- labels so that the argmax is often illegal
    lp[:, :, [2, 4]] += 1.0
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    argmax_illegal = sum(
        not is_legal_bio(BIO, lp[b, : int(lengths[b])].argmax(-1).tolist()) for b in range(B)
    )
    assert argmax_illegal > B // 2  # the test is not vacuous
    out = constrained_decode(lp, mask, start, allowed, end)
    for b in range(B):
        n = int(lengths[b])
        assert is_legal_bio(BIO, out[b, :n].tolist())
        assert out[b, n:].eq(0).all()


def test_constrained_decode_accepts_lists_and_all_allowed_equals_argmax():
    g = torch.Generator().manual_seed(3)
    lp = torch.log_softmax(torch.randn(4, 6, 5, generator=g), -1)
    mask = torch.ones(4, 6, dtype=torch.bool)
    out = constrained_decode(lp, mask, [True] * 5, [[True] * 5] * 5, [True] * 5)
    assert torch.equal(out, lp.argmax(-1))
