"""An empty sentence is tagged as empty, in place: the API returns ``[]`` for it (never an
error that loses the batch), and the command line writes an empty record for it, so
output records stay in step with input records."""
from __future__ import annotations

import io
import json

import pytest
import spacy
from rich.console import Console
from typer.testing import CliRunner

import tagger
from tagger.cli import app
from tagger.config import load_recipe
from tagger.train import train

runner = CliRunner()
TINY = ["encoder.hidden=16", "embed.word_dim=8", "embed.char_hidden=8", "train.max_epochs=2"]


@pytest.fixture(scope="module")
def ner(tmp_path_factory):
    out = tmp_path_factory.mktemp("empty_ner")
    train(load_recipe("demo", TINY), out, Console(file=io.StringIO()))
    return out / "best"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("empty_cls")
    train(load_recipe("sentiment-demo", TINY), out, Console(file=io.StringIO()))
    return out / "best"


def test_the_api_tags_an_empty_sentence_as_empty_in_place(ner):
    model = tagger.load(ner)
    words = ["Anna", "Lindqvist", "visited", "Oslo", "."]
    alone = model.predict([words])[0]
    assert model.predict(["", words, [], "   ", " ".join(words)]) == [[], alone, [], [], alone]
    assert model.predict_all([""]) == [{"ner": []}]
    assert list(model.predict_stream(iter(["", words, ""]), chunk=2)) == [{"ner": []}, {"ner": alone}, {"ner": []}]


def test_a_classifier_gives_an_empty_sentence_no_label_and_no_probabilities(classifier):
    model = tagger.load(classifier)
    text = "a wonderful , moving film"
    labels, proba = model.predict_with_proba(["", text])
    assert labels[0] == {"sentiment": []} and proba[0] == {"sentiment": {}}
    assert labels[1]["sentiment"] and abs(sum(proba[1]["sentiment"].values()) - 1) < 1e-5
    assert model.predict_proba([text, ""])[1] == {}
    assert model.explain(["", text])[0] == []


@pytest.mark.parametrize("fmt,empty", [("spans", ""), ("jsonl", None), ("conll", None)])
def test_the_cli_writes_one_record_per_input_record(ner, tmp_path, fmt, empty):
    source = tmp_path / "in.txt"
    source.write_text("EU rejects German call .\n\n  \nPeter Blackburn\n", encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    result = runner.invoke(app, ["predict", str(ner), "--input", str(source), "-f", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    if fmt == "spans":
        assert [bool(line) for line in text.split("\n")[:-1]] == [True, False, False, True]
    elif fmt == "jsonl":
        records = [json.loads(line) for line in text.splitlines()]
        assert [r["tokens"] for r in records][1:3] == [[], []] and records[1] == {"tokens": [], "ner": [], "ner_spans": []}
        assert len(records) == 4
    else:
        blocks = text.split("\n\n")[:-1]  # every record, empty or not, ends with a blank line
        assert [len(b.splitlines()) for b in blocks] == [5, 0, 0, 2]


def test_an_empty_argument_gives_an_empty_line(ner):
    result = runner.invoke(app, ["predict", str(ner), "", "EU rejects German call ."])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0] == "" and "EU" in lines[1]
    assert len(lines) == 3 and lines[2] == ""


def test_a_classifier_keeps_blank_lines_in_place(classifier, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("a wonderful film\n\nthe worst film\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", str(classifier), "--input", str(source)])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[0] and lines[2]


def test_spacy_and_map_predict_take_empty_input(ner):
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(ner)})
    docs = list(nlp.pipe(["", "Anna Lindqvist visited Oslo .", "   "]))
    assert [len(d) for d in docs][0] == 0 and docs[0].ents == () and docs[2].ents == ()
    from tagger.hf import predict_columns

    columns = predict_columns([[], ["Anna", "visited", "Oslo"], None], str(ner))
    assert columns["ner"][0] == [] and columns["ner"][2] == [] and len(columns["ner"][1]) == 3
    text_columns = predict_columns(["", "Anna visited Oslo"], str(ner), text=True)
    assert text_columns["tokens"][0] == [] and text_columns["ner"][0] == []
