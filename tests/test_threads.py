"""One loaded model, called from 8 threads at once, gives exactly the single-threaded results.

A spaCy component in a web server shares one model between request threads.
Each thread makes many calls on different subsets of sentences (different
batch compositions, lengths, strings and token lists); every call's result
must equal the same call made single-threaded beforehand.
"""
from __future__ import annotations

import io
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from rich.console import Console

import tagger
from tagger.config import load_recipe
from tagger.io.conll import read_conll2003
from tagger.sources import demo_dir
from tagger.train import train

THREADS = 8
CALLS_PER_THREAD = 25


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("threads_model")
    train(load_recipe("demo", ["encoder.hidden=32", "train.max_epochs=3", "train.threads=1"]), out,
          Console(file=io.StringIO()))
    return out / "best"


def make_calls(sentences: list[list[str]], n: int, seed: int) -> list[tuple[str, list]]:
    """``n`` calls: (method, sentences), a random subset each, some as raw strings."""
    rng = random.Random(seed)
    calls = []
    for _ in range(n):
        subset = rng.sample(sentences, rng.randint(1, 24))
        subset = [" ".join(s) if rng.random() < 0.3 else s for s in subset]
        calls.append((rng.choice(["predict_all", "predict", "predict_stream"]), subset))
    return calls


def run(model, call: tuple[str, list]):
    method, subset = call
    if method == "predict_stream":
        return list(model.predict_stream(iter(subset), chunk=5))
    return getattr(model, method)(subset)


def test_predictions_from_8_threads_equal_single_threaded(tiny_model):
    model = tagger.load(tiny_model)
    model.batch_size = 4  # several batches per call, so threads interleave inside calls
    sentences = [s.words for s in read_conll2003(demo_dir() / "valid.txt")]
    sentences += [s.words for s in read_conll2003(demo_dir() / "test.txt")]
    calls = make_calls(sentences, THREADS * CALLS_PER_THREAD, seed=0)

    expected = [run(model, call) for call in calls]  # single-threaded reference
    whole = model.predict_all(sentences)
    assert any(tag != "O" for labels in whole for tag in labels["ner"])  # the model tags something

    start = threading.Barrier(THREADS)

    def worker(k: int) -> list[tuple[int, object]]:
        mine = list(range(k, len(calls), THREADS))
        random.Random(k).shuffle(mine)
        start.wait()  # all threads begin together
        return [(i, run(model, calls[i])) for i in mine]

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for rs in pool.map(worker, range(THREADS)) for r in rs]
    assert len(results) == len(calls)
    mismatches = [i for i, got in results if got != expected[i]]
    assert not mismatches, f"{len(mismatches)} of {len(calls)} calls differ from the single-threaded result"

    # and the model is still in inference mode, its results unchanged
    assert not model.model.training
    assert model.predict_all(sentences) == whole
