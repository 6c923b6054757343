import itertools
import math

import pytest
import torch

from tagger.nn.crf import CRF


def bio_constraints(labels):
    """allowed_start [L], allowed [L, L] (from, to), allowed_end [L] for BIO labels."""
    L = len(labels)

    def ok(prev, cur):  # prev None = start of sequence
        if not cur.startswith("I-"):
            return True
        return prev is not None and prev != "O" and prev[2:] == cur[2:]

    start = torch.tensor([ok(None, c) for c in labels])
    allowed = torch.tensor([[ok(p, c) for c in labels] for p in labels])
    end = torch.ones(L, dtype=torch.bool)
    return start, allowed, end


BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def make_crf(L, constraints=None, seed=0):
    torch.manual_seed(seed)
    if constraints is None:
        crf = CRF(L)
    else:
        crf = CRF(L, *constraints)
    with torch.no_grad():
        for p in crf.parameters():
            p.uniform_(-1.0, 1.0)  # larger than the default init, to make the tests sharper
    return crf.double()


def path_score(crf, em, path):
    """Brute-force score of one path; None if the path is disallowed."""
    if not crf.allowed_start[path[0]] or not crf.allowed_end[path[-1]]:
        return None
    if any(not crf.allowed[a, b] for a, b in zip(path, path[1:])):
        return None
    s = crf.start[path[0]] + crf.end[path[-1]]
    s = s + sum(em[t, y] for t, y in enumerate(path))
    s = s + sum(crf.transitions[a, b] for a, b in zip(path, path[1:]))
    return s


def brute(crf, em, n):
    """(log Z, best path) over all allowed label sequences of length n."""
    L = em.shape[-1]
    scores, paths = [], []
    for path in itertools.product(range(L), repeat=n):
        s = path_score(crf, em[:n], path)
        if s is not None:
            scores.append(s)
            paths.append(path)
    scores = torch.stack(scores)
    return torch.logsumexp(scores, 0), list(paths[int(scores.argmax())])


def random_batch(B, T, L, lengths, seed):
    g = torch.Generator().manual_seed(seed)
    em = torch.randn(B, T, L, generator=g, dtype=torch.float64) * 2
    mask = torch.arange(T).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return em, mask


CASES = [
    (1, 3, [1, 1, 1]),
    (2, 3, [2, 1, 2]),
    (4, 3, [4, 1, 3]),
    (4, 4, [2, 4, 1]),
    (2, 4, [2, 2, 1]),
]


@pytest.mark.parametrize("T,L,lengths", CASES)
@pytest.mark.parametrize("constrained", [False, True])
def test_log_partition_and_decode_match_brute_force(T, L, lengths, constrained):
    constraints = None
    if constrained:
        g = torch.Generator().manual_seed(T * 10 + L)
        allowed = torch.rand(L, L, generator=g) > 0.35
        allowed[:, 0] = True  # keep at least one legal path of every length
        allowed[0, :] = True
        start = torch.rand(L, generator=g) > 0.3
        start[0] = True
        end = torch.rand(L, generator=g) > 0.3
        end[0] = True
        constraints = (start, allowed, end)
    crf = make_crf(L, constraints, seed=T + L)
    em, mask = random_batch(3, T, L, lengths, seed=T * 7 + L)
    with torch.no_grad():
        logz = crf.log_partition(em, mask)
        best = crf.decode(em, mask)
    for b, n in enumerate(lengths):
        ref_z, ref_path = brute(crf, em[b], n)
        assert torch.allclose(logz[b], ref_z, atol=1e-9, rtol=0), (b, logz[b], ref_z)
        assert best[b, :n].tolist() == ref_path
        assert best[b, n:].eq(0).all()


def test_score_matches_brute_force_and_padding_tags_ignored():
    crf = make_crf(4)
    em, mask = random_batch(3, 4, 4, [4, 2, 1], seed=3)
    tags = torch.randint(0, 4, (3, 4), generator=torch.Generator().manual_seed(1))
    padded = tags.clone()
    padded[~mask] = 3  # garbage at padding
    with torch.no_grad():
        s1 = crf.score(em, tags, mask)
        s2 = crf.score(em, padded, mask)
    assert torch.equal(s1, s2)
    for b, n in enumerate([4, 2, 1]):
        ref = path_score(crf, em[b], tags[b, :n].tolist())
        assert torch.allclose(s1[b], ref, atol=1e-12)


def test_hand_computed_case():
    # L=2, T=2.  Path score = start[y0] + e0[y0] + trans[y0,y1] + e1[y1] + end[y1].
    crf = CRF(2).double()
    with torch.no_grad():
        crf.start.copy_(torch.tensor([0.1, 0.0], dtype=torch.float64))
        crf.end.copy_(torch.tensor([0.0, 0.2], dtype=torch.float64))
        crf.transitions.copy_(torch.tensor([[0.5, -0.5], [0.0, 1.0]], dtype=torch.float64))
    em = torch.tensor([[[1.0, 0.0], [0.0, 0.5]]], dtype=torch.float64)
    mask = torch.ones(1, 2, dtype=torch.bool)
    # (0,0): 0.1 + 1.0 + 0.5 + 0.0 + 0.0 = 1.6
    # (0,1): 0.1 + 1.0 - 0.5 + 0.5 + 0.2 = 1.3
    # (1,0): 0.0 + 0.0 + 0.0 + 0.0 + 0.0 = 0.0
    # (1,1): 0.0 + 0.0 + 1.0 + 0.5 + 0.2 = 1.7
    expected = math.log(math.exp(1.6) + math.exp(1.3) + math.exp(0.0) + math.exp(1.7))
    with torch.no_grad():
        assert crf.log_partition(em, mask).item() == pytest.approx(expected, abs=1e-12)
        assert crf.decode(em, mask).tolist() == [[1, 1]]
        assert crf.score(em, torch.tensor([[0, 1]]), mask).item() == pytest.approx(1.3, abs=1e-12)
        nll = crf.nll(em, torch.tensor([[0, 0]]), mask).item()
        assert nll == pytest.approx(expected - 1.6, abs=1e-12)

    # Forbid 1 -> 1: best becomes (0,0) and (1,1) drops out of Z.
    crf2 = CRF(2, allowed=[[True, True], [True, False]]).double()
    crf2.load_state_dict({**crf.state_dict(), "allowed": crf2.allowed})
    expected2 = math.log(math.exp(1.6) + math.exp(1.3) + math.exp(0.0))
    with torch.no_grad():
        assert crf2.log_partition(em, mask).item() == pytest.approx(expected2, abs=1e-12)
        assert crf2.decode(em, mask).tolist() == [[0, 0]]


def test_padding_never_changes_results():
    L = 5
    crf = make_crf(L, bio_constraints(BIO), seed=4)
    g = torch.Generator().manual_seed(5)
    lengths = [3, 1, 5, 2]
    em = torch.randn(4, 5, L, generator=g, dtype=torch.float64)
    mask = torch.arange(5).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    tags = torch.randint(0, L, (4, 5), generator=g)
    with torch.no_grad():
        z, best, nll = crf.log_partition(em, mask), crf.decode(em, mask), crf.nll(em, tags, mask, reduction="none")
        # Extra padding with garbage emissions, and garbage in existing padding.
        em2 = torch.cat([em, 100 * torch.randn(4, 3, L, generator=g, dtype=torch.float64)], 1)
        em2[:, :5][~mask] = 50 * torch.randn(int((~mask).sum()), L, generator=g, dtype=torch.float64)
        mask2 = torch.cat([mask, torch.zeros(4, 3, dtype=torch.bool)], 1)
        tags2 = torch.cat([tags, torch.randint(0, L, (4, 3), generator=g)], 1)
        assert torch.allclose(crf.log_partition(em2, mask2), z, atol=1e-12)
        assert torch.equal(crf.decode(em2, mask2)[:, :5], best)
        assert torch.allclose(crf.nll(em2, tags2, mask2, reduction="none"), nll, atol=1e-12)
        # A batch result equals per-sequence results (unpadded).
        for b, n in enumerate(lengths):
            e = em[b : b + 1, :n]
            assert torch.allclose(crf.log_partition(e), z[b : b + 1], atol=1e-12)
            assert crf.decode(e).tolist() == [best[b, :n].tolist()]
            assert torch.allclose(crf.nll(e, tags[b : b + 1, :n]), nll[b], atol=1e-12)


def test_nll_nonnegative_reductions_and_gradient():
    L = 5
    crf = make_crf(L, bio_constraints(BIO), seed=6)
    em, mask = random_batch(3, 4, L, [4, 2, 3], seed=7)
    em.requires_grad_(True)
    tags = torch.tensor([[0, 1, 2, 0], [3, 4, 0, 0], [1, 2, 2, 0]])
    per = crf.nll(em, tags, mask, reduction="none")
    assert per.shape == (3,)
    assert (per >= 0).all()
    assert torch.allclose(crf.nll(em, tags, mask), per.sum())
    assert torch.allclose(crf.nll(em, tags, mask, reduction="mean"), per.mean())
    assert torch.allclose(crf(em, tags, mask), per.sum())
    crf.nll(em, tags, mask).backward()
    for p in (em, crf.transitions, crf.start, crf.end):
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert em.grad.abs().sum() > 0 and crf.transitions.grad.abs().sum() > 0
    assert em.grad[~mask].abs().max() == 0  # padding gets no gradient
    # Disallowed entries are forced, not learned: they get no gradient.
    assert crf.transitions.grad[~crf.allowed].abs().max() == 0
    # Illegal gold path (O -> I-PER) has a huge nll but still finite.
    bad = crf.nll(em.detach(), torch.tensor([[0, 2, 0, 0], [3, 4, 0, 0], [1, 2, 2, 0]]), mask, reduction="none")
    assert bad[0] > 1000 and torch.isfinite(bad).all()
    with pytest.raises(ValueError):
        crf.nll(em, tags, mask, reduction="avg")


def test_gradient_matches_finite_differences():
    crf = make_crf(3, seed=8)
    em, mask = random_batch(2, 3, 3, [3, 2], seed=9)
    tags = torch.tensor([[0, 2, 1], [1, 1, 0]])
    em.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: crf.nll(e, tags, mask), (em,))


def test_training_decreases_nll():
    torch.manual_seed(0)
    L = 5
    crf = CRF(L, *bio_constraints(BIO))
    em_param = torch.nn.Parameter(torch.zeros(2, 4, L))
    tags = torch.tensor([[1, 2, 0, 3], [3, 4, 4, 0]])
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    opt = torch.optim.SGD(list(crf.parameters()) + [em_param], lr=0.5)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = crf.nll(em_param, tags, mask)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.5
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:]))
    with torch.no_grad():
        assert crf.decode(em_param, mask)[0].tolist() == [1, 2, 0, 3]
        assert crf.decode(em_param, mask)[1, :3].tolist() == [3, 4, 4]


def test_constraints_are_buffers_in_state_dict():
    crf = CRF(5, *bio_constraints(BIO))
    sd = crf.state_dict()
    for k in ("allowed_start", "allowed", "allowed_end", "transitions", "start", "end"):
        assert k in sd
    assert sd["allowed"].dtype == torch.bool
    crf2 = CRF(5)
    crf2.load_state_dict(sd)
    assert torch.equal(crf2.allowed, crf.allowed)
    assert torch.equal(crf2.allowed_start, crf.allowed_start)
    # nested lists are accepted
    crf3 = CRF(2, allowed_start=[True, False], allowed=[[True, True], [False, True]], allowed_end=[True, True])
    assert crf3.allowed.tolist() == [[True, True], [False, True]]
    # parameters start small
    assert crf.transitions.abs().max() <= 0.1


def test_disallowed_forced_even_if_param_is_large():
    crf = CRF(5, *bio_constraints(BIO)).double()
    with torch.no_grad():
        crf.transitions[0, 2] = 1e6  # O -> I-PER is disallowed; the param must not matter
        crf.start[2] = 1e6
    em = torch.zeros(1, 3, 5, dtype=torch.float64)
    best = crf.decode(em, torch.ones(1, 3, dtype=torch.bool))[0].tolist()
    assert best[0] != 2
    assert not any(a == 0 and b == 2 for a, b in zip(best, best[1:]))


def test_shape_errors():
    crf = CRF(4)
    with pytest.raises(ValueError, match="4 labels"):
        crf.log_partition(torch.zeros(2, 3, 5), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError):
        crf.decode(torch.zeros(3, 4), None)
    with pytest.raises(ValueError):
        crf.nll(torch.zeros(2, 3, 4), torch.zeros(2, 2, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError):
        crf.log_partition(torch.zeros(2, 3, 4), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="length >= 1"):
        crf.log_partition(torch.zeros(2, 3, 4), torch.tensor([[True] * 3, [False] * 3]))
    with pytest.raises(ValueError):
        CRF(3, allowed=[[True, True], [True, True]])
