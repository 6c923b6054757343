"""Named dataset sources (tagger.sources): local lookup order, the hub path via `datasets`, errors."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tagger import sources
from tagger.errors import TaggerError
from tagger.sources import SOURCES, cache_dir, find_conll2003, load_conll2003, load_source

TRAIN = "-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-NP I-MISC\nlamb NN I-NP O\n"
VALID = "Peter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n"
TEST = "BRUSSELS NNP I-NP I-LOC\n1996-08-22 CD I-NP O\n\nIn IN I-PP O\nParis NNP I-NP I-LOC\n"
TEXTS = {"train": TRAIN, "valid": VALID, "test": TEST}
EXPECTED_FIRST_NER = {"train": ["B-ORG", "O", "B-MISC", "O"], "valid": ["B-PER", "I-PER"], "test": ["B-LOC", "O"]}

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


# `isolated` and `hf_offline` come from conftest.py.
pytestmark = pytest.mark.usefixtures("isolated")


def make_dir(folder: Path, names: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, name in names.items():
        (folder / name).write_text(TEXTS[split], encoding="utf-8")
    return folder


def check_corpus(corpus, splits=("train", "valid", "test")):
    assert list(corpus) == list(splits)
    for split in splits:
        assert corpus[split][0].tags["ner"] == EXPECTED_FIRST_NER[split]
        assert set(corpus[split][0].tags) == {"pos", "chunk", "ner"}


def no_hub(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the hub must not be tried")

    monkeypatch.setattr(sources, "load_from_hub", fail)


@pytest.mark.parametrize(
    "names",
    [
        {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"},
        {"train": "eng.train", "valid": "eng.testa", "test": "eng.testb"},
        {"train": "train.txt", "valid": "dev.txt", "test": "test.txt"},
    ],
)
def test_data_dir_naming_conventions(tmp_path, monkeypatch, names):
    folder = make_dir(tmp_path / "d", names)
    no_hub(monkeypatch)
    assert find_conll2003(folder) == {split: folder / name for split, name in names.items()}
    check_corpus(load_conll2003(folder))
    check_corpus(load_conll2003(str(folder), splits=("test", "train")), splits=("test", "train"))


def test_data_dir_conll2003_subfolder(tmp_path, monkeypatch):
    make_dir(tmp_path / "d" / "conll2003", {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"})
    no_hub(monkeypatch)
    check_corpus(load_source("conll2003", tmp_path / "d"))


def test_only_requested_splits_matter(tmp_path, monkeypatch):
    folder = make_dir(tmp_path / "d", {"train": "train.txt", "valid": "valid.txt"})
    no_hub(monkeypatch)
    check_corpus(load_conll2003(folder, splits=("train", "valid")), splits=("train", "valid"))
    # an explicit folder is final: a missing requested split is an error, no download
    with pytest.raises(TaggerError) as info:
        load_conll2003(folder)
    message = str(info.value)
    assert str(folder) in message and "test.txt" in message and "eng.testb" in message
    assert "\n" not in message


def test_unknown_split(tmp_path):
    with pytest.raises(TaggerError, match="unknown split 'dev'"):
        load_conll2003(tmp_path, splits=("dev",))


def test_tagger_data_dir(tmp_path, monkeypatch):
    make_dir(tmp_path / "env" / "conll2003", {"train": "eng.train", "valid": "eng.testa", "test": "eng.testb"})
    # the cache holds something else: TAGGER_DATA_DIR comes first
    make_dir(tmp_path / "cache" / "conll2003", {"train": "test.txt", "valid": "train.txt", "test": "valid.txt"})
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "env"))
    no_hub(monkeypatch)
    check_corpus(load_conll2003())
    assert find_conll2003()["train"] == tmp_path / "env" / "conll2003" / "eng.train"


def test_cache_dir_lookup(tmp_path, monkeypatch):
    make_dir(tmp_path / "cache" / "conll2003", {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"})
    # TAGGER_DATA_DIR without the data falls through to the cache
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "empty"))
    no_hub(monkeypatch)
    check_corpus(load_source("conll2003", None))


def test_cache_dir_environment(tmp_path, monkeypatch):
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("TAGGER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "tagger"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "tagger"


def make_hub_repo(root: Path, datasets) -> Path:
    """A dataset laid out like the hub's parquet copies: data/{split}-00000-of-00001.parquet, ClassLabel ids."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    ner = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    pos = ['"', "NNP", "VBZ", "JJ", "NN", ".", "CD", "IN"]
    chunk = ["O", "B-ADJP", "I-ADJP", "B-NP", "I-NP", "B-PP", "I-PP", "B-VP", "I-VP"]
    features = Features(
        {
            "id": Value("string"),
            "tokens": Sequence(Value("string")),
            "pos_tags": Sequence(ClassLabel(names=pos)),
            "chunk_tags": Sequence(ClassLabel(names=chunk)),
            "ner_tags": Sequence(ClassLabel(names=ner)),
        }
    )
    rows = {
        "train": [
            (["EU", "rejects", "German", "lamb"], ["NNP", "VBZ", "JJ", "NN"],
             ["B-NP", "B-VP", "B-NP", "I-NP"], ["B-ORG", "O", "B-MISC", "O"]),
            (["Kessler", "Bank", "Vantara", "talks"], ["NNP", "NNP", "NNP", "NN"],
             ["B-NP", "I-NP", "I-NP", "I-NP"], ["B-ORG", "I-ORG", "B-ORG", "O"]),
        ],
        "validation": [(["Peter", "Blackburn"], ["NNP", "NNP"], ["B-NP", "I-NP"], ["B-PER", "I-PER"])],
        "test": [(["BRUSSELS", "1996-08-22"], ["NNP", "CD"], ["B-NP", "I-NP"], ["B-LOC", "O"])],
    }
    (root / "data").mkdir(parents=True)
    for split, sents in rows.items():
        table = {
            "id": [str(i) for i in range(len(sents))],
            "tokens": [s[0] for s in sents],
            "pos_tags": [[pos.index(t) for t in s[1]] for s in sents],
            "chunk_tags": [[chunk.index(t) for t in s[2]] for s in sents],
            "ner_tags": [[ner.index(t) for t in s[3]] for s in sents],
        }
        Dataset.from_dict(table, features=features).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def test_hub_path_through_datasets(tmp_path, monkeypatch, hf_offline):
    repo = make_hub_repo(tmp_path / "repo", hf_offline)
    # the first candidate fails, the second is used
    monkeypatch.setattr(sources, "HUB_CANDIDATES", ((str(tmp_path / "missing"), {}), (str(repo), {})))
    corpus = load_conll2003()
    check_corpus(corpus)
    assert corpus["train"][1].tags["ner"] == ["B-ORG", "I-ORG", "B-ORG", "O"]
    assert corpus["train"][0].tags["pos"] == ["NNP", "VBZ", "JJ", "NN"]
    assert corpus["train"][0].tags["chunk"] == ["B-NP", "B-VP", "B-NP", "I-NP"]

    # the download was cached as CoNLL-2003 text; the next run is local and identical
    cached = tmp_path / "cache" / "conll2003"
    assert sorted(p.name for p in cached.iterdir()) == ["test.txt", "train.txt", "valid.txt"]
    no_hub(monkeypatch)
    assert load_conll2003() == corpus


def test_sentences_from_hf_reads_names_from_features(tmp_path, hf_offline):
    repo = make_hub_repo(tmp_path / "repo", hf_offline)
    dataset = hf_offline.load_dataset(str(repo))
    sents = sources.sentences_from_hf(dataset["validation"])
    assert sents[0].words == ["Peter", "Blackburn"]
    assert sents[0].tags == {"pos": ["NNP", "NNP"], "chunk": ["B-NP", "I-NP"], "ner": ["B-PER", "I-PER"]}


def test_nothing_found_lists_every_place(tmp_path, monkeypatch, hf_offline):
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "env"))
    missing = str(tmp_path / "no-such-repo")
    monkeypatch.setattr(sources, "HUB_CANDIDATES", ((missing, {}),))
    with pytest.raises(TaggerError) as info:
        load_conll2003()
    message = str(info.value)
    assert "\n" not in message
    for place in (str(tmp_path / "env" / "conll2003"), str(tmp_path / "cache" / "conll2003"), missing):
        assert place in message
    assert "--data-dir" in message and "TAGGER_DATA_DIR" in message and "train.txt" in message
    with pytest.raises(TaggerError, match="not found"):
        find_conll2003()


def test_real_hub_ids_fail_fast_offline(hf_offline):
    start = time.perf_counter()
    with pytest.raises(TaggerError) as info:
        load_conll2003()
    assert time.perf_counter() - start < 30
    message = str(info.value)
    assert "eriktks/conll2003" in message and "lhoestq/conll2003" in message and "offline" in message


def test_unreachable_hub_fails_fast(monkeypatch, hf_offline):
    # online mode, but the endpoint refuses connections: one short probe, no retries
    monkeypatch.setattr(hf_offline.config, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_DATASETS_OFFLINE")
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(TaggerError, match=r"cannot reach 127\.0\.0\.1:9"):
        load_conll2003()
    assert time.perf_counter() - start < 10


def test_registry(monkeypatch):
    assert {"conll2003", "demo"} <= set(SOURCES)
    demo = load_source("demo")
    assert [len(demo[s]) for s in ("train", "valid", "test")] == [150, 40, 40]
    assert list(load_source("demo", splits=("valid",))) == ["valid"]
    with pytest.raises(TaggerError, match="unknown dataset 'nope'.*conll2003"):
        load_source("nope")

    monkeypatch.setattr(sources, "SOURCES", dict(SOURCES))

    @sources.register_source("tiny-test")
    def tiny(data_dir, splits):
        return {s: [] for s in splits}

    assert load_source("tiny-test", splits=("train",)) == {"train": []}
