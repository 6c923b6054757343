"""Contextual character-LM embeddings in the tagger (Akbik et al., 2018)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import tagger
from tagger.batching import collate, encode
from tagger.charlm_text import lm_inputs
from tagger.cli import app
from tagger.config import load_recipe
from tagger.io.conll import read_conll2003
from tagger.lm.model import load_lm
from tagger.model import charlm_embedding
from tagger.nn.charlm import CharLMEmbedding
from tagger.sources import demo_dir
from tagger.train import train
from tagger.vocab import Vocab

runner = CliRunner()
TINY = [
    "embed.word_dim=16", "embed.casing_dim=4", "embed.char_dim=8", "embed.char_hidden=16",
    "encoder.hidden=32", "train.threads=1", "train.max_epochs=2",
]


def test_read_positions_are_the_spaces_around_each_word():
    vocab = Vocab(["<pad>", "<unk>", "\n", " ", "a", "b", "c"])
    ids, pos = lm_inputs(["ab", "c"], vocab, reverse=False)
    chars = "".join(vocab.itos[i] for i in ids)
    assert chars == "\nab c "
    assert pos == [3, 5] and all(chars[p] == " " for p in pos)  # just after "ab", just after "c"
    ids, pos = lm_inputs(["ab", "c"], vocab, reverse=True)
    chars = "".join(vocab.itos[i] for i in ids)
    assert chars == "\nc ba "
    # the backward LM has read "ba" (= ab reversed) at 5 and "c" at 2
    assert pos == [5, 2] and chars[:5].endswith("ba") and chars[:2].endswith("c")


def test_embedding_reads_the_lm_states_and_ignores_padding(charlms):
    fwd, bwd = load_lm(charlms[0]), load_lm(charlms[1])
    emb = CharLMEmbedding(fwd, bwd).eval()
    sentences = [["Peter", "lives", "in", "Berlin", "."], ["Hi"]]
    inputs = {}
    for d, lm in (("fwd", fwd), ("bwd", bwd)):
        rows = [lm_inputs(s, lm.vocab, lm.cfg.reverse) for s in sentences]
        pad = torch.nn.utils.rnn.pad_sequence
        inputs[d] = (pad([torch.tensor(r[0]) for r in rows], batch_first=True),
                     pad([torch.tensor(r[1]) for r in rows], batch_first=True))
    mask = torch.tensor([[True] * 5, [True] + [False] * 4])
    with torch.no_grad():
        out = emb(inputs, mask)
        assert out.shape == (2, 5, 48)
        for b, words in enumerate(sentences):
            ids, pos = lm_inputs(words, fwd.vocab, False)
            states, _ = fwd.run(torch.tensor([ids]))
            assert torch.allclose(out[b, : len(words), :24], states[-1][0, pos], atol=1e-6)
            ids, pos = lm_inputs(words, bwd.vocab, True)
            states, _ = bwd.run(torch.tensor([ids]))
            assert torch.allclose(out[b, : len(words), 24:], states[-1][0, pos], atol=1e-6)
        assert out[1, 1:].abs().sum() == 0


def test_order_and_direction_are_checked(charlms):
    fwd, bwd = load_lm(charlms[0]), load_lm(charlms[1])
    with pytest.raises(ValueError, match="forward LM, then a backward"):
        charlm_embedding(bwd, fwd)
    assert isinstance(charlm_embedding(fwd, bwd), CharLMEmbedding)


@pytest.fixture(scope="module")
def charlm_tagger(charlms, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tagger")
    recipe = load_recipe("demo", TINY + [f"embed.charlm='{charlms[0]},{charlms[1]}'"])
    train(recipe, out)
    return out / "best"


def test_frozen_lms_are_unchanged_and_the_model_is_self_contained(charlms, charlm_tagger, tmp_path):
    model = tagger.load(charlm_tagger).model
    for direction, path in zip(("fwd", "bwd"), charlms):
        original = load_lm(path).state_dict()
        trained = model.embedder.charlm.lms[direction].state_dict()
        assert all(torch.equal(original[k], trained[k]) for k in original)
    # The tagger carries the LMs: it loads and predicts with their folders gone.
    copy = tmp_path / "copy"
    shutil.copytree(charlm_tagger, copy)
    moved = [tmp_path / "fwd", tmp_path / "bwd"]
    for src, dst in zip(charlms, moved):
        shutil.move(str(src.parent), dst)
    try:
        words = ["Peter", "lives", "in", "Berlin", "."]
        assert tagger.load(copy).predict([words]) == tagger.load(charlm_tagger).predict([words])
    finally:
        for src, dst in zip(charlms, moved):
            shutil.move(str(dst), src.parent)


def test_cached_features_equal_computed_ones(charlm_tagger):
    model = tagger.load(charlm_tagger).model
    sentences = [["Peter", "lives", "in", "Berlin", "."], ["EU", "rejects", "German", "call"]]
    encoded = [encode(s, model.vocabs, with_labels=False) for s in sentences]
    with torch.no_grad():
        computed = model.charlm_features(collate(encoded, [0, 1]))
        for e, row in zip(encoded, computed):
            e.lm_feats = row[: len(e)].to(torch.float16)
        batch = collate(encoded, [0, 1])
        assert batch.lm_feats is not None
        assert torch.allclose(batch.lm_feats.float(), computed, atol=2e-3)
        cached = model.decode(batch)
        fresh = model.decode(collate([encode(s, model.vocabs, with_labels=False) for s in sentences], [0, 1]))
    assert all(torch.equal(cached[t], fresh[t]) for t in fresh)


def test_finetuned_lms_change(charlms, tmp_path):
    recipe = load_recipe("demo", TINY + ["train.max_epochs=1", f"embed.charlm='{charlms[0]},{charlms[1]}'",
                                         "embed.charlm_finetune=true"])
    result = train(recipe, tmp_path / "run")
    trained = tagger.load(result.model_dir).model.embedder.charlm.lms["fwd"].state_dict()
    original = load_lm(charlms[0]).state_dict()
    assert any(not torch.equal(original[k], trained[k]) for k in original)


def test_cli_charlm_errors_are_one_line(charlms, tmp_path):
    swapped = runner.invoke(app, ["train", "demo", "--charlm", f"{charlms[1]},{charlms[0]}", "-o", str(tmp_path / "r")])
    assert swapped.exit_code == 1 and "must be a forward LM" in swapped.stderr
    single = runner.invoke(app, ["train", "demo", "--charlm", str(charlms[0]), "-o", str(tmp_path / "r")])
    assert single.exit_code == 1 and "two language models" in single.stderr
    assert len(single.stderr.strip().splitlines()) == 1


def test_long_inputs_are_read_in_windows_with_the_same_result(charlms, monkeypatch):
    fwd, bwd = load_lm(charlms[0]), load_lm(charlms[1])
    emb = CharLMEmbedding(fwd, bwd).eval()
    words = ["Peter", "lives", "in", "Berlin", "and", "works", "for", "Siemens", "."] * 6
    inputs = {d: tuple(torch.tensor([x]) for x in lm_inputs(words, lm.vocab, lm.cfg.reverse))
              for d, lm in (("fwd", fwd), ("bwd", bwd))}
    mask = torch.ones(1, len(words), dtype=torch.bool)
    with torch.no_grad():
        whole = emb(inputs, mask)
        monkeypatch.setattr(CharLMEmbedding, "WINDOW", 7)
        windowed = emb(inputs, mask)
    assert torch.allclose(whole, windowed, atol=1e-5)


def test_cli_predict_and_spacy_use_the_charlm_model(charlm_tagger, tmp_path):
    import spacy

    text = "Peter lives in Berlin ."
    expected = tagger.load(charlm_tagger).predict([text.split()])[0]
    result = runner.invoke(app, ["predict", str(charlm_tagger), text, "-f", "conll"])
    assert result.exit_code == 0, result.output
    assert [line.split()[-1] for line in result.stdout.split("\n") if line.strip()] == expected
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(charlm_tagger)})
    nlp.to_disk(tmp_path / "pipe")
    doc = spacy.load(tmp_path / "pipe")(text)
    spans = [(e.start, e.end, e.label_) for e in doc.ents]
    from tagger.schemes import spans as bio_spans

    assert spans == [(start, end, label) for label, start, end in bio_spans(expected)]


def test_bf16_charlm_tagger_tags_like_fp32(charlm_tagger):
    """quantize="bf16" puts the LMs' and the encoder's recurrent layers in bfloat16 (the
    char-LM model's hot path); labels stay those of float32 but for near ties."""
    sentences = [s.words for s in read_conll2003(demo_dir() / "valid.txt")]
    fp32, bf16 = tagger.load(charlm_tagger), tagger.load(charlm_tagger, quantize="bf16")
    assert bf16.model.embedder.charlm.lms["fwd"].layers[0].weight_hh_l0.dtype == torch.bfloat16
    assert bf16.model.encoder.rnn.weight_hh_l0.dtype == torch.bfloat16
    expected, got = fp32.predict(sentences), bf16.predict(sentences)
    pairs = [(a, b) for s, t in zip(expected, got) for a, b in zip(s, t, strict=True)]
    assert sum(a == b for a, b in pairs) / len(pairs) >= 0.97
    text = "Peter lives in Berlin ."
    result = runner.invoke(app, ["predict", str(charlm_tagger), text, "-f", "conll", "--quantize", "bf16"])
    assert result.exit_code == 0, result.output
    assert [line.split()[-1] for line in result.stdout.split("\n") if line.strip()] == bf16.predict([text.split()])[0]
