"""``conll2003``: the CoNLL-2003 English shared task (tasks ``pos``, ``chunk``, ``ner``; BIO).

Looked for as ``train.txt``/``valid.txt``/``test.txt`` (or ``eng.train``/``eng.testa``/
``eng.testb``, or ``dev.txt``) in the places of :mod:`tagger.sources.hub` (subfolder
``conll2003``), then on the Hugging Face hub (``HUB_CANDIDATES``); a download is
cached as CoNLL-2003 text files.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import registry
from ..data import Sentence
from ..errors import TaggerError
from .hub import (
    HF_SPLITS,
    SPLITS,
    as_folder,
    cache_dir,
    check_splits,
    columns_of,
    how_to_provide,
    label_names,
    locate,
    require_splits,
    search_local,
    write_cache,
)

SUBFOLDER = "conll2003"
# Accepted file names per split, in order of preference.
CONLL2003_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.txt", "eng.train"),
    "valid": ("valid.txt", "dev.txt", "eng.testa"),
    "test": ("test.txt", "eng.testb"),
}
# (dataset path, keyword arguments for datasets.load_dataset). Current `datasets`
# cannot run loading scripts, so only parquet copies are usable.
HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("eriktks/conll2003", {"revision": "refs/convert/parquet"}),
    ("lhoestq/conll2003", {}),
)
# Hugging Face column -> our task name.
HF_TAG_COLUMNS = {"pos_tags": "pos", "chunk_tags": "chunk", "ner_tags": "ner"}
SPAN_TASKS = frozenset({"ner", "chunk"})
TASKS = ("pos", "chunk", "ner")

_how_to_provide = how_to_provide(
    "train.txt/valid.txt/test.txt (CoNLL-2003 format; eng.train/eng.testa/eng.testb also work)", SUBFOLDER
)


def find_conll2003(data_dir: str | Path | None = None, splits: Sequence[str] = SPLITS) -> dict[str, Path]:
    """Paths of the requested CoNLL-2003 split files in the first local place that has them all.

    Only local places are searched (no hub); when none has every requested
    split, a :class:`TaggerError` lists where it looked.
    """
    splits = check_splits(splits)
    folder = as_folder(data_dir)
    found, notes = search_local(folder, splits, SUBFOLDER, CONLL2003_FILES)
    if found is None:
        raise TaggerError(f"CoNLL-2003 {'/'.join(splits)} not found. Looked in: {'; '.join(notes)}. {_how_to_provide(folder)}")
    return found


def read_split_files(files: dict[str, Path]) -> dict[str, list[Sentence]]:
    from ..io.conll import read_conll2003

    return {split: read_conll2003(path) for split, path in files.items()}


def sentences_from_hf(dataset_split: Any) -> list[Sentence]:
    """Convert one split of a Hugging Face CoNLL-2003-style dataset (``tokens`` plus
    ``pos_tags``/``chunk_tags``/``ner_tags``) into sentences.

    Label names are read from the dataset's own ClassLabel features; span tasks are
    converted to BIO (scheme detected over the split).
    """
    from ..schemes import detect_scheme, to_bio

    features = dataset_split.features
    if "tokens" not in features:
        raise TaggerError(f"dataset has no 'tokens' column (columns: {', '.join(features)})")
    present = [(col, task) for col, task in HF_TAG_COLUMNS.items() if col in features]
    if not present:
        raise TaggerError(f"dataset has none of the tag columns {', '.join(HF_TAG_COLUMNS)}")
    data = columns_of(dataset_split)
    keep = [i for i, toks in enumerate(data["tokens"]) if toks and toks[0] != "-DOCSTART-"]
    # A -DOCSTART- row starts a document, as in the files.
    docs = list(itertools.accumulate(int(bool(toks) and toks[0] == "-DOCSTART-") for toks in data["tokens"]))
    columns: dict[str, list[list[str]]] = {}
    for col, task in present:
        table = label_names(features[col])
        rows = [data[col][i] for i in keep]
        columns[task] = [[str(v) for v in row] for row in rows] if table is None else [[table[v] for v in row] for row in rows]
        if task in SPAN_TASKS:
            try:
                scheme = detect_scheme(columns[task])
                columns[task] = [to_bio(tags, scheme) for tags in columns[task]]
            except ValueError as err:
                raise TaggerError(f"dataset column {col}: {err}") from None
    return [
        Sentence(words=list(data["tokens"][i]), tags={task: columns[task][n] for task in columns}, doc=docs[i])
        for n, i in enumerate(keep)
    ]


def _write_cache(corpus: dict[str, list[Sentence]]) -> None:
    """A downloaded corpus as the CoNLL-2003 text files a local run reads (only when
    every sentence has all three tasks, so the files are complete)."""
    from ..io.conll import write_conll

    if not all(all(t in s.tags for t in TASKS) for sents in corpus.values() for s in sents):
        return

    def writer(sentences: list[Sentence]):
        return lambda tmp: write_conll(sentences, tmp, tasks=TASKS, docstart=True)

    write_cache(cache_dir() / SUBFOLDER, {CONLL2003_FILES[split][0]: writer(s) for split, s in corpus.items()}, "CoNLL-2003")


def load_conll2003(data_dir: str | Path | None = None, splits: Sequence[str] = SPLITS) -> dict[str, list[Sentence]]:
    """CoNLL-2003 as ``{split: sentences}`` (tasks pos, chunk, ner; BIO) for the requested splits."""
    splits = check_splits(splits)
    place = locate(f"CoNLL-2003 {'/'.join(splits)} not found.", as_folder(data_dir), splits, SUBFOLDER,
                   CONLL2003_FILES, _how_to_provide, HUB_CANDIDATES)
    if place.files is not None:
        return read_split_files(place.files)
    corpus = {split: sentences_from_hf(place.dataset[hf]) for hf, split in HF_SPLITS.items() if hf in place.dataset}
    require_splits(place.source, place.dataset, corpus, splits, _how_to_provide)
    _write_cache(corpus)
    return {split: corpus[split] for split in splits}


@registry.sources.register("conll2003")
def _source(data_dir: Path | None, splits: Sequence[str], tokenizer: str | None = None,
            max_tokens: int | None = None) -> dict[str, list[Sentence]]:
    return load_conll2003(data_dir, splits)  # tokenized words: no tokenizer, no cut
