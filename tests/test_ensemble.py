"""``tagger ensemble``: several taggers as one model directory. One member decodes like
the model itself; two CRFs pick the path with the highest product of their
probabilities (brute force over every path); shared frozen char LMs run once with the
same labels; the directory round-trips and works in evaluate and predict; mistakes are
one-line errors."""
from __future__ import annotations

import itertools
import json

import pytest
import torch
from tiny_models import demo_batch, flat, random_model
from typer.testing import CliRunner

from tagger.batching import collate, encode
from tagger.cli import app
from tagger.corpus import load_corpus
from tagger.io.conll import read_conll2003
from tagger.model import EnsembleTagger, load_model
from tagger.predict import Tagger
from tagger.sources import demo_dir

runner = CliRunner()


@pytest.mark.parametrize("recipe, overrides", [
    ("demo", []), ("demo", ["heads.0.kind=softmax"]), ("demo", ["heads.0.kind=softmax", "heads.0.span=false"]),
    ("sentiment-demo", []),
])
def test_an_ensemble_of_one_decodes_like_its_model(recipe, overrides):
    model = random_model(0, *overrides, recipe=recipe)
    batch = demo_batch(model) if recipe == "demo" else None
    if batch is None:
        sentences = load_corpus(model.recipe.data, model.recipe.heads, ("valid",))["valid"][:30]
        batch = collate([encode(s, model.vocabs, with_labels=False) for s in sentences], list(range(len(sentences))))
    with torch.inference_mode():
        alone, together = model.decode(batch), EnsembleTagger([model]).decode(batch)
    for task in alone:
        assert torch.allclose(alone[task].float(), together[task].float(), atol=1e-6), task


def path_score(head, emissions: torch.Tensor, path: tuple[int, ...]) -> float:
    trans, start, end = (p.detach() for p in head.crf.masked_params())
    total = start[path[0]] + end[path[-1]] + sum(emissions[i, t] for i, t in enumerate(path))
    return float(total + sum(trans[a, b] for a, b in zip(path, path[1:])))


def test_two_crfs_pick_the_path_with_the_highest_product_of_probabilities():
    members = [random_model(1), random_model(2)]
    ensemble = EnsembleTagger(members)
    batch = demo_batch(members[0], len(read_conll2003(demo_dir() / "valid.txt")))
    with torch.inference_mode():
        states = ensemble.member_states(batch)
        got = ensemble.decode(batch)["ner"]
        emissions = [m.heads["ner"].proj(s) for m, s in zip(members, states)]
    labels = range(1, emissions[0].shape[-1])  # 0 is padding
    checked = 0
    for row, n in enumerate(batch.lengths.tolist()):
        if n > 3:  # 9 labels: every path of up to 3 words
            continue
        # Each CRF's log-probability of a path is its score minus a per-sentence constant.
        best = max(itertools.product(labels, repeat=n),
                   key=lambda p: sum(path_score(m.heads["ner"], e[row], p) for m, e in zip(members, emissions)))
        assert got[row, :n].tolist() == list(best)
        checked += 1
    assert checked >= 3
    # And not simply the first member's path everywhere.
    with torch.inference_mode():
        assert not torch.equal(got, members[0].decode(batch)["ner"])


@pytest.fixture
def charlm_paths(charlms):
    """The shared char LMs as a recipe override, and the folder of their run directories."""
    return f"embed.charlm='{charlms[0]},{charlms[1]}'", charlms[0].parent.parent


def test_shared_char_lms_run_once_with_the_same_labels(charlm_paths):
    overrides, _ = charlm_paths
    members = [random_model(3, overrides), random_model(4, overrides)]
    ensemble = EnsembleTagger(members)
    assert ensemble.shared_lms
    batch = demo_batch(members[0])
    calls = []
    hook = members[1].embedder.charlm.register_forward_hook(lambda *args: calls.append(1))
    with torch.inference_mode():
        shared = ensemble.decode(batch)
        ensemble.shared_lms = False
        separate = ensemble.decode(batch)
    hook.remove()
    assert len(calls) == 1  # member 2's LMs ran only when not shared
    assert torch.equal(shared["ner"], separate["ner"])


def test_cli_builds_an_ensemble_that_round_trips_and_tags(tmp_path, charlm_paths):
    overrides, lm_root = charlm_paths
    dirs = [random_model(seed, overrides).save(tmp_path / f"m{seed}") for seed in (5, 6, 7)]
    out = tmp_path / "ens"
    result = runner.invoke(app, ["ensemble", str(dirs[0]), str(dirs[1]), "-o", str(out), "--doc-consistency", "vote"])
    assert result.exit_code == 0, result.output
    assert "an ensemble of 2 taggers, their char LMs run once" in flat(result.output)
    loaded = Tagger.load(out)
    assert isinstance(loaded.model, EnsembleTagger) and loaded.model.shared_lms
    assert loaded.doc_consistency == {"ner": "vote"}
    assert json.loads((out / "config.json").read_text())["members"][0]["heads"][0]["doc_consistency"] == "none"
    in_memory = Tagger(EnsembleTagger([load_model(d) for d in dirs[:2]]))
    sentences = [s.words for s in read_conll2003(demo_dir() / "valid.txt")]
    assert loaded.predict(sentences) == in_memory.predict(sentences)
    # An ensemble given to ensemble adds its members.
    assert runner.invoke(app, ["ensemble", str(out), str(dirs[2]), "-o", str(tmp_path / "three")]).exit_code == 0
    assert len(load_model(tmp_path / "three").members) == 3
    valid = demo_dir() / "valid.txt"
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["evaluate", str(out), "--file", str(valid), "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["report"]["ner"]["f1"] == loaded.evaluate(read_conll2003(valid))["ner"]["f1"]
    result = runner.invoke(app, ["predict", str(out), "EU rejects German call"])
    assert result.exit_code == 0, result.output
    # Mistakes: one line, exit 1.
    other_data = random_model(8, overrides, train_file="valid.txt").save(tmp_path / "other")
    for args, message in (
        ([str(dirs[0])], "an ensemble needs two or more models"),
        ([str(dirs[0]), str(other_data)], "ensemble member 2 has other vocabularies"),
        ([str(dirs[0]), str(lm_root / "fwd")], "an ensemble combines taggers, and this is a lm model"),
        ([str(dirs[0]), str(dirs[1]), "--doc-consistency", "all"], "unknown doc consistency 'all'"),
        ([str(dirs[0]), str(tmp_path / "missing")], "missing"),
    ):
        result = runner.invoke(app, ["ensemble", *args, "-o", str(tmp_path / "bad")])
        assert result.exit_code == 1 and message in flat(result.output), (args, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "bad").exists()
    pytest.importorskip("onnxruntime")
    result = runner.invoke(app, ["export", str(out), str(tmp_path / "onnx")])
    assert result.exit_code == 1 and "an ensemble (tagger ensemble) cannot be exported" in flat(result.output)


@pytest.mark.parametrize("members, message", [
    (7, "members is not a list of recipes"), ([], "members is not a list of recipes"),
    (["x"], r"members\[0\] is not a JSON object"),
])
def test_a_foreign_ensemble_config_is_a_one_line_error(tmp_path, members, message):
    from tagger.errors import TaggerError

    out = EnsembleTagger([random_model(9), random_model(10)]).save(tmp_path / "ens")
    config = json.loads((out / "config.json").read_text())
    config["members"] = members
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(TaggerError, match=message):
        load_model(out)
