"""Entity scores split by mentions seen and unseen in training (Augenstein et al., 2017)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.data import Sentence
from tagger.metrics import seen_unseen_report, training_mentions

OLD_TAGGER = Path(__file__).resolve().parent / "fixtures" / "models-2026-12" / "tagger"


def test_hand_computed_split():
    train = [Sentence(["Peter", "met", "him", "in", "Berlin"], {"ner": ["B-PER", "O", "O", "O", "B-LOC"]})]
    seen = training_mentions(train, "ner")
    assert seen == {("PER", ("Peter",)), ("LOC", ("Berlin",))}
    words = [["Peter", "lives", "in", "Berlin"], ["Anna", "visits", "Paris"], ["Berlin"]]
    gold = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"], ["B-ORG"]]
    pred = [["B-PER", "O", "O", "O"], ["B-PER", "O", "B-ORG"], ["B-LOC"]]
    report = seen_unseen_report(words, gold, pred, seen)
    # seen: gold Peter, Berlin(LOC); predicted Peter and Berlin(LOC) of the third sentence; 1 correct
    assert report["seen"] | {} == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "gold": 2, "predicted": 2, "correct": 1}
    # unseen: gold Anna, Paris(LOC), Berlin(ORG: another type); predicted Anna, Paris(ORG); 1 correct
    assert report["unseen"]["gold"] == 3 and report["unseen"]["predicted"] == 2 and report["unseen"]["correct"] == 1
    assert report["unseen"]["precision"] == 0.5 and report["unseen"]["recall"] == pytest.approx(1 / 3)
    assert report["unseen"]["f1"] == pytest.approx(0.4)
    # sentences 2 and 3 have only unseen gold entities: 1 of 3 gold and of 3 predicted right
    assert report["unseen_sentences"]["sentences"] == 2
    assert report["unseen_sentences"]["f1"] == pytest.approx(1 / 3)


def test_evaluate_unseen_on_a_model_and_its_training_data(tmp_path):
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["evaluate", str(OLD_TAGGER), "--unseen", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "unseen in training" in result.output and "all-unseen sentences" in result.output
    ner = json.loads(out.read_text())["report"]["ner"]
    split = ner["seen_unseen"]
    assert split["seen"]["gold"] + split["unseen"]["gold"] == ner["micro avg"]["support"]
    assert split["seen"]["gold"] > 0 and split["unseen"]["gold"] > 0
    assert split["seen"]["correct"] + split["unseen"]["correct"] == round(ner["recall"] * ner["micro avg"]["support"])
