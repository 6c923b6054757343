"""Tagging with data engines: ``tagger.map_predict`` on Hugging Face datasets (in memory
and saved to disk as Arrow, one process and several), ``predict_batch`` on the batch
formats Ray Data hands over (pandas, dicts of numpy arrays), and ``predict_partition``
on an iterator of frames as Spark passes them. Real Ray and Spark runs are in
``tests/test_engines.py``.
"""
from __future__ import annotations

import io
import os
import shutil

import datasets
import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import tagger
from tagger.config import load_recipe
from tagger.errors import TaggerError
from tagger.io.conll import read_conll2003
from tagger.sources import demo_dir
from tagger.train import train

TINY = ["encoder.hidden=16", "embed.word_dim=8", "embed.char_dim=8", "embed.char_hidden=8", "train.threads=1"]


@pytest.fixture(scope="module")
def ner_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("map_ner")
    train(load_recipe("demo", TINY + ["embed.casing_dim=4", "train.max_epochs=4"]), out, Console(file=io.StringIO()))
    return out / "best"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("map_cls")
    train(load_recipe("sentiment-demo", TINY + ["train.max_epochs=2"]), out, Console(file=io.StringIO()))
    return out / "best"


@pytest.fixture(scope="module")
def sentences():
    words = [s.words for s in read_conll2003(demo_dir() / "valid.txt")]
    return words[:30] + [[]] + words[30:]  # a row without words


def test_map_predict_adds_the_labels_of_every_row(ner_model, sentences):
    ds = datasets.Dataset.from_dict({"id": list(range(len(sentences))), "tokens": sentences})
    out = tagger.map_predict(ds, ner_model, batch_size=16)
    assert out.column_names == ["id", "tokens", "ner"]
    model = tagger.load(ner_model)
    expected = [labels["ner"] for labels in model.predict_all([s for s in sentences if s])]
    got = out["ner"]
    assert got[30] == []
    assert [g for i, g in enumerate(got) if i != 30] == expected
    assert any(tag != "O" for row in got for tag in row)  # the model does tag something
    assert out["id"] == list(range(len(sentences)))  # rows keep their order and other columns


def test_arrow_dataset_on_disk_with_several_processes(ner_model, sentences, tmp_path):
    """A DatasetDict saved in Arrow format, loaded back and tagged by 2 processes: the
    same as one process; raw text gets the model's tokens alongside the labels."""
    texts = [" ".join(s) for s in sentences]
    ds = datasets.DatasetDict({
        "a": datasets.Dataset.from_dict({"text": texts}),
        "b": datasets.Dataset.from_dict({"text": texts[::-1]}),
    })
    ds.save_to_disk(str(tmp_path / "arrow"))
    loaded = datasets.load_from_disk(str(tmp_path / "arrow"))
    one = tagger.map_predict(loaded, ner_model, batch_size=8)
    two = tagger.map_predict(loaded, ner_model, batch_size=8, num_proc=2)
    for split in ("a", "b"):
        assert two[split].column_names == ["text", "tokens", "ner"]
        assert two[split]["ner"] == one[split]["ner"] and two[split]["tokens"] == one[split]["tokens"]
    model = tagger.load(ner_model)
    assert one["a"]["tokens"][0] == model.words(texts[0])
    assert one["a"]["ner"][0] == model.predict([texts[0]])[0]


def test_a_retrained_model_is_not_served_from_the_map_cache(ner_model, sentences, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(ner_model, model_dir)
    datasets.Dataset.from_dict({"tokens": sentences}).save_to_disk(str(tmp_path / "arrow"))
    ds = datasets.load_from_disk(str(tmp_path / "arrow"))  # on disk: map results are cached
    first = tagger.map_predict(ds, model_dir)
    again = tagger.map_predict(ds, model_dir)
    assert again._fingerprint == first._fingerprint  # unchanged model: the cache may serve it
    weights = model_dir / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert tagger.map_predict(ds, model_dir)._fingerprint != first._fingerprint


def test_classifier_columns_labels_and_probabilities(classifier):
    ds = datasets.Dataset.from_dict({"text": ["a gripping , funny film", "dull and far too long", ""]})
    out = tagger.map_predict(ds, classifier, prefix="pred_")
    assert out.column_names == ["text", "pred_tokens", "pred_sentiment", "pred_sentiment_proba"]
    model = tagger.load(classifier)
    proba = model.predict_proba(["a gripping , funny film"])[0]
    assert out["pred_sentiment"][0] == model.predict(["a gripping , funny film"])[0]
    assert out["pred_sentiment_proba"][0] == pytest.approx(proba)
    assert out["pred_sentiment"][2] == [] and out["pred_sentiment_proba"][2] is None


def test_ray_batch_formats_pandas_and_numpy(ner_model, sentences):
    """What Ray Data's ``map_batches`` passes: a DataFrame (batch_format="pandas") or a
    dict of numpy arrays whose token lists are arrays of str (batch_format="numpy")."""
    rows = sentences[:10]
    model = tagger.load(ner_model)
    expected = [labels["ner"] for labels in model.predict_all(rows)]
    frame = pd.DataFrame({"id": range(10), "tokens": rows})
    out = tagger.predict_batch(frame, ner_model)
    assert list(out.columns) == ["id", "tokens", "ner"] and list(out["ner"]) == expected
    assert list(frame.columns) == ["id", "tokens"]  # the input frame is left alone
    column = np.empty(10, dtype=object)
    column[:] = [np.array(r, dtype=object) for r in rows]
    out = tagger.predict_batch({"id": np.arange(10), "tokens": column}, model=ner_model)
    assert out["ner"] == expected and set(out) == {"id", "tokens", "ner"}


def test_partition_function_on_an_iterator_of_frames(ner_model, sentences):
    frames = [pd.DataFrame({"tokens": sentences[i : i + 7]}) for i in range(0, 21, 7)]
    out = list(tagger.predict_partition(iter(frames), ner_model))
    model = tagger.load(ner_model)
    assert [list(f["ner"]) for f in out] == [[lab["ner"] for lab in model.predict_all(list(f["tokens"]))] for f in frames]


def test_clear_errors(ner_model):
    ds = datasets.Dataset.from_dict({"words": [["a"]]})
    with pytest.raises(TaggerError, match="no 'tokens' or 'text' column .*words"):
        tagger.map_predict(ds, ner_model)
    with pytest.raises(TaggerError, match="already has a column 'ner'"):
        tagger.map_predict(datasets.Dataset.from_dict({"tokens": [["a"]], "ner": [["O"]]}), ner_model)
    with pytest.raises(TaggerError, match="text_column"):
        tagger.predict_batch({"tokens": ["a sentence as a string"]}, ner_model)
    with pytest.raises(TaggerError, match="model directory does not exist"):
        tagger.map_predict(ds, "/nonexistent/model", tokens_column="words")
