import json

import pytest
from seqeval.metrics import classification_report as seqeval_report
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from tagger.metrics import classification_report, format_span_report, span_report, token_accuracy

# 3 gold entities (PER, LOC, ORG); 2 predicted (PER right, LOC in the wrong place).
GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
PRED = [["B-PER", "I-PER", "O", "O"], ["B-LOC", "O"]]


def test_span_report_hand_computed():
    report = span_report(GOLD, PRED)
    assert report["precision"] == pytest.approx(0.5)
    assert report["recall"] == pytest.approx(1 / 3)
    assert report["f1"] == pytest.approx(0.4)
    assert report["per_type"] == {
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "ORG": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }
    assert report["micro avg"] == {"precision": 0.5, "recall": pytest.approx(1 / 3),
                                   "f1": pytest.approx(0.4), "support": 3}
    for avg in ("macro avg", "weighted avg"):
        assert report[avg] == {"precision": pytest.approx(1 / 3), "recall": pytest.approx(1 / 3),
                               "f1": pytest.approx(1 / 3), "support": 3}


def test_span_report_matches_seqeval_and_is_json_able():
    report = span_report(GOLD, PRED)
    kwargs = {"mode": "strict", "scheme": IOB2}
    assert report["precision"] == pytest.approx(precision_score(GOLD, PRED, **kwargs))
    assert report["recall"] == pytest.approx(recall_score(GOLD, PRED, **kwargs))
    assert report["f1"] == pytest.approx(f1_score(GOLD, PRED, **kwargs))
    raw = seqeval_report(GOLD, PRED, output_dict=True, zero_division=0, **kwargs)
    for name, row in report["per_type"].items():
        assert row["f1"] == pytest.approx(raw[name]["f1-score"])
        assert row["support"] == raw[name]["support"]
    assert json.loads(json.dumps(report)) == report
    values = [report["f1"], *(row["f1"] for row in report["per_type"].values())]
    assert all(type(v) is float for v in values)
    assert all(type(row["support"]) is int for row in report["per_type"].values())


def test_span_report_strict_ignores_i_without_b():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "I-LOC"]]
    report = span_report(gold, pred)
    assert report["precision"] == 1.0
    assert report["recall"] == 0.5
    assert report["f1"] == pytest.approx(2 / 3)
    assert report["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # the lenient (conlleval) reading would have counted it
    assert f1_score(gold, pred) == 1.0

    assert span_report([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])["f1"] == 0.0


def test_span_report_all_o():
    report = span_report([["O", "O"], ["O"]], [["O", "O"], ["O"]])
    assert report["f1"] == 0.0
    assert report["per_type"] == {}
    for avg in ("micro avg", "macro avg", "weighted avg"):
        assert report[avg] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert json.loads(json.dumps(report)) == report  # no NaN


def test_span_report_prediction_only_type_and_empty():
    report = span_report([["O", "O"]], [["B-PER", "O"]])
    assert report["per_type"] == {"PER": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}}
    assert span_report([], [])["f1"] == 0.0


def test_length_mismatch():
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        span_report(GOLD, [PRED[0], ["O"]])
    with pytest.raises(ValueError, match="sentence 1"):
        token_accuracy(GOLD, [PRED[0], ["O"]])
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        token_accuracy(GOLD, PRED[:1])


def test_token_accuracy():
    # 6 tokens, wrong at sentence 0 position 3 and sentence 1 position 0
    assert token_accuracy(GOLD, PRED) == pytest.approx(4 / 6)
    assert token_accuracy(GOLD, GOLD) == 1.0
    assert token_accuracy([], []) == 0.0
    assert token_accuracy([["NN", "VB"]], [["NN", "NN"]]) == 0.5


def test_format_span_report():
    text = format_span_report(span_report(GOLD, PRED), token_acc=4 / 6)
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1", "support"]
    assert any(line.split() == ["PER", "100.00", "100.00", "100.00", "1"] for line in lines)
    assert any(line.split() == ["LOC", "0.00", "0.00", "0.00", "1"] for line in lines)
    assert any(line.split() == ["micro", "avg", "50.00", "33.33", "40.00", "3"] for line in lines)
    assert any(line.split() == ["macro", "avg", "33.33", "33.33", "33.33", "3"] for line in lines)
    assert lines[-1].split() == ["token", "accuracy", "66.67"]
    # fixed width: every score row is as wide as the header
    rows = [line for line in lines if line and "accuracy" not in line]
    assert {len(line) for line in rows} == {len(lines[0])}


def test_format_span_report_all_o_without_accuracy():
    text = format_span_report(span_report([["O"]], [["O"]]))
    assert "accuracy" not in text
    assert "micro avg" in text


def test_classification_report():
    gold = ["pos", "pos", "neg", "neg", "neu"]
    pred = ["pos", "neg", "neg", "neg", "pos"]
    report = classification_report(gold, pred)
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["per_class"]["pos"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["per_class"]["neg"] == {"precision": pytest.approx(2 / 3), "recall": 1.0,
                                          "f1": pytest.approx(0.8), "support": 2}
    assert report["per_class"]["neu"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert report["macro avg"]["support"] == 5
    assert json.loads(json.dumps(report)) == report


def test_classification_report_predicted_only_class_and_errors():
    report = classification_report(["a", "a"], ["a", "b"])
    assert report["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)
    assert classification_report([], [])["accuracy"] == 0.0
    with pytest.raises(ValueError, match="2 gold labels but 1 predicted"):
        classification_report(["a", "b"], ["a"])
