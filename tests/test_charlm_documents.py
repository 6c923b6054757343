"""One char-LM pass per distinct LM string (issue #15): with ``embed.charlm_context = -1``
every sentence of a document gives the LMs the whole document, and the LMs read it once
for all of them; the features and predictions are those of one pass per sentence."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

import tagger
import tagger.batching as batching
from tagger.batching import build_vocabs, collate, encode_all, eval_batches
from tagger.config import load_recipe
from tagger.data import DocWords
from tagger.io.conll import read_conll2003
from tagger.lm.config import LMModelConfig
from tagger.lm.model import LanguageModel
from tagger.model import SequenceTagger
from tagger.nn.charlm import DIRECTIONS, CharLMEmbedding
from tagger.sources import demo_dir
from tagger.train import cache_charlm_features
from tagger.vocab import PAD, UNK, Vocab

VALID = read_conll2003(demo_dir() / "valid.txt")  # 6 documents


def tiny_model(charlm_context: int = -1, context_tokens: int = 0) -> SequenceTagger:
    """A tagger with tiny, randomly initialised char LMs (what they learned does not matter)."""
    recipe = load_recipe("demo", ["embed.word_dim=8", "embed.char_dim=4", "embed.char_hidden=4", "encoder.hidden=8",
                                  "embed.dropout=0.0", "encoder.dropout=0.0", f"data.context_tokens={context_tokens}",
                                  f"embed.charlm_context={charlm_context}"])
    train_set = read_conll2003(demo_dir() / "train.txt")
    vocabs = build_vocabs(train_set, recipe.heads, recipe.embed)
    chars = Vocab([PAD, UNK, "\n", " ", *sorted({c for s in train_set for w in s.words for c in w})])
    vocabs.charlm = {d: LanguageModel(LMModelConfig(hidden=12, embed_dim=6, reverse=d == "bwd"), chars).describe()
                     for d in DIRECTIONS}
    torch.manual_seed(0)
    return SequenceTagger(recipe, vocabs).eval()


def encoded(model: SequenceTagger, docs: bool = True) -> list:
    recipe = model.recipe
    return encode_all(VALID if docs else [s.words for s in VALID], model.vocabs,
                      context_tokens=recipe.data.context_tokens, lm_tokens=recipe.embed.charlm_context)


def per_sentence(model: SequenceTagger, data: list) -> list[torch.Tensor]:
    """What every sentence got before: its LM string run through both LMs on its own."""
    with torch.inference_mode():
        return [model.charlm_features(collate([e], [0]))[0] for e in data]


def shared(model: SequenceTagger, data: list, batch_size: int = 256) -> list[torch.Tensor]:
    out: list = [None] * len(data)
    with torch.inference_mode():
        for batch in eval_batches(data, batch_size):
            feats = model.charlm_features(batch)
            for row, i in enumerate(batch.index):
                out[i] = feats[row, : len(data[i])]
    return out


def test_the_sentences_of_a_document_share_one_tensor_of_lm_characters():
    data = encoded(tiny_model(-1))
    ids = [e.lm["fwd"][0] for e in data]
    per_doc: dict = {}
    for sent, t in zip(VALID, ids):
        per_doc.setdefault(sent.doc, set()).add(t.data_ptr())
    assert len(per_doc) == 6 and all(len(ptrs) == 1 for ptrs in per_doc.values())
    assert len(set(batching.lm_string_numbers(data))) == 6
    # One more word on each side: the strings differ (but for identical neighbourhoods).
    near = encoded(tiny_model(1))
    assert len(set(batching.lm_string_numbers(near))) > 30


CASES = [(-1, 0, True), (-1, 3, True), (1, 0, True), (2, 1, True), (-1, 0, False), (0, 2, True), (0, 0, False)]


@pytest.mark.parametrize("charlm_context,context_tokens,docs", CASES)
def test_shared_passes_give_the_per_sentence_features(charlm_context, context_tokens, docs):
    model = tiny_model(charlm_context, context_tokens)
    data = encoded(model, docs)
    want = per_sentence(model, data)
    assert all(torch.allclose(g, w, atol=1e-6) for g, w in zip(shared(model, data), want))
    rows = sum(b.lm["fwd"][0].shape[0] for b in eval_batches(data, 256))
    assert rows == len(set(batching.lm_string_numbers(data))) and (rows == 6 or charlm_context != -1 or not docs)
    # Small batches cut a document in pieces; still the same features.
    assert all(torch.allclose(g, w, atol=1e-6) for g, w in zip(shared(model, data, batch_size=4), want))


def test_lm_character_limits_and_windows_give_the_same_features(monkeypatch):
    model = tiny_model(-1)
    data = encoded(model)
    want = per_sentence(model, data)
    monkeypatch.setattr(batching, "LM_CHARS", 400)  # about one document per batch
    monkeypatch.setattr(CharLMEmbedding, "WINDOW", 7)  # each LM string read in windows of 7 characters
    batches = list(eval_batches(data, 256))
    assert 1 < len(batches) and all(b.lm["fwd"][0].numel() <= 400 or b.lm["fwd"][0].shape[0] == 1 for b in batches)
    assert all(torch.allclose(g, w, atol=1e-5) for g, w in zip(shared(model, data), want))


def count_lm_reads(model: SequenceTagger, monkeypatch) -> dict[str, Counter]:
    """Per direction: how often each string (its unpadded char ids) is run through the LM."""
    reads: dict[str, Counter] = {d: Counter() for d in DIRECTIONS}
    for direction, lm in model.embedder.charlm.lms.items():
        def run(ids, state=None, _run=lm.run, _direction=direction):
            for row in ids.tolist():
                reads[_direction][tuple(c for c in row if c)] += 1  # 0 is padding
            return _run(ids, state)
        monkeypatch.setattr(lm, "run", run)
    return reads


@pytest.mark.parametrize("charlm_context", [-1, 2])
def test_each_distinct_lm_string_runs_through_each_lm_once(charlm_context, monkeypatch):
    model = tiny_model(charlm_context)
    data = encoded(model)
    reads = count_lm_reads(model, monkeypatch)
    shared(model, data)
    for d in DIRECTIONS:
        strings = {tuple(e.lm[d][0].tolist()) for e in data}
        assert reads[d] == Counter(strings)  # every string once, nothing else
    if charlm_context == -1:
        assert sum(reads["fwd"].values()) == 6 < len(data)  # one pass per document, not per sentence


def test_training_computes_each_documents_features_once(monkeypatch):
    model = tiny_model(-1)
    data = encoded(model)
    want = per_sentence(model, data)
    reads = count_lm_reads(model, monkeypatch)
    cache_charlm_features(model, data, 256, torch.device("cpu"))
    assert sum(reads["fwd"].values()) == sum(reads["bwd"].values()) == 6
    assert all(torch.allclose(e.lm_feats.float(), w, atol=2e-3) for e, w in zip(data, want))  # stored in float16


def test_predictions_on_documents_are_those_of_one_pass_per_sentence(tmp_path):
    model = tiny_model(-1, context_tokens=2)
    model.save(tmp_path / "model")
    loaded = tagger.load(tmp_path / "model")
    got = loaded.predict([DocWords(s.words, s.doc) for s in VALID])
    data = encoded(loaded.model)
    itos = loaded.model.vocabs.labels["ner"].itos
    with torch.inference_mode():
        alone = [loaded.model.decode(collate([e], [0]))["ner"][0, : e.own].tolist() for e in data]
    assert got == [[itos[i] for i in row] for row in alone]


def test_eval_batches_order_sentences_by_lm_characters():
    """With char LMs each read its own sentence, a batch's LM steps are its longest LM
    string: batches go longest LM string first, so they pad the LMs little."""
    data = encoded(tiny_model(0))
    chars = [e.lm["fwd"][0].shape[0] for e in data]
    batches = list(eval_batches(data, batch_size=8))
    assert sorted(i for b in batches for i in b.index) == list(range(len(data)))
    order = [chars[i] for b in batches for i in b.index]
    assert order == sorted(chars, reverse=True)
    assert [b.lm["fwd"][0].shape[1] for b in batches] == [max(chars[i] for i in b.index) for b in batches]
