"""Tree models through the command line and the Python API, on the invented sample
in data/trees: train, evaluate, predict (trees and plain sentences), explain, the
model directory, bad input, and an interrupted run resumed."""
from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import tagger
from tagger.cli import app
from tagger.trees.config import load_tree_recipe
from tagger.trees.modeldir import load_model, save_model
from tagger.trees.predict import TreePredictor
from tagger.trees.task import TreeSentiment
from tagger.trees.train import train_trees
from tagger.trees.tree import read_trees

DATA = Path(__file__).resolve().parent.parent / "data" / "trees"
runner = CliRunner()
SAMPLE = ["--train", str(DATA / "train.txt"), "--dev", str(DATA / "dev.txt"), "--threads", "1", "--seed", "3"]
SMALL = ["--set", "model.word_dim=24", "--set", "model.dim=24", "--set", "train.batch_size=8", "--set", "train.lr=0.05",
         "--set", "train.schedule=constant", "--set", "model.embed_dropout=0", "--set", "model.dropout=0"]


def train_cli(run: Path, *extra: str) -> None:
    result = runner.invoke(app, ["train", "sst-trees", *SAMPLE, "-o", str(run), *SMALL, *extra])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trees") / "lstm"
    train_cli(run, "--max-epochs", "8", "--patience", "8")
    return run


@pytest.fixture(scope="module")
def rae_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trees") / "rae"
    train_cli(run, "--max-epochs", "3", "--set", "model.composition=rae")
    return run


def test_model_directory(lstm_run):
    best = lstm_run / "best"
    assert sorted(p.name for p in best.iterdir()) == [
        "config.json", "metrics.jsonl", "model.safetensors", "training.png", "vocab.json"]
    config = json.loads((best / "config.json").read_text())
    assert config["family"] == "tree" and config["recipe"]["model"]["composition"] == "treelstm"
    assert "film" in json.loads((best / "vocab.json").read_text())["words"]
    header_length = int.from_bytes((best / "model.safetensors").read_bytes()[:8], "little")
    assert (best / "model.safetensors").read_bytes()[8:9] == b"{" and header_length > 0  # safetensors, not pickle
    mask = os.umask(0)
    os.umask(mask)
    for path in best.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path
    records = [json.loads(line) for line in (lstm_run / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 8 and {"fine_root", "binary_root", "fine_all", "binary_all"} <= set(records[0]["dev"])
    assert records[-1]["train_loss"] < records[0]["train_loss"] / 2


def test_evaluate_reports_the_four_numbers(lstm_run, tmp_path):
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["evaluate", str(lstm_run), "--file", str(DATA / "test.txt"), "--json", str(out),
                                 "--confusion", str(tmp_path / "conf.png")])
    assert result.exit_code == 0, result.output
    assert "fine-grained" in result.stdout and "binary" in result.stdout and "confusion (root)" in result.stdout
    report = json.loads(out.read_text())["report"]
    assert report["fine_root_count"] == 14 and report["fine_all_count"] == sum(t.size for t in read_trees(DATA / "test.txt"))
    assert report["binary_root"] >= 0.75 and report["binary_all"] >= 0.75  # the sample's words are easy to learn
    assert (tmp_path / "conf.root.png").exists() and (tmp_path / "conf.all.png").exists()


def test_save_load_round_trip(lstm_run, tmp_path):
    model, recipe, vocab = load_model(lstm_run)
    copy = save_model(tmp_path / "copy", model, recipe, vocab)
    again, _, vocab_again = load_model(copy)
    assert vocab_again.itos == vocab.itos
    weights, weights_again = load_file(lstm_run / "best" / "model.safetensors"), load_file(copy / "model.safetensors")
    assert all(torch.equal(weights[k], weights_again[k]) for k in weights)
    trees = read_trees(DATA / "dev.txt")
    first = TreeSentiment(recipe, model, vocab, {}).predict(trees)
    second = TreeSentiment(recipe, again, vocab_again, {}).predict(trees)
    assert all((a.fine == b.fine).all() and (a.binary == b.binary).all() for a, b in zip(first, second))


def test_python_api(lstm_run):
    model = tagger.load(lstm_run)
    assert isinstance(model, TreePredictor)
    tree = "(3 (2 (2 the) (2 film)) (4 (2 is) (4 wonderful)))"
    labels = model.predict([tree, "the plot is dull ."])
    proba = model.predict_proba([tree])
    assert all(0 <= label <= 4 for label in labels)
    assert sum(proba[0].values()) == pytest.approx(1.0, abs=1e-5) and max(proba[0], key=proba[0].get) == labels[0]
    (nodes,) = model.predict_nodes([tree])
    assert nodes.tree.words == ["the", "film", "is", "wonderful"] and len(nodes.labels) == 7
    assert nodes.labels[3] >= 3  # "wonderful" is positive all through the sample
    assert model.predict_nodes([["the", "film", "is", "dull"]])[0].labels[3] <= 1


def test_predict_a_tree_and_a_plain_sentence(lstm_run):
    result = runner.invoke(app, ["predict", str(lstm_run), "(3 (2 It) (4 (2 is) (4 wonderful)))",
                                 "the music was very dull ."])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    label, _, rest = lines[0].partition(" ")
    assert int(label) in range(5) and "[" in rest and rest.count("(") >= 5
    assert "balanced binary tree" in result.stderr and "1 plain sentence" in result.stderr
    result = runner.invoke(app, ["predict", str(lstm_run), "the cast is wonderful .", "-f", "jsonl"])
    record = json.loads(result.stdout)
    assert sum(record["proba"]) == pytest.approx(1.0, abs=1e-3) and record["label"] == max(range(5), key=record["proba"].__getitem__)
    assert record["tree"].startswith(f"({record['label']} ")


def test_autoencoder_builds_its_own_tree_even_for_500_words(rae_run):
    result = runner.invoke(app, ["predict", str(rae_run), "the plot is not dull ."])
    assert result.exit_code == 0, result.output
    assert "greedy autoencoder" in result.stderr
    model = tagger.load(rae_run)
    words = ["the", "film", "is", "wonderful", "but", "dull"] * 84
    (pred,) = model.predict_nodes([" ".join(words[:500])])
    assert len(pred.tree.words) == 500 and pred.fine.shape == (999, 5)


def test_evaluate_an_autoencoder_scores_its_own_trees(rae_run, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["evaluate", str(rae_run), "--file", str(DATA / "dev.txt"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())["report"]
    assert {"fine_root_greedy", "binary_root_greedy"} <= set(report) and 0 <= report["brackets"]["f1"] <= 1
    assert "bracket F1" in result.stdout


def test_explain_draws_html_svg_and_png(lstm_run, tmp_path):
    page = tmp_path / "tree.html"
    result = runner.invoke(app, ["predict", str(lstm_run), "(3 (2 It) (4 (2 is) (4 wonderful)))", "--explain",
                                 "-o", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "<svg" in text and text.count("<circle") == 5 and "wonderful" in text
    assert (tmp_path / "tree.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def one_line_error(result, where: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and where in lines[0], result.stderr
    return lines[0]


def test_bad_input_is_one_line_and_writes_nothing(lstm_run, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("(3 (2 good) (4 film))\n(3 (2 a) (2 b) (2 c))\n")
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "sst-trees", "--train", str(bad), "--dev", str(DATA / "dev.txt"), "-o", str(run)])
    assert "a node with 3 children" in one_line_error(result, f"{bad}:2:1:")
    assert not run.exists()
    result = runner.invoke(app, ["evaluate", str(lstm_run), "--file", str(bad), "--json", str(tmp_path / "r.json")])
    one_line_error(result, f"{bad}:2:1:")
    assert not (tmp_path / "r.json").exists()
    result = runner.invoke(app, ["predict", str(lstm_run), "(3 (2 a) (2 b)", "-o", str(tmp_path / "out.txt")])
    assert "never closed" in one_line_error(result, "<input>:1:1:")
    assert not (tmp_path / "out.txt").exists()
    result = runner.invoke(app, ["train", "sst-trees", *SAMPLE, "-o", str(run), "--format", "conllu"])
    one_line_error(result, "--format is not an option for tree models")


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    overrides = [f"data.train='{DATA / 'train.txt'}'", f"data.dev='{DATA / 'dev.txt'}'", "model.word_dim=16",
                 "model.dim=16", "train.batch_size=8", "train.max_epochs=3", "train.seed=4", "model.word_dropout=0.2",
                 "train.average=0.9"]
    straight = train_trees(load_tree_recipe("sst-trees", overrides), tmp_path / "straight")

    calls = {"n": 0}
    real_loss = TreeSentiment.loss

    def loss_then_ctrl_c(self, batch):
        calls["n"] += 1
        if calls["n"] == 9:  # in the second epoch (6 batches an epoch): as if the user pressed Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
        return real_loss(self, batch)

    monkeypatch.setattr(TreeSentiment, "loss", loss_then_ctrl_c)
    stopped = train_trees(load_tree_recipe("sst-trees", overrides), tmp_path / "stopped")
    assert stopped.stopped_because == "interrupted" and len(stopped.epochs) == 1
    monkeypatch.setattr(TreeSentiment, "loss", real_loss)
    result = runner.invoke(app, ["train", "--resume", str(tmp_path / "stopped")])
    assert result.exit_code == 0, result.output
    a, b = (load_file(run / "checkpoint.safetensors") for run in (tmp_path / "straight", tmp_path / "stopped"))
    model_keys = [k for k in a if k.startswith("model/")]
    assert model_keys and all(torch.equal(a[k], b[k]) for k in model_keys)
    scores = [[json.loads(line)["dev_score"] for line in (run / "metrics.jsonl").read_text().splitlines()]
              for run in (tmp_path / "straight", tmp_path / "stopped")]
    assert scores[0] == scores[1] == [e.dev_score for e in straight.epochs]


def test_unlabelled_sentences_train_only_the_autoencoder(tmp_path):
    text = tmp_path / "plain.tsv"
    text.write_text("sentence\tlabel\nthe film is wonderful .\t1\nthe plot is dull\t0\n")
    overrides = [f"data.train='{DATA / 'train.txt'}'", f"data.dev='{DATA / 'dev.txt'}'", "model.composition='rae'",
                 "model.word_dim=8", "model.dim=8", f"data.unlabelled='{text}'"]
    recipe = load_tree_recipe("sst-trees", overrides)
    from rich.console import Console

    from tagger.trees.data import load_trees, read_sentences
    from tagger.trees.train import build_model

    corpus = load_trees(recipe.data, ("train", "valid"))
    model, vocab = build_model(recipe, corpus["train"], Console(quiet=True))
    sentences = read_sentences(text, "ptb")
    assert sentences == [["the", "film", "is", "wonderful", "."], ["the", "plot", "is", "dull"]]
    task = TreeSentiment(recipe, model, vocab, corpus, sentences)
    loss = task._unlabelled_loss(2)
    loss.backward()
    assert loss.item() > 0
    assert model.composition.encoder.weight.grad.abs().sum() > 0 and model.composition.decoder.weight.grad.abs().sum() > 0
    assert model.classify.weight.grad is None  # no labels, no sentiment gradient


def test_phrases_train_on_the_models_own_trees_of_labelled_phrases():
    overrides = [f"data.train='{DATA / 'train.txt'}'", f"data.dev='{DATA / 'dev.txt'}'", "model.composition='rae'",
                 "model.word_dim=8", "model.dim=8", "rae.phrases=2"]
    recipe = load_tree_recipe("sst-trees", overrides)
    from rich.console import Console

    from tagger.trees.data import load_trees
    from tagger.trees.train import build_model

    corpus = load_trees(recipe.data, ("train", "valid"))
    model, vocab = build_model(recipe, corpus["train"], Console(quiet=True))
    task = TreeSentiment(recipe, model, vocab, corpus)
    trees = corpus["train"][:4]
    phrases = task._phrase_trees(trees, 2)
    internal = [sum(label is not None for label in t.labels[len(t.words) : t.root]) for t in trees]
    assert len(phrases) == sum(min(2, n) for n in internal)
    longest = max(len(t.words) for t in trees)
    for phrase in phrases:
        assert 2 <= len(phrase.word_ids) < longest  # a proper phrase, not a whole sentence
        assert phrase.labels[-1] >= 0  # its root is a labelled parse-tree phrase
    batch = task.batches("train", random.Random(0))[0]
    assert task.loss(batch).item() > 0


def test_pretrained_vectors_initialise_the_words(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("Film 0.1 0.2 0.3\nwonderful 1 0 -1\nzeppelin 0.5 0.5 0.5\n")
    from rich.console import Console

    from tagger.trees.train import build_model

    recipe = load_tree_recipe("sst-trees", [f"model.vectors='{vectors}'", "model.dim=4"])
    model, vocab = build_model(recipe, read_trees(DATA / "train.txt"), Console(quiet=True))
    assert recipe.model.word_dim == 3 and model.embed.weight.shape[1] == 3
    assert model.embed.weight[vocab.id("film")].tolist() == pytest.approx([0.1, 0.2, 0.3])  # lowercased keys
    assert model.embed.weight[vocab.id("wonderful")].tolist() == pytest.approx([1.0, 0.0, -1.0])
    assert "zeppelin" in vocab  # a word only the vectors know still gets its vector at prediction

    run = tmp_path / "run"
    train_cli(run, "--max-epochs", "1", "--vectors", str(vectors))
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["recipe"]["model"]["vectors"] == str(vectors) and config["recipe"]["model"]["word_dim"] == 3


def test_tagger_only_options_are_refused_for_tree_models(lstm_run):
    for args in (["evaluate", str(lstm_run), "--quantize", "int8"], ["evaluate", str(lstm_run), "--unseen"],
                 ["predict", str(lstm_run), "(3 (2 It) (4 works))", "--quantize", "int8"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "is for taggers and classifiers, not tree models" in result.output, args
