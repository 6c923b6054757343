"""The one chunked predictor (tagger.chunked) that predict_stream, tagger predict (here
and in --workers), map_predict/Spark/Ray and export directories tag through: chunk by
chunk, lazily, in input order, empty items kept in step, the same labels as one call."""
from __future__ import annotations

import torch

from tagger import chunked as chunked_module
from tagger.batching import build_vocabs
from tagger.chunked import Chunk, chunked, format_chunk, predict_chunk, predict_chunks
from tagger.config import HeadConfig, load_recipe
from tagger.data import Sentence
from tagger.hf import predict_columns
from tagger.model import SequenceTagger
from tagger.parallel import tag_chunks
from tagger.predict import Tagger

ITEMS = ["EU rejects German call", "", ["Good", "news", "."], "to boycott British lamb .", [], "Peter lives in Berlin"]


def tiny_tagger(with_sentence_task: bool = False) -> Tagger:
    """An untrained tagger (random weights): what matters is that every route agrees."""
    recipe = load_recipe("demo", ["embed.word_dim=8", "embed.char_dim=4", "embed.char_hidden=4", "encoder.hidden=8"])
    if with_sentence_task:
        recipe.heads.append(HeadConfig(task="mood", kind="classify", pooling="mean"))
    train = [Sentence(["EU", "rejects", "it"], tags={"ner": ["B-ORG", "O", "O"]}, cats={"mood": ["sad"]}),
             Sentence(["Good", "news", "Berlin"], tags={"ner": ["O", "O", "B-LOC"]}, cats={"mood": ["glad"]})]
    torch.manual_seed(0)
    return Tagger(SequenceTagger(recipe, build_vocabs(train, recipe.heads, recipe.embed)).eval())


def test_chunks_are_read_lazily_in_order():
    pulled = []

    def source():
        for i in range(7):
            pulled.append(i)
            yield i

    stream = chunked(source(), 3)
    assert next(stream) == [0, 1, 2] and pulled == [0, 1, 2]
    assert list(stream) == [[3, 4, 5], [6]]
    assert list(chunked([], 3)) == []


def test_every_route_gives_the_labels_of_one_call():
    tagger = tiny_tagger()
    whole = tagger.predict_all(ITEMS)
    assert whole[1] == {"ner": []} and whole[4] == {"ner": []}  # empty items keep their place
    tagged = list(predict_chunks(tagger, chunked(ITEMS, 2)))
    assert [len(c.labels) for c in tagged] == [2, 2, 2]
    assert [labels for c in tagged for labels in c.labels] == whole
    assert [w for c in tagged for w in c.words] == [tagger.words(item) for item in ITEMS]
    assert all(p is None for c in tagged for p in c.proba)  # no sentence task: no probabilities
    assert list(tagger.predict_stream(iter(ITEMS), chunk=4)) == whole
    columns = predict_columns([i for i in ITEMS if isinstance(i, str)], tagger, text=True)
    assert columns["ner"] == [labels["ner"] for item, labels in zip(ITEMS, whole) if isinstance(item, str)]
    text = "".join(tag_chunks("unused", chunked(ITEMS, 4), "jsonl", workers=1, tagger=tagger))
    assert text == format_chunk(predict_chunk(tagger, ITEMS), "jsonl", {"ner"})
    assert text.count("\n") == len(ITEMS)


def test_sentence_tasks_get_probabilities_from_the_same_pass():
    tagger = tiny_tagger(with_sentence_task=True)
    chunk = predict_chunk(tagger, ITEMS)
    labels, proba = tagger.predict_with_proba([tagger.words(i) for i in ITEMS])
    assert chunk == Chunk([tagger.words(i) for i in ITEMS], labels, proba)
    assert set(chunk.proba[0]["mood"]) == {"glad", "sad"} and abs(sum(chunk.proba[0]["mood"].values()) - 1) < 1e-6
    assert predict_chunk(tagger, ITEMS, proba=False).proba == [None] * len(ITEMS)
    # the hf columns: no probabilities (None) for a row without words
    columns = predict_columns(["Good news", ""], tagger, text=True)
    alone = predict_chunk(tagger, ["Good news"])
    assert columns["mood_proba"][0] == alone.proba[0]["mood"] and columns["mood_proba"][1] is None
    assert columns["mood"] == [alone.labels[0]["mood"], []] and columns["tokens"] == [["Good", "news"], []]


def test_freed_memory_goes_back_every_few_chunks(monkeypatch):
    trims = []
    monkeypatch.setattr("tagger.outputs.release_freed_memory", lambda: trims.append(1))
    tagger = tiny_tagger()
    n = 2 * chunked_module.TRIM_EVERY + 1
    assert len(list(predict_chunks(tagger, chunked(["EU"] * n, 1)))) == n
    assert len(trims) == 2
