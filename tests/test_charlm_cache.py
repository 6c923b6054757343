"""``embed.charlm_recipe``: one ``tagger train`` trains the tagger's char LMs from an LM
recipe the first time, reuses them from the cache after, trains new ones when a
setting or the text changes, and never caches a half-trained LM."""
from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

import tagger.lm.cache as lm_cache
from tagger.config import load_recipe
from tagger.errors import TaggerError
from tagger.lm.model import load_lm
from tagger.train import train

TAGGER = ["embed.word_dim=8", "embed.casing_dim=4", "embed.char_dim=8", "embed.char_hidden=8", "encoder.hidden=16",
          "train.threads=1", "train.max_epochs=1"]
LM_RECIPE = """family = "lm"
[data]
train = "{text}"
format = "text"
bptt = 20
[model]
level = "{level}"
hidden = {hidden}
embed_dim = 8
[train]
batch_size = 4
max_epochs = 1
threads = 1
"""


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("TAGGER_CACHE_DIR", str(tmp_path / "cache"))
    text = tmp_path / "text.txt"
    text.write_text("Peter Blackburn visited Brussels .\nThe EU rejects German calls .\n" * 30, encoding="utf-8")

    def lm_recipe(name: str = "tinylm", level: str = "char", hidden: int = 16) -> str:
        path = tmp_path / f"{name}.toml"
        path.write_text(LM_RECIPE.format(text=text, level=level, hidden=hidden), encoding="utf-8")
        return str(path)

    def run(lm: str, out: str) -> tuple[str, object]:
        log = io.StringIO()
        recipe = load_recipe("demo", [*TAGGER, f"embed.charlm_recipe={lm}"])
        result = train(recipe, tmp_path / out, Console(file=log, width=200))
        return log.getvalue(), result

    return tmp_path, text, lm_recipe, run


def test_trained_once_then_reused_and_retrained_when_a_setting_changes(setup):
    tmp_path, _, lm_recipe, run = setup
    log, result = run(lm_recipe(), "first")
    assert "training the forward char LM" in log and "training the backward char LM" in log
    folders = list((tmp_path / "cache" / "charlm").iterdir())
    assert [f.name.startswith("tinylm-") for f in folders] == [True]
    fwd, bwd = (load_lm(folders[0] / d / "best") for d in ("fwd", "bwd"))
    assert (fwd.cfg.reverse, bwd.cfg.reverse) == (False, True)
    config = json.loads((result.model_dir / "config.json").read_text())
    assert config["recipe"]["embed"]["charlm"] == f"{folders[0] / 'fwd' / 'best'},{folders[0] / 'bwd' / 'best'}"

    log, _ = run(lm_recipe(), "second")
    assert "training the" not in log and log.count("from the cache") == 2

    other = lm_cache.ensure_charlms(lm_recipe(hidden=12), Console(file=io.StringIO()))
    assert len(list((tmp_path / "cache" / "charlm").iterdir())) == 2  # another setting: other LMs
    assert load_lm(other.split(",")[0]).cfg.hidden == 12


def test_the_key_follows_the_text_but_not_threads(setup):
    _, text, lm_recipe, _ = setup
    recipe = lm_cache.load_charlm_recipe(lm_recipe())
    key = lm_cache.cache_key(recipe, "some text", None)
    recipe.train.threads = 2
    recipe.data.data_dir = "/where/the/text/was/found"
    assert lm_cache.cache_key(recipe, "some text", None) == key
    assert lm_cache.cache_key(recipe, "other text", None) != key
    recipe.model.hidden = 32
    assert lm_cache.cache_key(recipe, "some text", None) != key


def test_a_word_level_lm_recipe_is_refused_before_any_data_is_read(setup):
    _, _, lm_recipe, run = setup
    with pytest.raises(TaggerError, match="char"):
        run(lm_recipe(level="word"), "word")


def test_an_interrupted_lm_is_not_cached(setup, monkeypatch):
    tmp_path, _, lm_recipe, run = setup
    real_train_lm = lm_cache.train_lm

    def interrupted(recipe, output, console, **kwargs):
        output.mkdir(parents=True)
        return type("Result", (), {"stopped_because": "interrupted"})()

    monkeypatch.setattr(lm_cache, "train_lm", interrupted)
    with pytest.raises(TaggerError, match="stopped while training the fwd char LM"):
        run(lm_recipe(), "stopped")
    folder = next((tmp_path / "cache" / "charlm").iterdir())
    assert not (folder / "fwd").exists() and not (folder / "bwd").exists()
    (folder / "fwd.partial-999999999").mkdir()  # a killed run's (no such process)
    monkeypatch.setattr(lm_cache, "train_lm", real_train_lm)
    run(lm_recipe(), "again")
    # The killed run's partial folder is gone (this process's own became fwd).
    assert sorted(p.name for p in folder.iterdir()) == ["bwd", "fwd"]
