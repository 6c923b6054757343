"""Real engines, not stand-ins: Ray Data's ``map_batches`` on a local Ray instance and
Spark's ``mapInPandas`` in local mode run ``tagger.predict_batch`` and
``tagger.predict_partition`` in their own worker processes, and give what
``tagger.load(model).predict`` gives on the same sentences.

Each engine starts once for the test session (a session fixture) and stops at the
end; both are skipped, with the reason, where they are not installed
(``pip install -e ".[engines]"``; Spark also needs Java: Debian's
``default-jre-headless``, which ``.ci/run`` installs).
"""
from __future__ import annotations

import functools
import io
import os
import shutil
import warnings

import pytest

import tagger
from tagger.io.conll import read_conll2003
from tagger.sources import demo_dir

TINY = ["encoder.hidden=16", "embed.word_dim=8", "embed.char_dim=8", "embed.char_hidden=8", "embed.casing_dim=4",
        "train.threads=1", "train.max_epochs=2"]


@pytest.fixture(scope="module")
def ner_model(tmp_path_factory):
    from rich.console import Console

    from tagger.config import load_recipe
    from tagger.train import train

    out = tmp_path_factory.mktemp("engines_ner")
    train(load_recipe("demo", TINY), out, Console(file=io.StringIO()))
    return str(out / "best")


@pytest.fixture(scope="module")
def sentences():
    words = [s.words for s in read_conll2003(demo_dir() / "valid.txt")][:48]
    return words[:20] + [[]] + words[20:]  # a row without words gets empty labels


def expected_labels(model: str, sentences: list[list[str]]) -> list[list[str]]:
    predicted = iter(tagger.load(model).predict([s for s in sentences if s]))
    return [next(predicted) if s else [] for s in sentences]


@pytest.fixture(scope="session")
def ray_local():
    ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[engines]")')
    pytest.importorskip("ray.data")
    # One CPU: one worker process (Ray gives its workers OMP_NUM_THREADS=1 by itself).
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 2**20)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def spark_local():
    pytest.importorskip("pyspark", reason='pyspark is not installed (pip install -e ".[engines]")')
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (Debian: apt-get install default-jre-headless)")
    from pyspark.sql import SparkSession

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark about pandas versions
        spark = (SparkSession.builder.master("local[1]").appName("tagger-engines")
                 .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
                 .config("spark.executorEnv.OMP_NUM_THREADS", "1")
                 # A JVM that lives for seconds: the quick C1 compiler and the serial GC start it
                 # about twice as fast as the default tiered JIT and G1 on a busy 2-core machine.
                 .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
                 .getOrCreate())
    yield spark
    spark.stop()


def test_ray_map_batches_pandas_and_numpy(ray_local, ner_model, sentences):
    """One pipeline, run by Ray worker processes: tokens through pandas batches, then the
    same sentences as raw text through numpy batches (columns prefixed ``text_``)."""
    texts = [" ".join(s) for s in sentences]
    items = [{"id": i, "tokens": s, "text": t} for i, (s, t) in enumerate(zip(sentences, texts))]
    tagged = (
        ray_local.data.from_items(items, override_num_blocks=2)
        .map_batches(tagger.predict_batch, fn_kwargs={"model": ner_model}, batch_format="pandas", batch_size=16)
        .map_batches(tagger.predict_batch, fn_kwargs={"model": ner_model, "text_column": "text", "prefix": "text_"},
                     batch_format="numpy", batch_size=32)
    )
    rows = sorted(tagged.take_all(), key=lambda row: row["id"])
    assert [list(row["tokens"]) for row in rows] == sentences
    assert [list(row["ner"]) for row in rows] == expected_labels(ner_model, sentences)
    words = [tagger.load(ner_model).words(t) for t in texts]
    assert [list(row["text_tokens"]) for row in rows] == words
    assert [list(row["text_ner"]) for row in rows] == expected_labels(ner_model, words)


def test_spark_map_in_pandas(spark_local, ner_model, sentences):
    df = spark_local.createDataFrame(list(enumerate(sentences)), "id long, tokens array<string>")
    tag = functools.partial(tagger.predict_partition, model=ner_model)
    tagged = df.mapInPandas(tag, schema="id long, tokens array<string>, ner array<string>")
    got = {row["id"]: list(row["ner"]) for row in tagged.collect()}
    assert [got[i] for i in range(len(sentences))] == expected_labels(ner_model, sentences)
