"""Named dataset sources: where a corpus comes from when the user names it instead of a file.

``load_source("conll2003")`` looks, in order, in

1. ``data_dir`` when one is given (``--data-dir``): that folder or its
   ``conll2003/`` subfolder. An explicit folder is final: if the data is not
   there, that is an error, with no download behind the user's back;
2. ``$TAGGER_DATA_DIR/conll2003``;
3. the cache folder ``cache_dir()/conll2003`` (``$TAGGER_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/tagger``, else ``~/.cache/tagger``);
4. the Hugging Face hub through ``datasets`` (parquet copies, see
   ``HUB_CANDIDATES``); a download is then written to the cache folder so the
   next run is local.

When nothing works, one :class:`TaggerError` lists every place looked at and
how to provide the files.

One module per dataset (``conll2003``, ``demo``, ``ud_ewt``, ``sst2``, ``imdb``,
``sentiment_demo``), each over the steps in :mod:`tagger.sources.hub`. A dataset
registers a loader in ``SOURCES`` (the ``sources`` registry)::

    @register_source("my-data")
    def load(data_dir, splits, tokenizer=None, max_tokens=None) -> {split: [Sentence]}

``data_dir`` is a path or None (the default places), ``splits`` some of ``train``,
``valid``, ``test``. A source of raw text tokenizes it with ``tokenizer`` (None: the
dataset's usual one) and keeps a text's first ``max_tokens`` words; a source of
tokenized words ignores both. Every public name of the dataset modules is here too.
"""
from __future__ import annotations

import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import registry
from ..data import Sentence
from . import conll2003, demo, hub, imdb, sentiment_demo, sst2, text, ud_ewt
from .conll2003 import (
    CONLL2003_FILES,
    HF_TAG_COLUMNS,
    HUB_CANDIDATES,
    SPAN_TASKS,
    find_conll2003,
    load_conll2003,
    sentences_from_hf,
)
from .demo import demo_dir, load_demo
from .hub import (
    HF_SPLITS,
    HUB_CONNECT_TIMEOUT_S,
    SPLITS,
    Located,
    cache_dir,
    check_splits,
    describe_missing,
    files_in,
    from_hub,
    how_to_provide,
    label_names,
    load_from_hub,
    locate,
    require_splits,
    search_local,
    write_cache,
)
from .imdb import IMDB_DEV_FRACTION, IMDB_DEV_SEED, IMDB_FILES, IMDB_HUB_CANDIDATES, clean_imdb, hold_out, load_imdb
from .sentiment_demo import load_sentiment_demo, sentiment_demo_dir
from .sst2 import SST2_FILES, SST2_HUB_CANDIDATES, load_sst2
from .text import SENTIMENT_LABELS, SENTIMENT_TASK
from .ud_ewt import UD_EWT_FILES, UD_EWT_HUB_CANDIDATES, UD_TAG_FIELDS, load_ud_ewt, sentences_from_hf_ud

__all__ = [
    "CONLL2003_FILES", "HF_TAG_COLUMNS", "HUB_CANDIDATES", "SPAN_TASKS", "find_conll2003", "load_conll2003",
    "sentences_from_hf", "demo_dir", "load_demo", "HF_SPLITS", "HUB_CONNECT_TIMEOUT_S", "SPLITS", "Located",
    "cache_dir", "check_splits", "describe_missing", "files_in", "from_hub", "how_to_provide", "label_names",
    "load_from_hub", "locate", "require_splits", "search_local", "write_cache", "IMDB_DEV_FRACTION", "IMDB_DEV_SEED",
    "IMDB_FILES", "IMDB_HUB_CANDIDATES", "clean_imdb", "hold_out", "load_imdb", "load_sentiment_demo",
    "sentiment_demo_dir", "SST2_FILES", "SST2_HUB_CANDIDATES", "load_sst2", "SENTIMENT_LABELS", "SENTIMENT_TASK",
    "UD_EWT_FILES", "UD_EWT_HUB_CANDIDATES", "UD_TAG_FIELDS", "load_ud_ewt", "sentences_from_hf_ud", "SOURCES",
    "Loader", "register_source", "load_source",
]

Loader = Callable[..., dict[str, list[Sentence]]]
SOURCES = registry.sources

def register_source(name: str) -> Callable[[Loader], Loader]:
    """Decorator registering ``fn(data_dir, splits, tokenizer=None, max_tokens=None) -> {split: sentences}``
    under ``name`` (see the module's docstring)."""

    def register(fn: Loader) -> Loader:
        SOURCES[name] = fn
        return fn

    return register


def load_source(
    name: str, data_dir: str | Path | None = None, splits: Sequence[str] = SPLITS, **options: Any
) -> dict[str, list[Sentence]]:
    """Load the named dataset's ``splits``; ``options`` are ``tokenizer`` and ``max_tokens``.
    An unknown name is a :class:`TaggerError` listing the datasets."""
    return SOURCES[name](Path(data_dir).expanduser() if data_dir is not None else None, tuple(splits), **options)


_MODULES = (hub, conll2003, demo, ud_ewt, text, sst2, imdb, sentiment_demo)


class _Package(types.ModuleType):
    """Setting a name of this package (``monkeypatch.setattr(tagger.sources, "SST2_HUB_CANDIDATES", ...)``,
    ``tagger.sources.load_from_hub = ...``) sets it in each dataset module bound to the same
    object too, so the loaders see it as they did when all of them lived in one module."""

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("__") and name in self.__dict__:
            old = self.__dict__[name]
            for module in _MODULES:
                if name in module.__dict__ and module.__dict__[name] is old:
                    setattr(module, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
