"""Knowledge distillation (``[distill]``): a CRF's marginals and its cross-entropy against
a target distribution match brute force over every path; each head's loss mixes the
teacher's distribution with the gold labels as the formula says; a student distilled
from a teacher that learnt swapped labels tags like the teacher; mistakes are one-line
errors before any data is read."""
from __future__ import annotations

import io
import itertools
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from rich.console import Console
from tiny_models import TINY, demo_batch, flat, random_model
from typer.testing import CliRunner

from tagger.batching import collate, encode
from tagger.cli import app
from tagger.distill import attach_teacher_targets
from tagger.io.conll import read_conll2003
from tagger.metrics import span_report
from tagger.model import EnsembleTagger, load_model
from tagger.nn.crf import CRF
from tagger.nn.heads import PooledClassifierHead, SoftmaxHead
from tagger.predict import Tagger
from tagger.sources import demo_dir

runner = CliRunner()


def tiny_crf(seed: int, labels: int = 4) -> CRF:
    """A CRF whose label 1 may not follow label 3 nor start a sentence (a BIO-like rule)."""
    torch.manual_seed(seed)
    allowed = torch.ones(labels, labels, dtype=torch.bool)
    allowed[3, 1] = False
    start = torch.ones(labels, dtype=torch.bool)
    start[1] = False
    crf = CRF(labels, start, allowed, None).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.uniform_(-1.5, 1.5)
    return crf


def path_log_probs(crf: CRF, emissions: torch.Tensor, n: int) -> dict[tuple[int, ...], float]:
    """log p(path) for every allowed path of length n (brute force)."""
    trans, start, end = (p.detach() for p in crf.masked_params())
    scores = {}
    for path in itertools.product(range(crf.num_labels), repeat=n):
        if not crf.allowed_start[path[0]] or any(not crf.allowed[a, b] for a, b in zip(path, path[1:])):
            continue
        score = start[path[0]] + end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
        scores[path] = float(score + sum(trans[a, b] for a, b in zip(path, path[1:])))
    log_z = torch.logsumexp(torch.tensor(list(scores.values()), dtype=torch.float64), 0).item()
    return {path: s - log_z for path, s in scores.items()}


def batch_of(lengths: list[int], labels: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(len(lengths), max(lengths), labels, generator=g, dtype=torch.float64) * 2
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    return emissions, mask


LENGTHS = [4, 1, 3, 2]


def test_crf_marginals_are_the_path_probabilities_summed():
    crf = tiny_crf(0)
    emissions, mask = batch_of(LENGTHS)
    unary, pairwise = crf.marginals(emissions, mask)
    assert unary.shape == (4, 4, 4) and pairwise.shape == (4, 3, 4, 4)
    for b, n in enumerate(LENGTHS):
        want_unary, want_pair = torch.zeros(4, 4, dtype=torch.float64), torch.zeros(3, 4, 4, dtype=torch.float64)
        for path, logp in path_log_probs(crf, emissions[b], n).items():
            for t, y in enumerate(path):
                want_unary[t, y] += math.exp(logp)
            for t, (i, j) in enumerate(zip(path, path[1:])):
                want_pair[t, i, j] += math.exp(logp)
        assert torch.allclose(unary[b], want_unary, atol=1e-9)
        assert torch.allclose(pairwise[b], want_pair, atol=1e-9)  # zero at padding too
    assert unary[:, 0, 1].abs().max() < 1e-12 and pairwise[..., 3, 1].abs().max() < 1e-12  # disallowed: never
    # One-word sentences only: no transitions, and each label's probability is its softmax.
    unary, pairwise = crf.marginals(emissions[:, :1], mask[:, :1])
    trans, start, end = (p.detach() for p in crf.masked_params())
    assert pairwise.shape == (4, 0, 4, 4)
    assert torch.allclose(unary[:, 0], torch.softmax(emissions[:, 0] + start + end, -1), atol=1e-9)


def test_soft_nll_is_the_cross_entropy_from_the_target_paths():
    student, teacher = tiny_crf(1), tiny_crf(2)
    emissions, mask = batch_of(LENGTHS, seed=1)
    teacher_emissions, _ = batch_of(LENGTHS, seed=2)
    unary, pairwise = teacher.marginals(teacher_emissions, mask)
    tags = torch.tensor([[0, 2, 1, 3], [2, 0, 0, 0], [3, 3, 0, 0], [0, 1, 0, 0]])
    mixed = student.soft_nll(emissions, unary, pairwise, mask, tags, weight=0.3)
    pure = student.soft_nll(emissions, unary, pairwise, mask)
    gold = student.nll(emissions, tags, mask, reduction="none")
    for b, n in enumerate(LENGTHS):
        q = path_log_probs(teacher, teacher_emissions[b], n)
        p = path_log_probs(student, emissions[b], n)
        want = -sum(math.exp(lq) * p[path] for path, lq in q.items())
        assert pure[b].item() == pytest.approx(want, abs=1e-9)
        assert mixed[b].item() == pytest.approx(0.3 * want + 0.7 * gold[b].item(), abs=1e-9)
    # The gold path's own marginals as the target: exactly the negative log-likelihood.
    one_hot = torch.nn.functional.one_hot(tags, 4).double() * mask[..., None]
    pair = one_hot[:, :-1, :, None] * one_hot[:, 1:, None, :]
    assert torch.allclose(student.soft_nll(emissions, one_hot, pair, mask), gold, atol=1e-9)


def test_soft_nll_gradient_is_the_student_marginals_minus_the_target():
    student, teacher = tiny_crf(3), tiny_crf(4)
    emissions, mask = batch_of(LENGTHS, seed=3)
    unary, pairwise = teacher.marginals(batch_of(LENGTHS, seed=4)[0], mask)
    emissions.requires_grad_()
    student.soft_nll(emissions, unary, pairwise, mask).sum().backward()
    own, _ = student.marginals(emissions.detach(), mask)
    assert torch.allclose(emissions.grad, own - unary, atol=1e-9)


def test_an_ensembles_crf_targets_are_the_normalised_product_of_its_members():
    members = [random_model(1), random_model(2)]
    batch = demo_batch(members[0])
    with torch.no_grad():
        unary, pairwise = EnsembleTagger(members).soft_targets(batch)["ner"]
        states = [m.states(batch) for m in members]
        alone = members[0].soft_targets(batch)["ner"]
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(EnsembleTagger(members[:1]).soft_targets(batch)["ner"], alone))
    mask = batch.head_mask
    assert torch.allclose(unary.sum(-1), mask.float(), atol=1e-5)
    assert pairwise[:, 0].abs().max() == 0  # the first word has no predecessor
    assert torch.allclose(pairwise[:, 1:].sum((-1, -2)), mask[:, 1:].float(), atol=1e-5)
    row = next(r for r, n in enumerate(batch.lengths.tolist()) if n == 2)
    heads = [m.heads["ner"] for m in members]
    labels = range(1, unary.shape[-1])
    # p(path) is proportional to the geometric mean of the members' probabilities.
    scores = {}
    for path in itertools.product(labels, repeat=2):
        total = 0.0
        for head, s in zip(heads, states):
            trans, start, end = (p.detach() for p in head.crf.masked_params())
            e = head.proj(s[row]).detach()
            total += float(start[path[0]] + e[0, path[0]] + trans[path[0], path[1]] + e[1, path[1]] + end[path[1]]) / 2
        scores[path] = total
    log_z = torch.logsumexp(torch.tensor(list(scores.values()), dtype=torch.float64), 0).item()
    for (a, b), score in scores.items():
        assert pairwise[row, 1, a, b].item() == pytest.approx(math.exp(score - log_z), abs=1e-5)


def test_softmax_and_classifier_losses_mix_teacher_and_gold():
    torch.manual_seed(0)
    states, mask = torch.randn(2, 3, 6), torch.tensor([[True, True, True], [True, True, False]])
    gold = torch.tensor([[1, 2, 3], [2, 1, 0]])
    head = SoftmaxHead(6, ["<pad>", "O", "B-X", "I-X"], span=True)
    teacher = torch.softmax(torch.randn(2, 3, 4), -1) * mask[..., None]
    log_p = F.log_softmax(head.proj(states), -1)
    target = 0.25 * teacher + 0.75 * F.one_hot(gold, 4)
    want = -(target * log_p)[mask].sum() / 2
    assert head.loss(states, gold, mask, (teacher,), 0.25).item() == pytest.approx(want.item(), rel=1e-6)
    assert head.loss(states, gold, mask, (teacher,), 0.0).item() == pytest.approx(head.loss(states, gold, mask).item(), rel=1e-6)
    for multi in (False, True):
        classifier = PooledClassifierHead(6, ["a", "b", "c"], multi_label=multi)
        probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
        cats = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]) if multi else torch.tensor([[0], [2]])
        logits, _ = classifier.logits(states, mask)
        if multi:
            want = F.binary_cross_entropy_with_logits(logits, 0.5 * probs + 0.5 * cats, reduction="sum") / 2
        else:
            want = -((0.5 * probs + 0.5 * F.one_hot(cats.view(-1), 3)) * F.log_softmax(logits, -1)).sum() / 2
        assert classifier.loss(states, cats, mask, (probs,), 0.5).item() == pytest.approx(want.item(), rel=1e-6)


def swapped(path: Path, out: Path) -> Path:
    """The CoNLL file with PER and LOC swapped: what a teacher trained on it learns is not the gold."""
    swap = {"PER": "LOC", "LOC": "PER"}
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cols = line.split()
        if cols and cols[-1][:2] in ("B-", "I-") and cols[-1][2:] in swap:
            cols[-1] = cols[-1][:2] + swap[cols[-1][2:]]
        lines.append(" ".join(cols))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def train(*args: str) -> str:
    result = runner.invoke(app, ["train", "demo", *[a for s in TINY for a in ("--set", s)], *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_student_learns_the_teachers_labels_rather_than_the_gold(tmp_path):
    demo = demo_dir()
    files = [swapped(demo / name, tmp_path / name) for name in ("train.txt", "valid.txt")]
    train("--set", "data.source=", "--set", f"data.train={files[0]}", "--set", f"data.dev={files[1]}",
          "--set", "train.max_epochs=15", "-o", str(tmp_path / "teacher"))
    output = train("--set", f"distill.teacher={tmp_path / 'teacher'}", "--set", "distill.weight=1.0",
                   "--set", "train.max_epochs=15", "-o", str(tmp_path / "student"))
    assert "distillation: the label distributions of" in output and "(1 model)" in output
    valid = read_conll2003(demo / "valid.txt")
    gold = [s.tags["ner"] for s in valid]
    teacher = Tagger.load(tmp_path / "teacher").predict([s.words for s in valid])
    student = Tagger.load(tmp_path / "student").predict([s.words for s in valid])
    swapped_gold = [s.tags["ner"] for s in read_conll2003(files[1])]
    f1 = lambda reference, labels: span_report(reference, labels)["f1"]
    assert f1(swapped_gold, teacher) > 0.6  # the teacher learnt its swapped labels
    assert f1(teacher, student) > f1(gold, student) + 0.2
    per = lambda reference: span_report(reference, student)["per_type"]["PER"]["f1"]
    assert per(swapped_gold) > 0.5 > per(gold) + 0.3  # what it calls PER is the gold LOC
    assert load_model(tmp_path / "student").recipe.distill.teacher == str(tmp_path / "teacher")


def test_an_ensemble_with_char_lms_teaches_the_distribution_it_decodes(tmp_path, charlms):
    overrides = f"embed.charlm='{charlms[0]},{charlms[1]}'"
    members = [random_model(seed, overrides) for seed in (1, 2)]
    teacher = EnsembleTagger(members).save(tmp_path / "ensemble")
    student = random_model(3, overrides, f"distill.teacher={teacher}")
    sentences = read_conll2003(demo_dir() / "valid.txt")[:12]
    data = [encode(s, student.vocabs) for s in sentences]
    attach_teacher_targets(student, data, sentences, torch.device("cpu"), 5, Console(file=io.StringIO()))
    with torch.no_grad():
        unary, pairwise = EnsembleTagger(members).soft_targets(demo_batch(members[0], 12))["ner"]
    for row, encoded in enumerate(data):
        n = len(encoded)
        assert encoded.soft["ner"][0].dtype == torch.float16 and encoded.soft["ner"][0].shape == (n, unary.shape[-1])
        assert torch.allclose(encoded.soft["ner"][0].float(), unary[row, :n], atol=1e-3)
        assert torch.allclose(encoded.soft["ner"][1].float(), pairwise[row, :n], atol=1e-3)
    batch = collate(data, list(range(len(data))))
    with torch.no_grad():
        states = student.states(batch)
        head = student.heads["ner"]
        mixed = head.loss(states, batch.labels["ner"], batch.head_mask, batch.soft["ner"], 0.5)
        assert student.loss(batch).item() == pytest.approx(mixed.item(), rel=1e-6)
        assert mixed.item() != pytest.approx(head.loss(states, batch.labels["ner"], batch.head_mask).item(), rel=1e-3)
    output = train("--set", overrides, "--set", f"distill.teacher={teacher}", "--set", "train.max_epochs=1",
                   "-o", str(tmp_path / "student"))
    assert "(2 models)" in output


def test_distillation_mistakes_are_one_line_errors_before_training(tmp_path):
    crf_teacher = random_model(1).save(tmp_path / "crf")
    softmax_teacher = random_model(1, "heads.0.kind=softmax").save(tmp_path / "softmax")
    other_task = random_model(1, recipe="sentiment-demo").save(tmp_path / "sentiment")
    no_misc = tmp_path / "no_misc.txt"
    no_misc.write_text((demo_dir() / "train.txt").read_text(encoding="utf-8").replace("I-MISC", "O"), encoding="utf-8")
    fewer_labels = random_model(1, train_file=str(no_misc)).save(tmp_path / "fewer")
    for args, message in (
        ([f"distill.teacher={fewer_labels}"], "distill.teacher's 'ner' labels are not the training data's (it lacks B-MISC, I-MISC)"),
        ([f"distill.teacher={tmp_path / 'missing'}"], "missing"),
        ([f"distill.teacher={softmax_teacher}"], "distill.teacher's 'ner' head is kind = 'softmax', span, the recipe's"),
        ([f"distill.teacher={other_task}"], "distill.teacher has no 'ner' task (heads.0); it has: sentiment"),
        ([f"distill.teacher={crf_teacher}", "distill.weight=1.5"], "distill.weight = 1.5: must be in [0, 1]"),
    ):
        result = runner.invoke(app, ["train", "demo", *[a for s in TINY + args for a in ("--set", s)],
                                     "-o", str(tmp_path / "run")])
        assert result.exit_code == 1 and message in flat(result.output), (args, result.output)
        assert "Traceback" not in result.output and not (tmp_path / "run").exists()
