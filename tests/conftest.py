"""Shared test setup: the test models are tiny, so PyTorch runs on one thread (more
threads only add overhead, and oversubscribe a busy machine)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No real user folders, no network: an offline hub and an empty private cache."""
    monkeypatch.delenv("TAGGER_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setenv("TAGGER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def hf_offline(tmp_path, monkeypatch, isolated):
    """`datasets` in offline mode with its caches under tmp_path (it reads the
    environment at import time, so its settings are patched too)."""
    datasets = pytest.importorskip("datasets")
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")
    datasets.disable_progress_bars()
    return datasets


@pytest.fixture(scope="session")
def charlms(tmp_path_factory) -> tuple[Path, Path]:
    """A forward and a backward char LM (their best/ directories), one quick epoch on the
    demo training text; trained once per test run and never changed by a test."""
    from tagger.io.conll import read_conll2003
    from tagger.lm.config import LMRecipe
    from tagger.lm.text import corpus_text
    from tagger.lm.train import train_lm
    from tagger.sources import demo_dir

    root = tmp_path_factory.mktemp("charlm")
    text = corpus_text(read_conll2003(demo_dir() / "train.txt"))
    paths = []
    for name, reverse in (("fwd", False), ("bwd", True)):
        recipe = LMRecipe.from_fields(hidden=24, embed_dim=8, batch_size=4, bptt=20, max_epochs=1, threads=1,
                                      reverse=reverse)
        paths.append(train_lm(recipe, root / name, train_text=text).best_dir)
    return paths[0], paths[1]
