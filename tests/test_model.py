import dataclasses
import json
import os
import pickle
import random
import shutil

import pytest
import torch

from tagger.batching import build_vocabs, collate, encode
from tagger.config import load_recipe
from tagger.data import Sentence
from tagger.errors import TaggerError
from tagger.model import (
    CONFIG_FILE,
    VOCAB_FILE,
    WEIGHTS_FILE,
    SequenceTagger,
    load_model,
    resolve_model_dir,
)
from tagger.predict import Tagger
from tagger.sources import load_demo
from tagger.tokenize import tokenize

TINY = [
    "embed.word_dim=8",
    "embed.casing_dim=4",
    "embed.char_dim=4",
    "embed.char_hidden=6",
    "encoder.hidden=8",
]


@pytest.fixture(scope="module")
def demo_train():
    return load_demo(splits=("train",))["train"]


@pytest.fixture(scope="module")
def demo_vocabs(demo_train):
    recipe = load_recipe("demo", TINY)
    return build_vocabs(demo_train, recipe.heads, recipe.embed)


def tiny_model(vocabs, *overrides, seed=0):
    recipe = load_recipe("demo", TINY + list(overrides))
    torch.manual_seed(seed)
    return SequenceTagger(recipe, vocabs).eval()


def random_sentences(vocabs, n, lo, hi, rng):
    """Random word sequences from the vocabulary plus a few unseen words and odd casings."""
    pool = vocabs.words.itos[2:] + ["Zyxwv", "QQQ", "1,234", "iPod", "-", "naïve"]
    out = []
    for _ in range(n):
        words = [rng.choice(pool) for _ in range(rng.randint(lo, hi))]
        out.append([w.capitalize() if rng.random() < 0.3 else w for w in words])
    return out


# ----------------------------------------------------------------------------- construction


def test_model_from_demo_recipe(demo_vocabs):
    model = tiny_model(demo_vocabs)
    assert model.tasks == ["ner"]
    assert model.embedder.out_dim == 8 + 4 + 6
    assert model.encoder.out_dim == 16
    assert model.heads["ner"].proj.out_features == len(demo_vocabs.labels["ner"])
    # the demo data has all four CoNLL types, each with B- and I-
    assert set(demo_vocabs.labels["ner"].itos) == {
        "<pad>", "O", *(f"{p}-{t}" for t in ("LOC", "MISC", "ORG", "PER") for p in "BI")
    }


def test_unknown_head_kind_is_error(demo_vocabs):
    with pytest.raises(TaggerError, match="unknown head kind 'mlp'"):
        tiny_model(demo_vocabs, "heads.0.kind=mlp")


def test_loss_and_decode_shapes(demo_train, demo_vocabs):
    model = tiny_model(demo_vocabs)
    batch = collate([encode(s, demo_vocabs) for s in demo_train[:5]], list(range(5)))
    loss = model.loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.item() > 0
    out = model.decode(batch)["ner"]
    assert out.shape == batch.mask.shape
    assert out[~batch.mask].eq(0).all() and out[batch.mask].ge(1).all()


def test_head_weights_scale_each_task_loss(demo_train, demo_vocabs):
    sentences = [dataclasses.replace(s, tags={**s.tags, "ner2": s.tags["ner"]}) for s in demo_train[:6]]
    vocabs = build_vocabs(sentences, _two_head_recipe().heads, load_recipe("demo").embed)
    batch = collate([encode(s, vocabs) for s in sentences], list(range(6)))
    losses = {}
    for weights in [(1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (2.0, 0.5)]:
        recipe = _two_head_recipe(*weights)
        torch.manual_seed(0)
        losses[weights] = SequenceTagger(recipe, vocabs).eval().loss(batch).item()
    first, second = losses[(1.0, 0.0)], losses[(0.0, 1.0)]
    assert losses[(1.0, 1.0)] == pytest.approx(first + second, rel=1e-5)
    assert losses[(2.0, 0.5)] == pytest.approx(2 * first + 0.5 * second, rel=1e-5)
    with pytest.raises(TaggerError, match="must be >= 0"):
        SequenceTagger(_two_head_recipe(-1.0, 1.0), vocabs)


def _two_head_recipe(w1: float = 1.0, w2: float = 1.0):
    recipe = load_recipe("demo", TINY)
    head = recipe.heads[0]
    recipe.heads = [dataclasses.replace(head, weight=w1), dataclasses.replace(head, task="ner2", weight=w2)]
    return recipe


# ----------------------------------------------------------------------------- save / load


@pytest.fixture
def saved(tmp_path, demo_vocabs):
    model = tiny_model(demo_vocabs, seed=3)
    directory = model.save(tmp_path / "model")
    return model, directory


def test_save_writes_exactly_three_files(saved):
    _, directory = saved
    assert sorted(os.listdir(directory)) == sorted([CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE])
    config = json.loads((directory / CONFIG_FILE).read_text())
    assert config["format_version"] == 1
    assert config["recipe"]["encoder"]["hidden"] == 8


def test_load_gives_identical_weights_and_outputs(saved, demo_vocabs, demo_train):
    model, directory = saved
    loaded = load_model(directory)
    assert not loaded.training
    a, b = model.state_dict(), loaded.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a model built with another seed differs, so equality above is not an accident of init
    other = tiny_model(demo_vocabs, seed=4).state_dict()
    assert not all(torch.equal(a[k], other[k]) for k in a)
    assert loaded.vocabs.words.itos == demo_vocabs.words.itos
    assert loaded.vocabs.labels["ner"].itos == demo_vocabs.labels["ner"].itos
    assert loaded.recipe == model.recipe
    batch = collate([encode(s, demo_vocabs) for s in demo_train[:20]], list(range(20)))
    with torch.no_grad():
        assert torch.equal(model.decode(batch)["ner"], loaded.decode(batch)["ner"])
        assert torch.equal(model.states(batch), loaded.states(batch))
    sents = [s.words for s in demo_train[:20]]
    assert Tagger(model).predict(sents) == Tagger(loaded).predict(sents)


def test_save_overwrites_atomically(saved, demo_vocabs):
    _, directory = saved
    tiny_model(demo_vocabs, seed=9).save(directory)
    assert sorted(os.listdir(directory)) == sorted([CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE])
    load_model(directory)


def test_resolve_model_dir_accepts_run_dir_with_best(tmp_path, saved):
    model, directory = saved
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(directory, run / "best")
    assert resolve_model_dir(run) == run / "best"
    assert resolve_model_dir(directory) == directory
    loaded = load_model(run)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_truncated_weights_is_tagger_error(saved):
    _, directory = saved
    weights = directory / WEIGHTS_FILE
    data = weights.read_bytes()
    for size in (len(data) // 2, len(data) - 1, 10, 0):
        weights.write_bytes(data[:size])
        with pytest.raises(TaggerError) as info:
            load_model(directory)
        assert "safetensors" in str(info.value)
        assert info.value.path == str(weights)


@pytest.mark.parametrize("name", [CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE])
def test_missing_file_is_tagger_error(saved, name):
    _, directory = saved
    (directory / name).unlink()
    with pytest.raises(TaggerError, match=f"{name} is missing"):
        load_model(directory)


def test_missing_directory_is_tagger_error(tmp_path):
    with pytest.raises(TaggerError, match="does not exist"):
        load_model(tmp_path / "nowhere")


def test_bad_config_json_is_tagger_error(saved):
    _, directory = saved
    (directory / CONFIG_FILE).write_text("{not json")
    with pytest.raises(TaggerError, match="not valid JSON"):
        load_model(directory)
    (directory / CONFIG_FILE).write_text(json.dumps({"format_version": 99, "recipe": {}}))
    with pytest.raises(TaggerError, match="unsupported model format"):
        load_model(directory)


def test_malformed_vocab_is_tagger_error(saved):
    _, directory = saved
    (directory / VOCAB_FILE).write_text(json.dumps({"words": ["<pad>"]}))
    with pytest.raises(TaggerError, match="malformed vocabulary"):
        load_model(directory)


def test_config_changed_after_saving_is_tagger_error(saved):
    _, directory = saved
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["recipe"]["encoder"]["hidden"] = 9
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(TaggerError, match="do not match") as info:
        load_model(directory)
    assert "config needs" in str(info.value)


def test_config_with_bad_field_is_tagger_error(saved):
    _, directory = saved
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["recipe"]["encoder"]["hiden"] = 9
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(TaggerError, match="encoder.hiden") as info:
        load_model(directory)
    assert info.value.path == str(directory / CONFIG_FILE)


def test_config_with_extra_layer_is_tagger_error(saved):
    _, directory = saved
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["recipe"]["encoder"]["layers"] = 2
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(TaggerError, match="weights do not match config.json: missing"):
        load_model(directory)


class Payload:
    """Unpickling this opens (creates) the marker file: stands in for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_payload_would_run_when_unpickled(tmp_path):
    # positive control without unpickling anything: calling what __reduce__ hands to
    # the unpickler is exactly what pickle would do, and it creates the marker
    marker = tmp_path / "control"
    func, args = Payload(marker).__reduce__()
    func(*args).close()
    assert marker.exists()


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickled_weights_are_refused_without_running(saved, tmp_path, writer):
    _, directory = saved
    marker = tmp_path / "pwned"
    weights = directory / WEIGHTS_FILE
    payload = {"embedder.word.weight": torch.zeros(3), "x": Payload(marker)}
    if writer == "pickle":
        weights.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, weights)
    with pytest.raises(TaggerError, match="safetensors"):
        load_model(directory)
    with pytest.raises(TaggerError):
        Tagger.load(directory)
    assert not marker.exists()


def test_symlinked_weights_outside_dir_are_refused(saved, tmp_path):
    _, directory = saved
    outside = tmp_path / "elsewhere.safetensors"
    (directory / WEIGHTS_FILE).rename(outside)
    (directory / WEIGHTS_FILE).symlink_to(outside)
    with pytest.raises(TaggerError, match="outside the model directory"):
        load_model(directory)


def test_symlinked_weights_inside_dir_are_accepted(saved):
    model, directory = saved
    (directory / "sub").mkdir()
    (directory / WEIGHTS_FILE).rename(directory / "sub" / "w.safetensors")
    (directory / WEIGHTS_FILE).symlink_to(directory / "sub" / "w.safetensors")
    loaded = load_model(directory)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_even_char_kernel_is_a_recipe_error(demo_vocabs):
    with pytest.raises(TaggerError, match="char_kernel must be odd"):
        tiny_model(demo_vocabs, "embed.char_kernel=4")


# ----------------------------------------------------------------------------- padding invariance

CONFIGS = [
    (head, cell, bidi, "cnn")
    for head in ("crf", "softmax")
    for cell in ("rnn", "gru", "lstm")
    for bidi in ("true", "false")
] + [("crf", "lstm", "true", "lstm"), ("softmax", "gru", "true", "none")]


@pytest.mark.parametrize("head, cell, bidi, chars", CONFIGS)
def test_padding_invariance(demo_vocabs, head, cell, bidi, chars):
    model = tiny_model(
        demo_vocabs,
        f"heads.0.kind={head}",
        f"encoder.cell={cell}",
        f"encoder.bidirectional={bidi}",
        f"embed.char_encoder={chars}",
        seed=11,
    )
    rng = random.Random(5)
    short = random_sentences(demo_vocabs, 4, 1, 5, rng)
    short[0] = ["EU", "rejects", "German", "call", "."]
    short[1] = ["Antidisestablishmentarianism"]  # the widest word, but a one-word sentence
    long = random_sentences(demo_vocabs, 3, 40, 60, rng)
    # a long word inside the long sentences widens the batch's char matrix
    long[0][3] = "Supercalifragilisticexpialidocious"

    tagger = Tagger(model)
    alone = [tagger.predict([s])[0] for s in short]
    mixed = tagger.predict(long[:2] + short + long[2:])
    assert mixed[2:6] == alone
    assert [len(p) for p in mixed] == [len(s) for s in long[:2] + short + long[2:]]

    vocabs = model.vocabs
    enc_short = [encode(s, vocabs) for s in short]
    enc_all = [encode(s, vocabs) for s in long] + enc_short
    batch = collate(enc_all, list(range(len(enc_all))))
    with torch.no_grad():
        states = model.states(batch)
        decoded = model.decode(batch)["ner"]
        for j, e in enumerate(enc_short):
            one = collate([e], [0])
            s1 = model.states(one)
            n = len(e)
            assert torch.allclose(states[len(long) + j, :n], s1[0], atol=1e-5)
            assert torch.equal(decoded[len(long) + j, :n], model.decode(one)["ner"][0])
            # and the head's scores (emissions) agree too
            proj = model.heads["ner"].proj
            assert torch.allclose(proj(states[len(long) + j, :n]), proj(s1[0]), atol=1e-5)


# ----------------------------------------------------------------------------- constrained decoding


def _violations(labels):
    bad, prev = 0, "O"
    for lab in labels:
        if lab.startswith("I-") and (prev == "O" or prev[2:] != lab[2:]):
            bad += 1
        prev = lab
    return bad


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_decode_never_starts_an_entity_with_i(demo_vocabs, head):
    model = tiny_model(demo_vocabs, f"heads.0.kind={head}", seed=2)
    itos = model.vocabs.labels["ner"].itos
    proj = model.heads["ner"].proj
    with torch.no_grad():
        proj.weight.mul_(20)  # sharp, random per-token preferences
        for i, lab in enumerate(itos):
            if lab.startswith("I-"):
                proj.bias[i] += 2.0  # push towards I- labels, so violations are tempting
    sentences = random_sentences(demo_vocabs, 200, 1, 12, random.Random(0))
    predicted = Tagger(model).predict(sentences)
    assert [len(p) for p in predicted] == [len(s) for s in sentences]
    assert all(lab in itos[1:] for p in predicted for lab in p)
    assert sum(_violations(p) for p in predicted) == 0
    assert any(lab.startswith("I-") for p in predicted for lab in p)  # I- is used, legally

    # control: the per-token argmax of the same scores would break BIO often
    batch = collate([encode(s, model.vocabs) for s in sentences], list(range(len(sentences))))
    with torch.no_grad():
        logits = proj(model.states(batch))
    raw = logits[..., 1:].argmax(-1) + 1
    raw_labels = [[itos[i] for i in row[:n]] for row, n in zip(raw.tolist(), batch.lengths.tolist())]
    assert sum(_violations(p) for p in raw_labels) > 20


def test_softmax_without_span_is_plain_argmax(demo_vocabs):
    model = tiny_model(demo_vocabs, "heads.0.kind=softmax", "heads.0.span=false", seed=2)
    sentences = random_sentences(demo_vocabs, 30, 1, 10, random.Random(1))
    batch = collate([encode(s, model.vocabs) for s in sentences], list(range(30)))
    with torch.no_grad():
        logits = model.heads["ner"].proj(model.states(batch))
        out = model.decode(batch)["ner"]
    expected = (logits[..., 1:].argmax(-1) + 1).masked_fill(~batch.mask, 0)
    assert torch.equal(out, expected)


# ----------------------------------------------------------------------------- Tagger.predict


def test_predict_accepts_strings_and_token_lists(demo_vocabs):
    tagger = Tagger(tiny_model(demo_vocabs))
    text = "EU rejects German call to boycott British lamb."
    tokens = tokenize(text)
    assert len(tokens) == 9
    from_text, from_tokens, from_tuple = tagger.predict([text, tokens, tuple(tokens)])
    assert len(from_text) == 9
    assert from_text == from_tokens == from_tuple
    labels = set(demo_vocabs.labels["ner"].itos[1:])
    assert set(from_text) <= labels
    assert tagger.predict([text], task="ner") == [from_text]
    assert tagger.predict_all([text]) == [{"ner": from_text}]
    assert list(tagger.predict_stream([text, tokens] * 3, chunk=2)) == [{"ner": from_text}] * 6


def test_predict_keeps_input_order(demo_vocabs):
    tagger = Tagger(tiny_model(demo_vocabs))
    sentences = random_sentences(demo_vocabs, 25, 1, 15, random.Random(3))
    together = tagger.predict(sentences)
    assert together == [tagger.predict([s])[0] for s in sentences]


def test_predict_unknown_task_is_error(demo_vocabs):
    tagger = Tagger(tiny_model(demo_vocabs))
    with pytest.raises(TaggerError, match="no task 'nope'") as info:
        tagger.predict([["EU"]], task="nope")
    assert "ner" in str(info.value)


def test_predict_empty_sentence_is_empty_in_place(demo_vocabs):
    tagger = Tagger(tiny_model(demo_vocabs))
    assert tagger.predict(["   ", [], ["EU"]])[:2] == [[], []]
    assert len(tagger.predict(["   ", [], ["EU"]])[2]) == 1


def test_evaluate_reports_scores(demo_train, demo_vocabs):
    tagger = Tagger(tiny_model(demo_vocabs))
    gold = demo_train[:10]
    report = tagger.evaluate(gold)
    assert set(report) == {"ner"}
    predicted = tagger.predict([s.words for s in gold])
    n_right = sum(p == g for s, ps in zip(gold, predicted) for p, g in zip(ps, s.tags["ner"]))
    assert report["ner"]["token_accuracy"] == pytest.approx(n_right / sum(len(s) for s in gold))
    assert "f1" in report["ner"]


def test_tagger_load_round_trip(saved):
    model, directory = saved
    tagger = Tagger.load(directory)
    words = [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    assert tagger.predict(words) == Tagger(model).predict(words)
    assert tagger.tasks == ["ner"]


def test_hand_built_sentences():
    sents = [
        Sentence(["EU", "rejects", "German", "call"], {"ner": ["B-ORG", "O", "B-MISC", "O"]}),
        Sentence(["Peter", "Blackburn"], {"ner": ["B-PER", "I-PER"]}),
    ]
    recipe = load_recipe("demo", TINY + ["heads.0.kind=softmax"])
    vocabs = build_vocabs(sents, recipe.heads, recipe.embed)
    model = SequenceTagger(recipe, vocabs).eval()
    batch = collate([encode(s, vocabs) for s in sents], [0, 1])
    assert batch.labels["ner"].tolist() == [
        [vocabs.labels["ner"].id(t) for t in sents[0].tags["ner"]],
        [vocabs.labels["ner"].id(t) for t in sents[1].tags["ner"]] + [0, 0],
    ]
    assert torch.isfinite(model.loss(batch))
    assert "I-ORG" in vocabs.labels["ner"] and "I-MISC" in vocabs.labels["ner"]
