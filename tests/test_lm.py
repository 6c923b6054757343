"""Recurrent language models: data streams, truncated BPTT, scoring, sampling, inspection, CLI."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tagger.cli import app
from tagger.errors import TaggerError
from tagger.lm.config import LMRecipe
from tagger.lm.generate import generate, next_symbol
from tagger.lm.inspect import _lstm_cells, correlations, find_units, text_properties, unit_activations
from tagger.lm.model import LanguageModel, load_lm
from tagger.lm.text import EOS, build_vocab, stream, symbols, to_ids
from tagger.lm.train import batchify, score_text, split_valid, stream_loss, train_lm

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "lm" / "harbour.txt"
runner = CliRunner()
TINY = dict(hidden=24, embed_dim=8, batch_size=4, bptt=16, threads=1, dropout=0.0)


def tiny_lm(text: str = "abcab c\n", **kw) -> LanguageModel:
    cfg = LMRecipe.from_fields(**(TINY | kw)).model
    vocab = build_vocab(stream(text, cfg.level), cfg.level)
    torch.manual_seed(0)
    return LanguageModel(cfg, vocab).eval()


# ---- text and streams -------------------------------------------------------

def test_word_symbols_end_each_line_and_skip_blank_lines():
    assert symbols("the cat\n\nsat down\n", "word") == ["the", "cat", EOS, "sat", "down", EOS]
    assert symbols("ab\n", "char") == ["a", "b", "\n"]
    assert stream("ab c", "char", reverse=True) == ["c", " ", "b", "a"]
    assert stream("a b\nc\n", "word", reverse=True) == [EOS, "c", EOS, "b", "a"]


def test_word_vocab_keeps_specials_and_the_most_frequent_words():
    vocab = build_vocab(["b", "a", "a", "c", "c", "c", EOS], "word", min_freq=1, max_vocab=5)
    assert vocab.itos == ["<pad>", "<unk>", EOS, "c", "a"]
    assert vocab.id("never-seen") == vocab.unk_id


def test_split_valid_cuts_at_a_line_break():
    text = "".join(f"line {i}\n" for i in range(100))
    train, valid = split_valid(text, 0.1)
    assert train + valid == text and train.endswith("\n") and valid.startswith("line")
    assert 0.08 < len(valid) / len(text) < 0.12


def test_batchify_cuts_contiguous_streams():
    data = batchify(torch.arange(10), 3)
    assert data.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    with pytest.raises(TaggerError, match="too short"):
        batchify(torch.arange(3), 4)


# ---- truncated BPTT -----------------------------------------------------------

@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_carried_state_makes_windows_equal_to_one_pass(cell):
    """Scoring in windows of 3 with the state carried gives exactly the loss of one
    unbroken pass: nothing is lost at window boundaries."""
    lm = tiny_lm("hello world, hello moon\n", cell=cell, layers=2)
    ids = to_ids(stream("hello world, hello moon\n" * 3, "char"), lm.vocab)
    data = batchify(ids, 2)
    windowed = stream_loss(lm, data, bptt=3)
    whole = stream_loss(lm, data, bptt=1000)
    with torch.no_grad():
        logits, _ = lm(data[:, :-1])
        direct = torch.nn.functional.cross_entropy(logits.flatten(0, 1), data[:, 1:].flatten()).item()
    assert windowed == pytest.approx(whole, abs=1e-5)
    assert whole == pytest.approx(direct, abs=1e-5)


def test_an_untrained_model_scores_about_log_vocab():
    lm = tiny_lm("abcdefgh\n")
    lm.out.weight.data.zero_()
    lm.out.bias.data.zero_()  # uniform predictions
    result = score_text(lm, "abcdefgh\n" * 4)
    assert result["nats"] == pytest.approx(math.log(len(lm.vocab)), abs=1e-5)
    assert result["bits"] == pytest.approx(math.log2(len(lm.vocab)), abs=1e-5)
    assert result["perplexity"] == pytest.approx(len(lm.vocab), rel=1e-4)


def test_training_learns_a_periodic_text(tmp_path):
    text = "abcd" * 600 + "\n"
    recipe = LMRecipe.from_fields(**(TINY | dict(max_epochs=25, patience=25, lr=1e-2)))
    result = train_lm(recipe, tmp_path / "run", train_text=text)
    assert result.best_dev["nats"] < 0.1 and result.best_score == -result.best_dev["nats"]  # the next character of abcdabcd... is certain
    assert (tmp_path / "run" / "best" / "lm.json").exists()
    assert (tmp_path / "run" / "best" / "training.png").exists()
    lm = load_lm(tmp_path / "run")
    assert generate(lm, prime="ab", length=8, temperature=0) == "abcdabcdab"


def test_word_level_training_reports_perplexity(tmp_path):
    text = "the cat sat on the mat\n" * 200
    recipe = LMRecipe.from_fields(**(TINY | dict(level="word", max_epochs=20, patience=20, lr=1e-2, bptt=8)))
    result = train_lm(recipe, tmp_path / "run", train_text=text)
    lm = load_lm(result.best_dir)
    assert score_text(lm, "the cat sat on the mat\n" * 20)["perplexity"] < 1.5
    assert generate(lm, prime="the cat", length=6, temperature=0) == "the cat sat on the mat\nthe"


def test_time_budget_still_saves_a_model(tmp_path):
    recipe = LMRecipe.from_fields(**(TINY | dict(max_minutes=0.0, max_epochs=5)))
    result = train_lm(recipe, tmp_path / "run", train_text="some text here\n" * 50)
    assert result.stopped_because.startswith("time budget") and result.best_dir.exists()
    assert len(result.epochs) == 1 and result.epochs[0].step == 1  # stopped, scored and saved after one step


# ---- sampling ------------------------------------------------------------------

def test_temperature_divides_the_logits():
    logits = torch.tensor([0.0, math.log(3.0)])  # softmax = [0.25, 0.75]
    gen = torch.Generator().manual_seed(0)
    for temperature, expected in [(1.0, 0.75), (0.5, 0.9), (2.0, math.sqrt(3) / (1 + math.sqrt(3)))]:
        draws = [next_symbol(logits, temperature, None, gen) for _ in range(6000)]
        assert sum(draws) / len(draws) == pytest.approx(expected, abs=0.02)


def test_temperature_zero_is_greedy_and_top_k_one_too():
    logits = torch.tensor([0.1, 2.0, 1.9])
    gen = torch.Generator().manual_seed(0)
    assert {next_symbol(logits, 0.0, None, gen) for _ in range(50)} == {1}
    assert {next_symbol(logits, 5.0, 1, gen) for _ in range(50)} == {1}
    assert {next_symbol(logits, 5.0, 2, gen) for _ in range(200)} == {1, 2}


def test_same_seed_same_sample_and_backward_models_write_to_the_left():
    lm = tiny_lm("abc def\n")
    assert generate(lm, "ab", 30, 1.0, seed=3) == generate(lm, "ab", 30, 1.0, seed=3)
    back = tiny_lm("abc def\n", reverse=True)
    out = generate(back, prime="def", length=12, temperature=1.0, seed=1)
    assert out.endswith("def") and len(out) == 15
    with pytest.raises(TaggerError, match="temperature"):
        generate(lm, "a", 5, -1.0)


# ---- save / load ------------------------------------------------------------------

@pytest.mark.parametrize("tie", [False, True])
def test_save_load_round_trip(tmp_path, tie):
    lm = tiny_lm("round trip\n", tie_weights=tie, embed_dim=24)
    lm.save(tmp_path / "lm")
    again = load_lm(tmp_path / "lm")
    ids = to_ids(stream("round trip", "char"), lm.vocab)[None]
    assert torch.equal(lm(ids)[0], again(ids)[0])
    assert again.cfg == lm.cfg and again.vocab.itos == lm.vocab.itos
    if tie:
        assert again.out.weight.data_ptr() == again.embed.weight.data_ptr()


def test_truncated_weights_and_a_tagger_model_are_refused(tmp_path):
    lm = tiny_lm()
    lm.save(tmp_path / "lm")
    weights = tmp_path / "lm" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(TaggerError, match="safetensors"):
        load_lm(tmp_path / "lm")
    with pytest.raises(TaggerError, match="lm.json is missing"):
        load_lm(tmp_path)


# ---- inspection ----------------------------------------------------------------------

def test_text_properties():
    props = text_properties('a "b" (c)\nd')
    assert props["inside quotes"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert props["inside brackets"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    assert props["position in line"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_find_units_ranks_the_unit_that_tracks_a_property_first():
    text = 'say "hello there" and (not "this") ok\n' * 5
    quotes = text_properties(text)["inside quotes"]
    acts = torch.randn(len(text), 6, generator=torch.Generator().manual_seed(0)) * 0.1
    acts[:, 4] = quotes * 2 - 1  # unit 4 is a quote detector
    ranking = find_units(text, acts, top=3)
    assert ranking["inside quotes"][0][0] == 4
    assert ranking["inside quotes"][0][1] == pytest.approx(1.0, abs=1e-5)
    assert correlations(acts, -quotes)[4] == pytest.approx(-1.0, abs=1e-5)


def test_cell_states_match_the_lstm():
    lm = tiny_lm("some text\n", layers=2)
    acts_h = unit_activations(lm, "some text")
    assert acts_h.shape == (9, 24)
    with torch.no_grad():
        x = lm.embed(to_ids(stream("some text", "char"), lm.vocab))
        out, (h, c) = lm.layers[0](x[None])
        assert torch.allclose(_lstm_cells(lm.layers[0], x)[-1], torch.tanh(c[0, 0]), atol=1e-6)
    assert unit_activations(lm, "some text", layer=0, state="c").shape == (9, 24)


# ---- command line ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_lm(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lm") / "run"
    result = runner.invoke(app, ["lm", "train", str(SAMPLE), "-o", str(out), "--hidden", "24", "--embed-dim", "8",
                                 "--batch-size", "4", "--bptt", "20", "--max-epochs", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    return out


def test_cli_score_generate_inspect(cli_lm, tmp_path):
    scored = runner.invoke(app, ["lm", "score", str(cli_lm), str(SAMPLE)])
    assert scored.exit_code == 0 and "bits/char" in scored.stdout
    bits = float(scored.stdout.split(": ")[1].split(" bits")[0])
    assert bits == pytest.approx(score_text(load_lm(cli_lm), SAMPLE.read_text())["bits"], abs=1e-3)
    a = runner.invoke(app, ["lm", "generate", str(cli_lm), "--prime", "MARTA:", "--length", "40", "--seed", "5"])
    b = runner.invoke(app, ["lm", "generate", str(cli_lm), "--prime", "MARTA:", "--length", "40", "--seed", "5"])
    assert a.exit_code == 0 and a.stdout == b.stdout and a.stdout.startswith("MARTA:")
    page = tmp_path / "units.html"
    shown = runner.invoke(app, ["lm", "inspect", str(cli_lm), str(SAMPLE), "--find", "-o", str(page)])
    assert shown.exit_code == 0, shown.output
    assert "inside quotes" in shown.stdout and page.read_text().count("<span") == len(SAMPLE.read_text())
    assert page.with_suffix(".png").stat().st_size > 1000


def test_cli_trains_on_the_words_of_a_named_source(tmp_path):
    result = runner.invoke(app, ["lm", "train", "demo", "-o", str(tmp_path / "run"), "--level", "word",
                                 "--hidden", "16", "--embed-dim", "16", "--tie-weights", "--batch-size", "4",
                                 "--bptt", "10", "--max-epochs", "1", "--threads", "1"])
    assert result.exit_code == 0, result.output
    scored = runner.invoke(app, ["lm", "score", str(tmp_path / "run"), str(SAMPLE)])
    assert "perplexity" in scored.stdout and "unknown to the model" in scored.stdout


@pytest.mark.parametrize(
    "content, message",
    [(b"caf\xe9\n", "not UTF-8"), (b"  \n\n", "holds no text")],
)
def test_cli_bad_text_is_one_line(tmp_path, content, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    result = runner.invoke(app, ["lm", "train", str(bad), "-o", str(tmp_path / "run")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(bad) in lines[0]
    assert not (tmp_path / "run").exists()


def test_cli_rejects_bad_settings(tmp_path, cli_lm):
    tied = runner.invoke(app, ["lm", "train", str(SAMPLE), "--tie-weights", "--hidden", "32", "--embed-dim", "8"])
    assert tied.exit_code == 1 and "tie_weights" in tied.stderr
    assert runner.invoke(app, ["lm", "generate", str(cli_lm), "--temperature", "-1"]).exit_code == 1
    assert runner.invoke(app, ["lm", "score", str(tmp_path), str(SAMPLE)]).exit_code == 1


def test_tagger_train_runs_a_language_model_recipe_and_resumes_it(tmp_path):
    """A recipe with family = "lm" trains through `tagger train` (the shared recipe system
    and trainer); --resume of that run is dispatched to the language model by its checkpoint."""
    recipe = tmp_path / "tiny-lm.toml"
    recipe.write_text(f'family = "lm"\n[data]\ntrain = "{SAMPLE}"\nbptt = 16\n'
                      '[model]\nhidden = 16\nembed_dim = 8\n[train]\nbatch_size = 4\nmax_epochs = 2\nthreads = 1\n')
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", str(recipe), "-o", str(out), "--max-epochs", "1", "--set", "model.layers=2"])
    assert result.exit_code == 0, result.output
    lm = load_lm(out)
    assert lm.cfg.layers == 2 and lm.cfg.hidden == 16
    metrics = (out / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 1
    again = runner.invoke(app, ["train", "--resume", str(out), "--max-epochs", "2"])
    assert again.exit_code == 1 and "--max-epochs cannot be given" in again.output  # what it learns stays
    wrong = runner.invoke(app, ["train", str(recipe), "--vectors", str(SAMPLE)])
    assert wrong.exit_code == 1 and "--vectors is not an option for language models" in wrong.output
    bad = tmp_path / "bad.toml"
    bad.write_text('family = "lm"\n[model]\ncell = "transformer"\n')
    refused = runner.invoke(app, ["train", str(bad)])
    assert refused.exit_code == 1 and "unknown cell 'transformer'" in refused.output and "bad.toml" in refused.output


def test_a_run_stopped_inside_an_epoch_counts_that_epoch_time(tmp_path):
    recipe = LMRecipe.from_fields(**(TINY | dict(max_minutes=0.0, max_epochs=5)))
    result = train_lm(recipe, tmp_path / "run", train_text="some text here\n" * 50)
    assert result.epochs[0].step == 1 and result.seconds >= result.epochs[0].elapsed > 0
