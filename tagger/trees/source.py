"""The named source ``sst-trees``: the Stanford Sentiment Treebank's labelled binary trees.

Looked for, in order, as ``train.txt``/``dev.txt``/``test.txt`` (one bracketed tree
a line) in ``--data-dir`` (that folder or its ``sst/trees`` subfolder; an explicit
folder is final), in ``$TAGGER_DATA_DIR/sst/trees`` and in the cache
(``cache_dir()/sst/trees``); then on the Hugging Face hub through ``datasets``
(the ``ptb`` configuration of ``stanfordnlp/sst``, whose ``ptb_tree`` column holds
the same bracketed trees), and a download is written to the cache.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import TaggerError
from ..files import atomic_write_text
from ..sources import hub
from .tree import Tree, parse_tree, read_trees

log = logging.getLogger(__name__)

SOURCE_NAME = "sst-trees"
SUBFOLDER = "sst/trees"
FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.txt",),
    "valid": ("dev.txt", "valid.txt", "validation.txt"),
    "test": ("test.txt",),
}
# Current `datasets` runs no loading scripts: the hub's parquet conversion is what loads.
HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("stanfordnlp/sst", {"name": "ptb", "revision": "refs/convert/parquet"}),
    ("sst", {"name": "ptb", "revision": "refs/convert/parquet"}),
)
TREE_COLUMN = "ptb_tree"


def _how_to_provide(data_dir: Path | None) -> str:
    files = "train.txt and dev.txt (one bracketed tree a line: (3 (2 The) (4 film)))"
    where = data_dir if data_dir is not None else hub.cache_dir() / SUBFOLDER
    return (
        f"To provide the data, put {files} in {where}"
        + ("" if data_dir is not None else f", or pass --data-dir DIR, or set TAGGER_DATA_DIR=DIR with the files in DIR/{SUBFOLDER}")
        + "."
    )


def load_sst_trees(data_dir: str | Path | None = None, splits: Sequence[str] = ("train", "valid")) -> dict[str, list[Tree]]:
    """``{split: trees}`` for the requested splits (``train``, ``valid``, ``test``)."""
    splits = hub.check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    found, notes = hub.search_local(folder, splits, SUBFOLDER, FILES)
    if found is not None:
        return {split: read_trees(path) for split, path in found.items()}
    how = _how_to_provide
    source, dataset = hub.from_hub(f"SST trees {'/'.join(splits)} not found.", notes, folder, how, HUB_CANDIDATES)
    texts = {split: _tree_texts(dataset[hf]) for hf, split in hub.HF_SPLITS.items() if hf in dataset}
    hub.require_splits(source, dataset, texts, splits, how)
    corpus = {split: [parse_tree(t, f"{source} {split}", i) for i, t in enumerate(texts[split], 1)] for split in texts}
    _write_cache(hub.cache_dir() / SUBFOLDER, texts)
    return {split: corpus[split] for split in splits}


# The tree family's named sources (``data.source`` in a tree recipe).
TREE_SOURCES = {SOURCE_NAME: load_sst_trees}


def _tree_texts(dataset_split: Any) -> list[str]:
    if TREE_COLUMN not in dataset_split.features:
        raise TaggerError(f"dataset has no '{TREE_COLUMN}' column (columns: {', '.join(dataset_split.features)})")
    return [t.strip() for t in dataset_split[TREE_COLUMN] if t and t.strip()]


def _write_cache(folder: Path, texts: dict[str, list[str]]) -> None:
    """Downloaded trees as the files a local run reads; failures only log a warning."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for split, lines in texts.items():
            atomic_write_text(folder / FILES[split][0], "".join(line + "\n" for line in lines))
    except OSError as err:
        log.warning("could not cache the SST trees in %s: %s", folder, err)

