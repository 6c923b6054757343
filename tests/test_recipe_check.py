"""Settings are checked before any data is read or any folder is made: one line naming
the field, the value and what is allowed; exit 1; nothing written; never a traceback.

A hypothesis fuzz over recipe values: a recipe either fails the check with a
``TaggerError`` naming the field, or builds a model and runs a training step."""
from __future__ import annotations

import io
import random
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from tagger.batching import build_vocabs, encode, train_batches
from tagger.cli import app
from tagger.config import load_recipe
from tagger.errors import TaggerError
from tagger.io.conll import read_conll2003
from tagger.model import SequenceTagger
from tagger.recipe_check import RANGES, check_recipe
from tagger.sources import demo_dir

runner = CliRunner()

BAD_SETTINGS = {  # command-line settings -> what the one line must say
    "--lr -0.1": "train.lr = -0.1: must be a positive number",
    "--lr nan": "train.lr = nan: must be a positive number",
    "--batch-size 0": "train.batch_size = 0: must be at least 1",
    "--max-epochs 0": "train.max_epochs = 0: must be at least 1",
    "--max-epochs -1": "train.max_epochs = -1: must be at least 1",
    "--patience 0": "train.patience = 0: must be at least 1",
    "--max-minutes 0": "train.max_minutes = 0.0: must be a positive number",
    "--threads -2": "train.threads = -2: must be at least 0",
    "--device gpu": "train.device = 'gpu': use cpu, cuda, cuda:N or auto",
    "--scheme iob3": "data.scheme = 'iob3': choose one of:",
    "--tokenizer nltk": "data.tokenizer = 'nltk': choose one of: conll, ptb, whitespace",
    "--format xml": "data.format = 'xml': choose one of:",
    "--set train.optimizer=adamm": "train.optimizer = 'adamm': choose one of: adagrad, adam, adamw, nadam, sgd",
    "--set train.schedule=cosine": "train.schedule = 'cosine': choose one of:",
    "--set heads.0.kind=crff": "heads.0.kind = 'crff': choose one of: classify, crf, softmax",
    "--set encoder.cell=transformer": "encoder.cell = 'transformer': choose one of: gru, lstm, rnn",
    "--set embed.char_encoder=bert": "embed.char_encoder = 'bert': choose one of:",
    "--set embed.char_kernel=4": "embed.char_kernel = 4: must be an odd number",
    "--set embed.dropout=1.0": "embed.dropout = 1.0: must be in [0, 1)",
    "--set encoder.hidden=0": "encoder.hidden = 0: must be at least 1",
    "--set heads.0.weight=-1": "heads.0.weight = -1.0: must be 0 or more",
    "--set data.source=conll2099": "data.source = 'conll2099': choose one of:",
}


@pytest.mark.parametrize("setting", list(BAD_SETTINGS))
def test_a_bad_setting_is_one_line_before_anything_happens(setting, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "demo", "-o", str(run), *setting.split()])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid recipe 'demo': "), result.stderr
    assert BAD_SETTINGS[setting] in lines[0]
    assert not run.exists() and list(tmp_path.iterdir()) == []


def test_a_bad_setting_in_a_real_process_has_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tagger", "train", "demo", "--lr", "-0.1", "-o", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: invalid recipe 'demo': train.lr = -0.1: must be a positive number"
    assert not (tmp_path / "r").exists()


def test_settings_are_checked_before_the_data_is_read(tmp_path):
    """A missing data file would be the first error if data were read first."""
    result = runner.invoke(app, ["train", "demo", "--train", str(tmp_path / "nowhere.txt"), "--dev",
                                 str(tmp_path / "nowhere.txt"), "--batch-size", "0", "-o", str(tmp_path / "r")])
    assert result.exit_code == 1 and "train.batch_size = 0" in result.stderr


def test_every_range_rule_names_a_real_field():
    recipe = load_recipe("demo")
    fields = {f"{section}.{name}" for section in ("data", "embed", "encoder", "train", "distill")
              for name in vars(getattr(recipe, section))} | {f"heads.{name}" for name in vars(recipe.heads[0])}
    assert set(RANGES) <= fields


def test_every_shipped_recipe_passes():
    import tomllib

    from tagger.config import available_recipes, recipes_dir

    for name in available_recipes():
        raw = tomllib.loads((recipes_dir() / f"{name}.toml").read_text(encoding="utf-8"))
        if raw.get("family", "tagger") != "tagger":
            continue  # other model families check their own recipes
        check_recipe(load_recipe(name))


# -- fuzz -----------------------------------------------------------------------------

NUMBERS = st.one_of(st.integers(-3, 40), st.floats(-2.0, 2.0),
                    st.sampled_from([float("nan"), float("inf"), float("-inf")]))
OVERRIDES = {
    "embed.word_dim": st.integers(-2, 24), "embed.casing_dim": st.integers(-2, 6), "embed.char_dim": st.integers(-2, 8),
    "embed.char_hidden": st.integers(-2, 8), "embed.char_kernel": st.integers(-1, 6), "embed.dropout": NUMBERS,
    "embed.word_dropout": NUMBERS, "embed.char_encoder": st.sampled_from(["cnn", "lstm", "none", "gru", ""]),
    "encoder.hidden": st.integers(-2, 12), "encoder.layers": st.integers(-1, 3), "encoder.dropout": NUMBERS,
    "encoder.cell": st.sampled_from(["rnn", "gru", "lstm", "LSTM"]),
    "heads.0.kind": st.sampled_from(["crf", "softmax", "classify", "hmm"]), "heads.0.weight": NUMBERS,
    "train.lr": NUMBERS, "train.batch_size": st.integers(-2, 40), "train.clip": NUMBERS,
    "train.optimizer": st.sampled_from(["adam", "adamw", "nadam", "sgd", "lbfgs"]),
    "train.momentum": NUMBERS, "train.weight_decay": NUMBERS,
}


@pytest.fixture(scope="module")
def demo_sentences():
    return read_conll2003(demo_dir() / "train.txt")[:24]


def _set(recipe, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    node = recipe
    for part in path:
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    setattr(node, last, value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({}, optional=OVERRIDES))
def test_a_recipe_is_refused_by_name_or_it_trains(demo_sentences, changes):
    """Never another exception: a recipe the check passes builds a model that takes a step."""
    recipe = load_recipe("demo")
    for dotted, value in changes.items():
        _set(recipe, dotted, value)
    try:
        check_recipe(recipe)
    except TaggerError as err:
        assert str(err).startswith("invalid recipe 'demo': ")
        assert any(dotted in str(err) for dotted in changes), (str(err), changes)
        return
    try:
        vocabs = build_vocabs(demo_sentences, recipe.heads, recipe.embed)
    except TaggerError as err:  # a sound recipe for other data: a classify head on NER sentences
        assert changes.get("heads.0.kind") == "classify" and "label" in str(err)
        return
    model = SequenceTagger(recipe, vocabs)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.train.lr)
    encoded = [encode(s, vocabs) for s in demo_sentences]
    batch = next(iter(train_batches(encoded, recipe.train.batch_size, random.Random(0))))
    loss = model.loss(batch)
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()


def test_training_refuses_a_bad_recipe_given_from_python(tmp_path):
    from tagger.train import train

    recipe = load_recipe("demo", ["train.max_epochs=0"])
    with pytest.raises(TaggerError, match="train.max_epochs = 0"):
        train(recipe, tmp_path / "run", Console(file=io.StringIO()))
    assert not (tmp_path / "run").exists()
