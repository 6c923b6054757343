"""Sentence classification: pooling heads, readers, sources, training, prediction, evaluation, CLI."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import tagger
from tagger import sources
from tagger.batching import Vocabs, build_vocabs, collate, encode
from tagger.cli import app
from tagger.config import load_recipe
from tagger.corpus import read_file
from tagger.data import Sentence
from tagger.errors import TaggerError
from tagger.io.text_classification import read_text_classification
from tagger.metrics import classification_report, multilabel_report
from tagger.model import SequenceTagger, load_model
from tagger.nn.heads import HEADS, PooledClassifierHead, SoftmaxHead, head_level
from tagger.nn.pooling import POOLINGS
from tagger.predict import Tagger, main_score
from tagger.sources import hold_out, load_imdb, load_source, load_sst2, sentiment_demo_dir
from tagger.tokenize import TOKENIZERS, tokenize
from tagger.train import train

ROOT = Path(__file__).resolve().parents[1]
SENTIMENT = ROOT / "data" / "sentiment"
runner = CliRunner()

TINY = [
    "embed.word_dim=16", "embed.char_dim=8", "embed.char_hidden=16", "encoder.hidden=16",
    "heads.0.attention_dim=8", "train.threads=1",
]


@pytest.fixture(scope="session")
def classifier(tmp_path_factory) -> Path:
    """A small attention classifier trained once on data/sentiment."""
    out = tmp_path_factory.mktemp("sentiment_run")
    train(load_recipe("sentiment-demo", TINY + ["train.max_epochs=15", "train.patience=15"]), out)
    return out / "best"


def tiny_model(pooling: str, bidirectional: bool = True, multi_label: bool = False) -> SequenceTagger:
    """An untrained classifier over the sentiment sample's vocabulary (random weights)."""
    recipe = load_recipe("sentiment-demo", TINY + [f"heads.0.pooling={pooling}", f"encoder.bidirectional={str(bidirectional).lower()}",
                                                   f"heads.0.multi_label={str(multi_label).lower()}"])
    corpus = sources.load_sentiment_demo(None, ("train",))
    torch.manual_seed(0)
    model = SequenceTagger(recipe, build_vocabs(corpus["train"], recipe.heads, recipe.embed))
    return model.eval()


# --------------------------------------------------------------------------- poolings


def states_and_mask():
    # one sentence of two real tokens and a padding position holding garbage
    states = torch.tensor([[[5.0, 4.0], [3.0, 6.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False]])
    return states, mask


def test_pooling_registry_and_head_registry():
    assert set(POOLINGS) == {"mean", "max", "last", "attention"}
    assert HEADS["classify"] is PooledClassifierHead and PooledClassifierHead.level == "sentence"
    assert SoftmaxHead.level == "token" and head_level("crf") == "token" and head_level("classify") == "sentence"


def test_mean_max_last_by_hand():
    states, mask = states_and_mask()
    mean, none = POOLINGS["mean"](2, 1, 2)(states, mask)
    assert none is None and mean.tolist() == [[4.0, 5.0]]
    assert POOLINGS["max"](2, 1, 2)(states, mask)[0].tolist() == [[5.0, 6.0]]
    # bidirectional, hidden 1: forward half at the last real token (3), backward half at the first (4)
    assert POOLINGS["last"](2, 1, 2)(states, mask)[0].tolist() == [[3.0, 4.0]]
    # unidirectional, hidden 2: the whole state at the last real token
    assert POOLINGS["last"](2, 2, 1)(states, mask)[0].tolist() == [[3.0, 6.0]]


def test_attention_by_hand():
    states, mask = states_and_mask()
    pool = POOLINGS["attention"](2, 1, 2, attention_dim=2)
    with torch.no_grad():
        pool.w1.weight.copy_(torch.eye(2))
        pool.w1.bias.zero_()
        pool.w2.weight.copy_(torch.tensor([[1.0, -0.5]]))
    scores = [math.tanh(5.0) - 0.5 * math.tanh(4.0), math.tanh(3.0) - 0.5 * math.tanh(6.0)]
    z = sum(math.exp(s) for s in scores)
    alpha = [math.exp(s) / z for s in scores]
    expected = [alpha[0] * 5.0 + alpha[1] * 3.0, alpha[0] * 4.0 + alpha[1] * 6.0]
    pooled, weights = pool(states, mask)
    assert pooled[0].tolist() == pytest.approx(expected, abs=1e-6)
    assert weights[0].tolist() == pytest.approx(alpha + [0.0], abs=1e-6)


@pytest.mark.parametrize("pooling", ["mean", "max", "last", "attention"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_never_changes_a_result(pooling, bidirectional):
    model = tiny_model(pooling, bidirectional)
    tag = Tagger(model)
    short = "a gripping , funny film"
    longer = ["the plot is a mess and the acting is wooden and the story goes nowhere at all .",
              "a warm , funny film that never forgets its characters , with superb acting and a great score ."]
    alone = tag.predict_proba([short])[0]
    batched = tag.predict_proba([longer[0], short, longer[1]])[1]
    assert list(alone) == ["negative", "positive"]
    for label in alone:
        assert batched[label] == pytest.approx(alone[label], abs=1e-5)
    # the head itself, on a hand-padded batch
    words = short.split()
    one = collate([encode(words, model.vocabs, with_labels=False)], [0])
    two = collate([encode(words, model.vocabs, with_labels=False), encode(longer[0].split(), model.vocabs, with_labels=False)], [0, 1])
    with torch.no_grad():
        assert torch.allclose(model.decode(one)["sentiment"][0], model.decode(two)["sentiment"][0], atol=1e-5)


# --------------------------------------------------------------------------- losses


def test_single_label_loss_is_cross_entropy_over_batch_size():
    head = PooledClassifierHead(2, ["a", "b", "c"], pooling="mean", hidden=1, directions=2)
    states, mask = states_and_mask()
    states = states.repeat(2, 1, 1)
    mask = mask.repeat(2, 1)
    gold = torch.tensor([2, 0])
    logits = head.proj(torch.tensor([[4.0, 5.0], [4.0, 5.0]]))
    expected = F.cross_entropy(logits, gold, reduction="sum") / 2
    assert head.loss(states, gold, mask).item() == pytest.approx(expected.item(), abs=1e-6)
    probs = head.decode(states, mask)
    assert probs.sum(-1).tolist() == pytest.approx([1.0, 1.0])


def test_multi_label_bce_and_threshold():
    head = PooledClassifierHead(2, ["a", "b", "c"], pooling="mean", hidden=1, directions=2, multi_label=True, threshold=0.6)
    with torch.no_grad():
        head.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0], [0.1, -0.1]]))
        head.proj.bias.copy_(torch.tensor([-3.5, 5.0, 0.0]))
    states, mask = states_and_mask()  # pooled [4, 5] -> logits [0.5, 0, -0.1]
    gold = torch.tensor([[1.0, 0.0, 1.0]])
    logits = torch.tensor([[0.5, 0.0, -0.1]])
    expected = F.binary_cross_entropy_with_logits(logits, gold, reduction="sum")
    assert head.loss(states, gold, mask).item() == pytest.approx(expected.item(), abs=1e-5)
    probs = head.decode(states, mask)
    assert probs[0].tolist() == pytest.approx(torch.sigmoid(logits)[0].tolist(), abs=1e-6)
    assert head.choose(probs) == [[0]]  # sigmoid(0.5) = 0.62 >= 0.6; 0.5 and 0.475 are below
    head.threshold = 0.4
    assert head.choose(probs) == [[0, 1, 2]]  # most probable first
    head.threshold = 0.99
    assert head.choose(probs) == [[]]


def test_multilabel_report_by_hand():
    gold = [["sports", "politics"], ["sports"], []]
    pred = [["sports"], ["sports", "music"], []]
    report = multilabel_report(gold, pred, ["music", "politics", "sports"])
    # decisions: sports tp 2; politics fn 1; music fp 1 -> micro P 2/3, R 2/3
    assert report["micro_f1"] == pytest.approx(2 / 3)
    assert report["per_class"]["sports"]["f1"] == 1.0 and report["per_class"]["politics"]["f1"] == 0.0
    assert report["macro_f1"] == pytest.approx(1 / 3)
    assert report["accuracy"] == pytest.approx(1 / 3)  # only the empty set matches exactly


# --------------------------------------------------------------------------- readers


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_tsv_csv_jsonl(tmp_path):
    tsv = write(tmp_path / "a.tsv", "label\tsentence\n1\tA fine film .\n0\tdull\n\n")
    sents = read_text_classification(tsv, "tsv", "sentiment")
    assert [(s.words, s.cats, s.line) for s in sents] == [
        (["A", "fine", "film", "."], {"sentiment": ["1"]}, 2), (["dull"], {"sentiment": ["0"]}, 3)]
    with (tmp_path / "b.csv").open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(["id", "text", "topic"])
        w.writerow([1, 'He said, "hello,\nworld"', "greeting"])
        w.writerow([2, "bye", "farewell"])
    sents = read_text_classification(tmp_path / "b.csv", "csv", "topic", text_field="text", label_field="topic", tokenizer="conll")
    assert sents[0].words == ["He", "said", ",", '"', "hello", ",", "world", '"'] and sents[0].cats == {"topic": ["greeting"]}
    assert sents[1].line == 4  # the quoted newline makes record 1 two lines long
    jsonl = write(tmp_path / "c.jsonl", '{"text": "good fun", "label": 1}\n\n{"text": ["pre", "tokenized"], "label": "neg"}\n')
    sents = read_text_classification(jsonl, "jsonl", "s", text_field="text", label_names={"1": "positive"})
    assert [(s.words, s.cats["s"]) for s in sents] == [(["good", "fun"], ["positive"]), (["pre", "tokenized"], ["neg"])]


def test_read_multi_label_and_truncation(tmp_path):
    tsv = write(tmp_path / "m.tsv", "sentence\tlabel\na b c d e\tsports, politics\nf g\t\nh\tmusic,music\n")
    sents = read_text_classification(tsv, "tsv", "topic", multi_label=True, max_tokens=3)
    assert [s.cats["topic"] for s in sents] == [["sports", "politics"], [], ["music"]]
    assert sents[0].words == ["a", "b", "c"]
    jsonl = write(tmp_path / "m.jsonl", '{"sentence": "x y", "label": ["a", "b"]}\n{"sentence": "z", "label": []}\n')
    assert [s.cats["t"] for s in read_text_classification(jsonl, "jsonl", "t", multi_label=True)] == [["a", "b"], []]


@pytest.mark.parametrize(
    "name, text, fmt, kwargs, where, fragment",
    [
        ("missing.tsv", "sentence\tlabel\ngood film\t1\nbad film\n", "tsv", {}, 3, "missing label"),
        ("empty-label.tsv", "sentence\tlabel\ngood film\t1\nbad film\t \n", "tsv", {}, 3, "missing label"),
        ("nocol.tsv", "text\tlabel\ngood\t1\n", "tsv", {}, 1, "no column 'sentence'"),
        ("two.jsonl", '{"sentence": "x", "label": ["a", "b"]}\n', "jsonl", {}, 1, "--multi-label"),
        ("missing.csv", "sentence,label\n\"good, fine\",1\nbad\n", "csv", {}, 3, "missing label"),
        ("missing.jsonl", '{"sentence": "x", "label": 1}\n{"sentence": "y"}\n', "jsonl", {}, 2, "missing label"),
        ("broken.jsonl", '{"sentence": "x", "label": 1}\n{oops\n', "jsonl", {}, 2, "not valid JSON"),
        ("badlabel.jsonl", '{"sentence": "x", "label": {"a": 1}}\n', "jsonl", {}, 1, "must be a string or a number"),
        ("emptytext.tsv", "sentence\tlabel\n \t1\n", "tsv", {}, 2, "empty"),
    ],
)
def test_reader_errors_name_file_and_line(tmp_path, name, text, fmt, kwargs, where, fragment):
    path = write(tmp_path / name, text)
    with pytest.raises(TaggerError) as info:
        read_text_classification(path, fmt, "sentiment", **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}:{where}: ") and fragment in message and "\n" not in message


def test_reader_rejects_non_utf8(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("sentence\tlabel\nok\t1\ncaf\xe9\t0\n".encode("latin-1"))
    with pytest.raises(TaggerError, match=rf"{path}:3: not valid UTF-8"):
        read_text_classification(path, "tsv", "s")


def test_tokenizer_registry():
    assert set(TOKENIZERS) >= {"conll", "whitespace", "ptb"}
    assert tokenize("It doesn't work, Mr. Smith's film...", "ptb") == [
        "It", "does", "n't", "work", ",", "Mr.", "Smith", "'s", "film", "..."]
    assert tokenize("it does n't , it 's", "ptb") == ["it", "does", "n't", ",", "it", "'s"]  # SST-2 text unchanged
    assert tokenize("a b,c", "whitespace") == ["a", "b,c"]
    assert tokenize("EU rejects lamb.") == ["EU", "rejects", "lamb", "."]  # the default stays conll
    with pytest.raises(TaggerError, match="unknown tokenizer 'nope'"):
        tokenize("x", "nope")


# --------------------------------------------------------------------------- vocabularies and batches


def test_sentence_labels_vocab_and_batches():
    corpus = sources.load_sentiment_demo(None, ("train", "valid"))
    recipe = load_recipe("sentiment-demo")
    vocabs = build_vocabs(corpus["train"], recipe.heads, recipe.embed, [corpus["valid"]])
    assert vocabs.labels["sentiment"].itos == ["negative", "positive"]  # no <pad>
    assert vocabs.sentence_tasks == ["sentiment"] and vocabs.multi_label_tasks == []
    again = Vocabs.from_json(vocabs.to_json())
    assert again.sentence_tasks == ["sentiment"] and again.labels["sentiment"].itos == ["negative", "positive"]
    old = json.loads(vocabs.to_json())
    del old["sentence_tasks"], old["multi_label_tasks"]
    assert Vocabs.from_json(json.dumps(old)).sentence_tasks == []  # vocab files of older models
    items = [encode(s, vocabs) for s in corpus["train"][:3]]
    assert items[0].cats["sentiment"].tolist() == [1]
    batch = collate(items, [0, 1, 2])
    assert batch.labels["sentiment"].tolist() == [1, 1, 1]

    multi = [Sentence(["a", "b"], cats={"t": ["x", "y"]}), Sentence(["c"], cats={"t": []})]
    recipe = load_recipe("classify", ["heads.0.task=t", "heads.0.multi_label=true"])
    vocabs = build_vocabs(multi, recipe.heads, recipe.embed)
    assert vocabs.multi_label_tasks == ["t"]
    batch = collate([encode(s, vocabs) for s in multi], [0, 1])
    assert batch.labels["t"].tolist() == [[1.0, 1.0], [0.0, 0.0]]
    with pytest.raises(TaggerError, match="unknown t label 'z'"):
        encode(Sentence(["a"], cats={"t": ["z"]}, line=7), vocabs)


def test_single_label_task_refuses_several_labels():
    recipe = load_recipe("classify")
    with pytest.raises(TaggerError, match="single-label"):
        build_vocabs([Sentence(["a"], cats={"label": ["x", "y"]})], recipe.heads, recipe.embed)


# --------------------------------------------------------------------------- training and prediction


def test_learns_the_sample(classifier):
    model = tagger.load(classifier)
    gold = sources.load_sentiment_demo(None, ("train",))["train"]
    report = model.evaluate(gold)["sentiment"]
    assert report["accuracy"] >= 0.95
    assert model.predict(["a gripping , funny film", "a dull , boring mess"]) == [["positive"], ["negative"]]


def test_model_directory_round_trip(classifier, tmp_path):
    model = load_model(classifier)
    config = json.loads((classifier / "config.json").read_text())
    assert config["recipe"]["data"]["tokenizer"] == "ptb"
    assert config["recipe"]["heads"][0]["pooling"] == "attention" and config["recipe"]["heads"][0]["span"] is False
    assert json.loads((classifier / "vocab.json").read_text())["sentence_tasks"] == ["sentiment"]
    texts = ["a warm film", "nothing works , it's a mess"]
    before = Tagger(model).predict_proba(texts)
    model.save(tmp_path / "copy")
    after = tagger.load(tmp_path / "copy").predict_proba(texts)
    assert before == after


def test_predict_proba_and_explain(classifier):
    model = tagger.load(classifier)
    texts = ["A gripping, funny film.", ["a", "dull", "film"]]
    proba = model.predict_proba(texts)
    assert [list(p) for p in proba] == [["negative", "positive"]] * 2
    assert all(sum(p.values()) == pytest.approx(1.0) for p in proba)
    labels = model.predict(texts)
    assert [[max(p, key=p.get)] for p in proba] == labels
    weights = model.explain(texts)
    assert [w for w, _ in weights[0]] == ["A", "gripping", ",", "funny", "film", "."]  # the model's ptb tokenizer
    assert all(sum(x for _, x in ws) == pytest.approx(1.0, abs=1e-5) for ws in weights)
    with pytest.raises(TaggerError, match="no task 'ner'"):
        model.predict_proba(texts, task="ner")


def test_explain_needs_attention_and_proba_needs_a_sentence_task(tmp_path):
    mean = Tagger(tiny_model("max"))
    with pytest.raises(TaggerError, match="attention"):
        mean.explain(["a film"])
    recipe = load_recipe("demo", ["heads.0.kind=softmax", "embed.word_dim=8", "encoder.hidden=8"])
    ner = SequenceTagger(recipe, build_vocabs([Sentence(["EU"], tags={"ner": ["B-ORG"]})], recipe.heads, recipe.embed))
    with pytest.raises(TaggerError, match="no sentence classification task"):
        Tagger(ner).predict_proba(["EU"])
    assert Tagger(ner).sentence_tasks == []


def test_max_tokens_applies_at_prediction():
    model = tiny_model("attention")
    model.recipe.data.max_tokens = 3
    tag = Tagger(model)
    assert tag.words("one two three four five") == ["one", "two", "three"]
    assert [w for w, _ in tag.explain(["one two three four five"])[0]] == ["one", "two", "three"]


def test_evaluate_equals_classification_report(classifier, tmp_path):
    model = tagger.load(classifier)
    gold = sources.load_sentiment_demo(None, ("valid",))["valid"]
    pred = model.predict([s.words for s in gold])
    expected = classification_report([s.cats["sentiment"][0] for s in gold], [p[0] for p in pred])
    report = model.evaluate(gold)["sentiment"]
    for key in ("accuracy", "macro_f1", "per_class", "macro avg"):
        assert report[key] == expected[key]
    assert main_score({"sentiment": report}) == expected["accuracy"]
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), str(classifier), "--json", str(out), "--confusion", str(tmp_path / "c.png")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["report"]["sentiment"]["accuracy"] == expected["accuracy"]
    assert f"{expected['accuracy'] * 100:.2f}" in done.stdout and f"{expected['macro_f1'] * 100:.2f}" in done.stdout
    assert "macro-F1" in done.stdout and "negative" in done.stdout and "positive" in done.stdout
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- CLI


def test_cli_predict_classifier(classifier, tmp_path):
    result = runner.invoke(app, ["predict", str(classifier), "a gripping, funny film", "a dull , boring mess"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("positive (0.") and lines[1].startswith("negative (0.")
    result = runner.invoke(app, ["predict", str(classifier), "a gripping, funny film", "-f", "jsonl"])
    record = json.loads(result.output)
    assert record["tokens"] == ["a", "gripping", ",", "funny", "film"] and record["sentiment"] == ["positive"]
    assert set(record["sentiment_proba"]) == {"negative", "positive"}
    result = runner.invoke(app, ["predict", str(classifier), "a gripping, funny film", "--explain"])
    assert result.exit_code == 0, result.output
    caption, weights = result.output.strip().splitlines()
    assert caption.startswith("positive (") and weights.split()[1].startswith("gripping(0.")
    page = tmp_path / "page.html"
    result = runner.invoke(app, ["predict", str(classifier), "a <b>gripping</b> film", "--explain", "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "&lt;" in html and "rgba(" in html
    other = tmp_path / "other.html"
    result = runner.invoke(app, ["predict", str(classifier), "good", "--explain-html", str(other)])
    assert result.exit_code == 0 and other.exists() and "good(1.00)" in result.output


def test_cli_explain_refuses_other_poolings(tmp_path):
    model = tiny_model("mean")
    model.save(tmp_path / "m")
    result = runner.invoke(app, ["predict", str(tmp_path / "m"), "a film", "--explain"])
    assert result.exit_code == 1 and "attention" in result.output


def test_cli_evaluate_classifier(classifier):
    result = runner.invoke(app, ["evaluate", str(classifier)])
    assert result.exit_code == 0, result.output
    assert "sentiment-demo valid: 40 sentences" in result.output and "accuracy" in result.output and "macro-F1" in result.output


def test_cli_train_classify_csv(tmp_path):
    rows = [line.split("\t") for line in (SENTIMENT / "train.tsv").read_text().splitlines()[1:]]
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(["review", "stars", "mood"])
        for text, label in rows:
            w.writerow([text, 3, label])
    result = runner.invoke(app, [
        "train", "classify", "-o", str(tmp_path / "run"), "--train", str(path), "--dev", str(path), "--format", "csv",
        "--text-field", "review", "--label-field", "mood", "--max-epochs", "1", "--threads", "1",
        "--set", "encoder.hidden=8", "--set", "embed.word_dim=8",
    ])
    assert result.exit_code == 0, result.output
    model = tagger.load(tmp_path / "run")
    assert model.model.recipe.data.format == "csv" and model.model.recipe.data.text_field == "review"
    assert model.tasks == ["label"] and model.predict(["a fine film"])[0][0] in ("negative", "positive")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--file", str(path)])
    assert result.exit_code == 0 and "accuracy" in result.output
    bad = write(tmp_path / "bad.csv", "review,mood\nfine,positive\nno label here\n")
    result = runner.invoke(app, ["train", "classify", "--train", str(bad), "--dev", str(bad), "--format", "csv",
                                 "--text-field", "review", "--label-field", "mood"])
    assert result.exit_code == 1 and f"{bad}:3: missing label" in result.output


def test_cli_train_multi_label_jsonl(tmp_path):
    items = [
        ("a goal in the final minute", ["sports"]),
        ("the minister scored a political goal", ["politics", "sports"]),
        ("parliament votes on the budget", ["politics"]),
        ("the band plays a new song", ["music"]),
        ("a song for the team", ["music", "sports"]),
        ("nothing to see here", []),
    ] * 4
    path = tmp_path / "topics.jsonl"
    path.write_text("".join(json.dumps({"text": t, "topics": labels}) + "\n" for t, labels in items))
    result = runner.invoke(app, [
        "train", "classify", "-o", str(tmp_path / "run"), "--train", str(path), "--dev", str(path), "--format", "jsonl",
        "--text-field", "text", "--label-field", "topics", "--multi-label", "--max-epochs", "3", "--threads", "1",
        "--set", "encoder.hidden=8", "--set", "embed.word_dim=8", "--set", "train.lr=0.01",
    ])
    assert result.exit_code == 0, result.output
    model = tagger.load(tmp_path / "run")
    assert model.model.recipe.heads[0].multi_label
    proba = model.predict_proba(["a goal"])[0]
    assert set(proba) == {"music", "politics", "sports"}
    predicted = model.predict(["a goal", "a song"])
    assert all(set(p) <= set(proba) for p in predicted)
    recipe = model.model.recipe
    report = model.evaluate(read_file(path, recipe.data, recipe.heads))["label"]
    assert report["multi_label"] and "micro_f1" in report and main_score({"label": report}) == report["micro_f1"]


# --------------------------------------------------------------------------- named sources


# `isolated` and `hf_offline` come from conftest.py.


def no_hub(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the hub must not be tried")

    monkeypatch.setattr(sources, "load_from_hub", fail)


def test_sst2_local_files(tmp_path, monkeypatch, isolated):
    folder = tmp_path / "data" / "sst2"
    folder.mkdir(parents=True)
    write(folder / "train.tsv", "sentence\tlabel\nit 's a charming journey . \t1\nunflinchingly bleak \t0\n")
    write(folder / "dev.tsv", "sentence\tlabel\ndoes n't work \t0\n")
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "data"))
    no_hub(monkeypatch)
    corpus = load_source("sst2", splits=("train", "valid"))
    assert corpus["train"][0].words == ["it", "'s", "a", "charming", "journey", "."]
    assert [s.cats["sentiment"] for s in corpus["train"]] == [["positive"], ["negative"]]
    assert load_sst2(folder, ("valid",), tokenizer="whitespace", max_tokens=2)["valid"][0].words == ["does", "n't"]
    with pytest.raises(TaggerError, match="SST-2 test not found"):
        load_sst2(folder, ("test",))


def make_parquet_repo(root: Path, splits: dict[str, list[tuple[str, int]]], text: str, names: list[str]) -> Path:
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features({"idx": Value("int32"), text: Value("string"), "label": ClassLabel(names=names)})
    (root / "data").mkdir(parents=True)
    for split, rows in splits.items():
        table = {"idx": list(range(len(rows))), text: [r[0] for r in rows], "label": [r[1] for r in rows]}
        Dataset.from_dict(table, features=features).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def test_sst2_hub_path_through_datasets(tmp_path, monkeypatch, hf_offline):
    repo = make_parquet_repo(
        tmp_path / "repo",
        {"train": [("a charming film ", 1), ("it does n't work ", 0)], "validation": [("bleak ", 0)],
         "test": [("unlabelled ", -1)]},
        "sentence", ["negative", "positive"],
    )
    monkeypatch.setattr(sources, "SST2_HUB_CANDIDATES", ((str(tmp_path / "missing"), {}), (str(repo), {})))
    corpus = load_sst2()
    assert [s.words for s in corpus["train"]] == [["a", "charming", "film"], ["it", "does", "n't", "work"]]
    assert [s.cats["sentiment"] for s in corpus["train"]] == [["positive"], ["negative"]]
    assert corpus["valid"][0].cats == {"sentiment": ["negative"]}
    cached = tmp_path / "cache" / "sst2"
    assert sorted(p.name for p in cached.iterdir()) == ["dev.tsv", "train.tsv"]  # the unlabelled test split is not kept
    with pytest.raises(TaggerError, match="has no labelled test split"):
        load_sst2(splits=("test",))
    no_hub(monkeypatch)
    assert load_sst2() == corpus


def test_sst2_nothing_found_is_one_line(tmp_path, monkeypatch, hf_offline):
    monkeypatch.setattr(sources, "SST2_HUB_CANDIDATES", ((str(tmp_path / "no-repo"), {}),))
    with pytest.raises(TaggerError) as info:
        load_sst2()
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "cache" / "sst2") in message and "no-repo" in message
    assert "TAGGER_DATA_DIR" in message and "train.tsv" in message


def test_imdb_local_with_held_out_dev(tmp_path, monkeypatch, isolated):
    folder = tmp_path / "imdb"
    folder.mkdir()
    rows = [{"text": f"review {i} was great.<br /><br />Really {'good' if i % 2 else 'bad'}", "label": i % 2} for i in range(20)]
    write(folder / "train.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    with (folder / "test.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"], ["bad movie", "neg"], ["fine movie", "pos"]])
    no_hub(monkeypatch)
    corpus = load_imdb(tmp_path, ("train", "valid", "test"), max_tokens=6)
    assert (len(corpus["train"]), len(corpus["valid"]), len(corpus["test"])) == (18, 2, 2)
    assert corpus["train"][0].words == ["review", "0", "was", "great", ".", "Really"]  # <br /> gone, cut to 6
    assert [s.cats["sentiment"] for s in corpus["test"]] == [["negative"], ["positive"]]
    again = load_imdb(tmp_path, ("valid",))["valid"]
    assert [s.words[:2] for s in again] == [s.words[:2] for s in corpus["valid"]]  # the same held-out rows every time
    held_train, held_dev = hold_out(list(range(20)))
    assert len(held_dev) == 2 and sorted(held_train + held_dev) == list(range(20))
    write(folder / "dev.jsonl", json.dumps({"text": "own dev", "label": "positive"}) + "\n")
    with_dev = load_imdb(tmp_path, ("train", "valid"))
    assert len(with_dev["train"]) == 20 and with_dev["valid"][0].words == ["own", "dev"]


def test_imdb_hub_path_through_datasets(tmp_path, monkeypatch, hf_offline):
    reviews = [(f"film number {i} .<br />fine", i % 2) for i in range(10)]
    repo = make_parquet_repo(tmp_path / "repo", {"train": reviews, "test": reviews[:3]}, "text", ["neg", "pos"])
    monkeypatch.setattr(sources, "IMDB_HUB_CANDIDATES", ((str(repo), {}),))
    corpus = load_imdb(splits=("train", "valid", "test"))
    assert (len(corpus["train"]), len(corpus["valid"]), len(corpus["test"])) == (9, 1, 3)
    assert corpus["test"][1].cats == {"sentiment": ["positive"]} and "<" not in "".join(corpus["test"][0].words)
    no_hub(monkeypatch)
    assert load_imdb(splits=("train", "valid", "test")) == corpus  # read back from the JSONL cache


def test_sentiment_demo_source_and_recipes():
    corpus = load_source("sentiment-demo", splits=("train", "valid"))
    assert (len(corpus["train"]), len(corpus["valid"])) == (120, 40)
    assert sentiment_demo_dir() == SENTIMENT
    for name in ("sst2", "imdb", "classify", "sentiment-demo"):
        recipe = load_recipe(name)
        assert recipe.heads[0].kind == "classify" and recipe.heads[0].pooling in POOLINGS
    assert load_recipe("imdb").data.max_tokens == 400
    assert load_recipe("demo").data.tokenizer == "conll"  # NER models keep the CoNLL tokenizer


# --------------------------------------------------------------------------- spaCy


def test_spacy_component_writes_doc_cats(classifier):
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    component = nlp.add_pipe("bilstm_tagger", config={"model": str(classifier)})
    assert component.cats_tasks == ["sentiment"] and component.token_targets == {} and component.ents_task is None
    text = "A gripping, funny film. I loved it."
    doc = nlp(text)
    expected = tagger.load(classifier).predict_proba([[w for unit in component.model_words(doc) for w in unit]])[0]
    assert set(doc.cats) == {"negative", "positive"}
    assert doc.cats == pytest.approx(expected)
    assert all(t.tag_ == "" for t in doc)  # a classifier labels no tokens
    docs = list(nlp.pipe([text, "a dull , boring mess", "   "]))
    assert docs[0].cats == pytest.approx(doc.cats) and docs[1].cats["negative"] > 0.5 and docs[2].cats == {}
