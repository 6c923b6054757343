"""Document consistency (``heads.N.doc_consistency``): the vote and the propagation on
hand-made documents, document boundaries (consecutive keys, None alone), and every way
in applying it the same: ``Tagger.predict_all``/``evaluate``, the dev score of training,
the torch-free runtime, ``tagger evaluate``/``predict`` and the recipe check."""
from __future__ import annotations

import io
import json

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from tagger.batching import build_vocabs
from tagger.cli import app
from tagger.config import load_recipe
from tagger.consistency import consistent, make_consistent, propagate, vote
from tagger.errors import TaggerError
from tagger.io.conll import read_conll2003
from tagger.model import SequenceTagger
from tagger.predict import Tagger, decode_corpus, encode_sentences, score
from tagger.recipe_check import check_recipe
from tagger.sources import demo_dir
from tagger.train import train

runner = CliRunner()
TINY = ["encoder.hidden=16", "embed.word_dim=8", "embed.char_dim=8", "embed.char_hidden=8", "embed.casing_dim=4",
        "train.threads=1"]


def test_a_mention_takes_its_documents_majority_type():
    words = [["Hingis", "beat", "Novotna"], ["Hingis", "won"], ["Hingis", "said"]]
    tags = [["B-PER", "O", "B-PER"], ["B-ORG", "O"], ["B-PER", "O"]]
    assert vote(words, tags) == [["B-PER", "O", "B-PER"], ["B-PER", "O"], ["B-PER", "O"]]
    # A tie keeps each mention's own type; other mentions and O tags are untouched.
    assert vote(words[:2], tags[:2]) == tags[:2]
    # A mention of several words votes as a whole, not per word.
    two = [["New", "York", "won"], ["New", "York", "lost"], ["New", "York", "Times"]]
    two_tags = [["B-LOC", "I-LOC", "O"], ["B-ORG", "I-ORG", "O"], ["B-LOC", "I-LOC", "O"]]
    assert vote(two, two_tags)[1] == ["B-LOC", "I-LOC", "O"]


def test_untagged_repeats_of_a_capitalised_mention_are_tagged_longest_first():
    words = [["The", "New", "York", "Times", "and", "New", "York"], ["New", "York", "Times", "said"],
             ["New", "York", "again"], ["apple", "pie"], ["apple", "Hingis"], ["Hingis", "Hingis"]]
    tags = [["O", "B-ORG", "I-ORG", "I-ORG", "O", "B-LOC", "I-LOC"], ["O"] * 4,
            ["O", "B-MISC", "O"], ["B-MISC", "O"], ["O", "O"], ["B-PER", "O"]]
    got = propagate(words, tags)
    assert got[1] == ["B-ORG", "I-ORG", "I-ORG", "O"]  # the longest known mention wins
    assert got[2] == tags[2]  # partly tagged: left as it is
    # "apple" is not capitalised, so it spreads nowhere; "Hingis" does, from a later sentence too.
    assert got[4] == ["O", "B-PER"]
    assert got[5] == ["B-PER", "B-PER"]  # a repeat within one sentence counts
    assert propagate([["Hingis", "Hingis"]], [["O", "O"]]) == [["O", "O"]]  # nothing known: nothing new


def test_documents_are_runs_of_equal_keys_and_none_stands_alone():
    words = [["Hingis", "won"], ["Hingis", "lost"], ["Hingis", "again"], ["Hingis"]]
    tags = [["B-PER", "O"], ["B-PER", "O"], ["B-ORG", "O"], ["O"]]
    # docs 1, 1 | 2 | 1: the last sentence is a new document (keys are runs, not sets).
    assert make_consistent(words, tags, [1, 1, 2, 1], "vote+propagate") == tags
    assert make_consistent(words, tags, [None] * 4, "vote+propagate") == tags
    assert make_consistent(words, tags, [1, 1, 1, 1], "vote") == [["B-PER", "O"]] * 3 + [["O"]]
    assert make_consistent(words, tags, [1, 1, 1, 1], "vote+propagate")[3] == ["B-PER"]
    assert make_consistent(words, tags, [1, 1, 1, 1], "none") == tags
    with pytest.raises(ValueError, match="doc_consistency"):
        make_consistent(words, tags, [1] * 4, "majority")
    labels = [{"ner": t, "pos": ["X"] * len(t)} for t in tags]
    assert [entry["ner"] for entry in consistent(labels, words, [1] * 4, {"ner": "vote"})] == \
        [["B-PER", "O"]] * 3 + [["O"]]


@pytest.fixture(scope="module")
def demo_valid():
    return read_conll2003(demo_dir() / "valid.txt")


def random_tagger(*overrides: str) -> Tagger:
    torch.manual_seed(0)
    recipe = load_recipe("demo", TINY + list(overrides))
    model = SequenceTagger(recipe, build_vocabs(read_conll2003(demo_dir() / "train.txt"), recipe.heads, recipe.embed))
    return Tagger(model.eval())


def test_the_tagger_applies_the_recipes_mode_per_document(demo_valid):
    tagger_ = random_tagger()
    words, docs = [s.words for s in demo_valid], [s.doc for s in demo_valid]
    plain = tagger_.predict_all(words, docs=docs)
    assert not tagger_.reads_documents and tagger_.doc_consistency == {"ner": "none"}
    tagger_.set_doc_consistency("vote+propagate")
    assert tagger_.reads_documents
    expected = make_consistent(words, [p["ner"] for p in plain], docs, "vote+propagate")
    assert expected != [p["ner"] for p in plain]  # the random model's mentions disagree: the test can fail
    assert [p["ner"] for p in tagger_.predict_all(words, docs=docs)] == expected
    assert [p["ner"] for p in tagger_.predict_with_proba(words, docs=docs)[0]] == expected
    # Sentences without document keys are each alone: nothing to vote across.
    assert tagger_.predict_all(words) == [{"ner": make_consistent([w], [p["ner"]], [None], "vote+propagate")[0]}
                                          for w, p in zip(words, plain)]
    f1 = tagger_.evaluate(demo_valid, detailed=False)["ner"]["f1"]
    assert f1 == score(demo_valid, [{"ner": t} for t in expected], tagger_.model)["ner"]["f1"]
    with pytest.raises(TaggerError, match="unknown doc consistency 'majority'"):
        tagger_.set_doc_consistency("majority")


@pytest.mark.parametrize("overrides, field", [
    (["heads.0.doc_consistency=majority"], "choose one of: none, vote, vote\\+propagate"),
    (["heads.0.kind=softmax", "heads.0.span=false", "heads.0.doc_consistency=vote"], "only a span head"),
])
def test_the_recipe_check_names_a_bad_mode(overrides, field):
    with pytest.raises(TaggerError, match=f"heads.0.doc_consistency = '[a-z+]+': {field}"):
        check_recipe(load_recipe("demo", overrides))


def test_training_scores_dev_with_the_mode_and_the_model_keeps_it(tmp_path, demo_valid):
    recipe = load_recipe("demo", TINY + ["train.max_epochs=2", "train.lr=0.03", "heads.0.doc_consistency=vote"])
    result = train(recipe, tmp_path / "run", Console(file=io.StringIO()))
    config = json.loads((result.best_dir / "config.json").read_text())
    assert config["recipe"]["heads"][0]["doc_consistency"] == "vote"
    loaded = Tagger.load(result.best_dir)
    assert loaded.doc_consistency == {"ner": "vote"}
    model = loaded.model
    raw = decode_corpus(model, encode_sentences(demo_valid, model))
    voted = make_consistent([s.words for s in demo_valid], [r["ner"] for r in raw], [s.doc for s in demo_valid], "vote")
    assert result.best_dev["ner"]["f1"] == score(demo_valid, [{"ner": t} for t in voted], model)["ner"]["f1"]
    assert loaded.evaluate(demo_valid, detailed=False)["ner"]["f1"] == result.best_dev["ner"]["f1"]


def test_export_and_cli_apply_the_same_mode(tmp_path, demo_valid):
    pytest.importorskip("onnxruntime")
    import tagger.runtime as runtime
    from tagger.export import export_model

    tagger_ = random_tagger("heads.0.doc_consistency=vote+propagate")
    model_dir = tagger_.model.save(tmp_path / "model")
    export_dir = export_model(model_dir, tmp_path / "onnx")
    onnx = runtime.load(export_dir)
    assert onnx.reads_documents and onnx.doc_consistency == {"ner": "vote+propagate"}
    words, docs = [s.words for s in demo_valid], [s.doc for s in demo_valid]
    assert onnx.predict_all(words, docs=docs) == tagger_.predict_all(words, docs=docs)
    onnx.set_doc_consistency("none")
    tagger_.set_doc_consistency("none")
    assert onnx.predict_all(words, docs=docs) == tagger_.predict_all(words, docs=docs)
    valid = demo_dir() / "valid.txt"
    scores = {}
    for name, directory in (("model", model_dir), ("export", export_dir)):
        for mode in ("none", "vote+propagate"):
            out = tmp_path / f"{name}-{mode}.json"
            result = runner.invoke(app, ["evaluate", str(directory), "--file", str(valid), "--doc-consistency", mode,
                                         "--json", str(out)])
            assert result.exit_code == 0, result.output
            scores[name, mode] = json.loads(out.read_text())["report"]["ner"]["f1"]
    raw = [p["ner"] for p in tagger_.predict_all(words, docs=docs)]
    expected = make_consistent(words, raw, docs, "vote+propagate")
    for mode, tags in (("none", raw), ("vote+propagate", expected)):
        f1 = score(demo_valid, [{"ner": t} for t in tags], tagger_.model)["ner"]["f1"]
        assert scores["model", mode] == scores["export", mode] == pytest.approx(f1)
    bad = runner.invoke(app, ["evaluate", str(model_dir), "--file", str(valid), "--doc-consistency", "often"])
    assert bad.exit_code == 1 and "unknown doc consistency 'often'" in bad.output
    # predict --input reads the documents of a CoNLL file and votes within them.
    for directory in (model_dir, export_dir):
        out = tmp_path / f"{directory.name}.jsonl"
        result = runner.invoke(app, ["predict", str(directory), "--input", str(valid), "--input-format", "conll", "--format", "jsonl",
                                     "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert [json.loads(line)["ner"] for line in out.read_text().splitlines()] == expected


def test_a_spacy_doc_and_a_served_request_are_each_one_document(tmp_path):
    spacy = pytest.importorskip("spacy")
    from tagger.serve.batching import Job, run_jobs
    from tagger.serve.models import ServedModel
    from tagger.spacy_component import BilstmTaggerComponent

    model_dir = random_tagger("heads.0.doc_consistency=vote+propagate").model.save(tmp_path / "model")
    loaded = Tagger.load(model_dir)
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp("EU rejects German call . German officials met the EU . Peter Blackburn said EU rejects German lamb .")
    component = BilstmTaggerComponent(model=str(model_dir))
    units = component.model_words(doc)
    assert len(units) == 3
    raw = [r["ner"] for r in decode_corpus(loaded.model, encode_sentences(units, loaded.model))]
    expected = make_consistent(units, raw, [0, 0, 0], "vote+propagate")
    assert expected != raw  # so the test fails if the component tags the sentences apart
    assert [labels["ner"] for _, _, labels in component.predict([doc])[0]] == expected
    # tagger serve: the sentences of one request are one document, another request another.
    served = ServedModel("m", loaded, ["ner"], [])
    results = run_jobs(served, [Job(units, False, None), Job(units[:1], False, None)])
    assert [p.labels["ner"] for p in results[0]] == expected
    assert [p.labels["ner"] for p in results[1]] == make_consistent(units[:1], raw[:1], [0], "vote+propagate")


def test_a_foreign_mode_in_a_model_or_export_file_is_a_one_line_error(tmp_path):
    model_dir = random_tagger().model.save(tmp_path / "model")
    config = json.loads((model_dir / "config.json").read_text())
    config["recipe"]["heads"][0]["doc_consistency"] = "always"
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(TaggerError, match=r"heads\[0\].doc_consistency is 'always'; expected one of: none, vote"):
        Tagger.load(model_dir)
    result = runner.invoke(app, ["predict", str(model_dir), "EU rejects it"])
    assert result.exit_code == 1 and "config.json" in result.output and "Traceback" not in result.output
    pytest.importorskip("onnxruntime")
    import tagger.runtime as runtime
    from tagger.export import export_model

    export_dir = export_model(random_tagger().model.save(tmp_path / "ok"), tmp_path / "onnx")
    meta = json.loads((export_dir / "export.json").read_text())
    meta["heads"][0]["doc_consistency"] = 3
    (export_dir / "export.json").write_text(json.dumps(meta))
    with pytest.raises(TaggerError, match=r"heads\[0\].doc_consistency is 3"):
        runtime.load(export_dir)
