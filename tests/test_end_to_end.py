"""Training, evaluation and prediction through the library and the CLI, on data/demo."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2
from typer.testing import CliRunner

import tagger
from tagger.cli import app
from tagger.config import load_recipe
from tagger.io.conll import read_conll2003
from tagger.sources import demo_dir
from tagger.train import train

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

TINY = [
    "embed.word_dim=16", "embed.casing_dim=4", "embed.char_dim=8", "embed.char_hidden=16",
    "encoder.hidden=32", "train.threads=1",
]


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory) -> Path:
    """A small model trained once on the demo sample and shared by the tests below."""
    out = tmp_path_factory.mktemp("demo_run")
    recipe = load_recipe("demo", TINY + ["train.max_epochs=12"])
    train(recipe, out)
    return out / "best"


def test_overfits_a_handful_of_sentences(tmp_path):
    sentences_file = tmp_path / "few.txt"
    lines = (demo_dir() / "train.txt").read_text().split("\n\n")[1:9]  # skip -DOCSTART-
    sentences_file.write_text("\n\n".join(lines) + "\n")
    recipe = load_recipe(
        "demo",
        TINY + [f"data.train='{sentences_file}'", f"data.dev='{sentences_file}'", "data.source=''",
                "embed.dropout=0.0", "encoder.dropout=0.0", "embed.word_dropout=0.0",
                "train.max_epochs=60", "train.patience=60"],
    )
    recipe.data.source = None
    result = train(recipe, tmp_path / "run")
    assert result.best_score == 1.0
    assert tagger.load(result.model_dir).evaluate(read_conll2003(sentences_file))["ner"]["f1"] == 1.0


def test_same_seed_gives_identical_runs(tmp_path):
    runs = []
    for name in ("a", "b"):
        recipe = load_recipe("demo", TINY + ["train.max_epochs=3", "train.seed=7"])
        result = train(recipe, tmp_path / name)
        runs.append([(r.train_loss, r.dev_score) for r in result.epochs])
    assert runs[0] == runs[1]
    weights = [(tmp_path / n / "best" / "model.safetensors").read_bytes() for n in ("a", "b")]
    assert weights[0] == weights[1]


def test_model_directory_contents(demo_model):
    names = {p.name for p in demo_model.iterdir()}
    assert {"config.json", "vocab.json", "model.safetensors", "metrics.jsonl", "training.png"} <= names
    rows = [json.loads(line) for line in (demo_model / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert (demo_model / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_python_api_predicts_and_round_trips(demo_model):
    model = tagger.load(demo_model)
    sentences = [["Anna", "Lindqvist", "visited", "Oslo", "."], "The council met in Lyon ."]
    first = model.predict(sentences)
    assert [len(t) for t in first] == [5, 6]
    assert tagger.load(demo_model.parent).predict(sentences) == first  # run dir resolves to best/


def test_evaluate_matches_seqeval(demo_model, tmp_path):
    gold = read_conll2003(demo_dir() / "valid.txt")
    pred = tagger.load(demo_model).predict([s.words for s in gold])
    expected = f1_score([s.tags["ner"] for s in gold], pred, mode="strict", scheme=IOB2)
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), str(demo_model), "--json", str(out)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())["report"]["ner"]
    assert report["f1"] == pytest.approx(expected, abs=1e-12)
    assert f"{expected * 100:.2f}" in done.stdout
    cli = runner.invoke(app, ["evaluate", str(demo_model)])
    assert cli.exit_code == 0 and f"{expected * 100:.2f}" in cli.output


def test_cli_train_writes_model(tmp_path):
    result = runner.invoke(app, ["train", "demo", "-o", str(tmp_path / "run"), "--max-epochs", "1", "--set", "encoder.hidden=16"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["recipe"]["encoder"]["hidden"] == 16 and config["recipe"]["train"]["max_epochs"] == 1


@pytest.mark.parametrize("fmt", ["spans", "conll", "jsonl"])
def test_cli_predict_formats(demo_model, tmp_path, fmt):
    result = runner.invoke(app, ["predict", str(demo_model), "Anna Lindqvist visited Oslo .", "--format", fmt])
    assert result.exit_code == 0, result.output
    if fmt == "jsonl":
        record = json.loads(result.output)
        assert record["tokens"] == ["Anna", "Lindqvist", "visited", "Oslo", "."] and len(record["ner"]) == 5
    elif fmt == "conll":
        assert [line.split("\t")[0] for line in result.output.strip().splitlines()] == ["Anna", "Lindqvist", "visited", "Oslo", "."]
    else:
        assert result.output.strip().endswith("visited Oslo .") or "Oslo" in result.output


def test_cli_predict_files(demo_model, tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("Anna Lindqvist visited Oslo .\n\nThe council met in Lyon .\n")
    conll = tmp_path / "in.conll"
    conll.write_text("Anna NNP\nvisited VBD\n\nOslo NNP\n")
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"tokens": ["Anna", "visited", "Oslo"]}\n{"text": "The council met."}\n')
    for path, count in ((text, 3), (conll, 2), (jsonl, 2)):  # the blank line of text is an empty record
        out = tmp_path / (path.name + ".out")
        result = runner.invoke(app, ["predict", str(demo_model), "--input", str(path), "-f", "jsonl", "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert len(out.read_text().splitlines()) == count
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tokens": ["a"]}\n{oops\n')
    result = runner.invoke(app, ["predict", str(demo_model), "--input", str(bad)])
    assert result.exit_code == 1 and f"{bad}:2:" in result.output


def test_missing_dataset_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["train", "conll2003", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "nowhere" in lines[0]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "no-such-recipe"], "unknown recipe"),
        (["train", "demo", "--set", "encoder.hiden=3"], "encoder.hiden"),
        (["predict", "/no/such/model", "x"], "does not exist"),
        (["evaluate", "/no/such/model"], "does not exist"),
    ],
)
def test_user_errors_exit_1_with_one_line(args, fragment):
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and fragment in result.output


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_help_explains_options(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "--" in result.output


def test_cli_trains_on_a_column_file_with_vectors(tmp_path):
    """WNUT-style two-column files train through --format column, with pretrained vectors."""
    gold = read_conll2003(demo_dir() / "train.txt")[:30]
    column = tmp_path / "wnut.tsv"
    column.write_text("".join("".join(f"{w}\t{t}\n" for w, t in zip(s.words, s.tags["ner"])) + "\n" for s in gold))
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("2 3\nthe 0.1 0.2 0.3\nsaid 0.4 0.5 0.6\n")
    result = runner.invoke(app, [
        "train", "demo", "-o", str(tmp_path / "run"), "--train", str(column), "--dev", str(column),
        "--format", "column", "--word-col", "0", "--tag-col", "-1", "--vectors", str(vectors), "--max-epochs", "1",
    ])
    assert result.exit_code == 0, result.output
    assert "2 words of dim 3" in result.output and "covered" in result.output
    model = tagger.load(tmp_path / "run")
    assert model.model.recipe.embed.word_dim == 3
    row = model.model.vocabs.words.id("said")
    assert model.model.embedder.word.weight[row].tolist() != [0.0, 0.0, 0.0]
    assert len(model.predict([["Anna", "said"]])[0]) == 2


def test_train_without_dev_is_a_user_error(tmp_path):
    column = tmp_path / "x.tsv"
    column.write_text("EU\tB-ORG\n")
    result = runner.invoke(app, ["train", "demo", "--train", str(column)])
    assert result.exit_code == 1 and "--dev" in result.output


def test_every_file_of_a_run_is_readable_by_others(demo_model):
    """0644 under the usual umask, like any file: a model on a shared path serves other
    users and Spark executors (mkstemp's 0600 must not survive, whatever the writer does)."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    run = demo_model.parent
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {"checkpoint.safetensors", "model.safetensors", "config.json", "vocab.json"} <= {p.name for p in files}
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path


def test_a_detected_tag_scheme_is_said_on_stderr(demo_model, tmp_path):
    """The demo files are IOB1; with --scheme auto (the default) training and evaluation say
    so, since the scheme changes every span. A declared scheme is not announced."""
    bio = tmp_path / "bio.txt"
    bio.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(demo_model)])
    assert result.exit_code == 0, result.stderr
    assert "demo valid ner tags: IOB1 (detected), converted to BIO" in result.stderr
    result = runner.invoke(app, ["evaluate", str(demo_model), "--file", str(bio)])
    assert f"{bio} ner tags: BIO (detected)" in result.stderr
    run = runner.invoke(app, ["train", "demo", "-o", str(tmp_path / "run"), "--max-epochs", "1",
                              *[arg for o in TINY for arg in ("--set", o)]])
    assert run.exit_code == 0 and "train ner tags: IOB1 (detected), converted to BIO" in run.stderr
    files = ["--train", str(demo_dir() / "train.txt"), "--dev", str(demo_dir() / "valid.txt")]
    declared = runner.invoke(app, ["train", "demo", *files, "-o", str(tmp_path / "run2"), "--max-epochs", "1",
                                   "--scheme", "iob1", *[arg for o in TINY for arg in ("--set", o)]])
    assert declared.exit_code == 0, declared.stderr
    assert "ner tags" not in declared.stderr and "chunk tags: IOB1 (detected)" in declared.stderr
