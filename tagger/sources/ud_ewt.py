"""``ud-ewt``: the Universal Dependencies English Web Treebank (tasks ``upos`` and ``xpos``).

Looked for as ``en_ewt-ud-{train,dev,test}.conllu`` in the places of
:mod:`tagger.sources.hub` (subfolder ``ud-ewt``), then on the Hugging Face hub
(``UD_EWT_HUB_CANDIDATES``); a download is cached as CoNLL-U.
"""
from __future__ import annotations

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
    write_cache,
)

SUBFOLDER = "ud-ewt"
# The treebank's own file names (https://github.com/UniversalDependencies/UD_English-EWT).
UD_EWT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("en_ewt-ud-train.conllu",),
    "valid": ("en_ewt-ud-dev.conllu",),
    "test": ("en_ewt-ud-test.conllu",),
}
# The hub's `universal_dependencies` dataset is a loading script, which current
# `datasets` cannot run; its automatic parquet export (one folder per treebank on
# the refs/convert/parquet branch: en_ewt/train/0000.parquet, ...) loads without one.
UD_EWT_HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("universal-dependencies/universal_dependencies", {"revision": "refs/convert/parquet", "data_dir": "en_ewt"}),
    ("albertvillanova/universal_dependencies", {"revision": "refs/convert/parquet", "data_dir": "en_ewt"}),
)
UD_TAG_FIELDS = ("upos", "xpos")


_how_to_provide = how_to_provide(
    "/".join(n for split in SPLITS for n in UD_EWT_FILES[split]) + " (from github.com/UniversalDependencies/UD_English-EWT)",
    SUBFOLDER,
)


def sentences_from_hf_ud(dataset_split: Any) -> list[Sentence]:
    """Convert one split of a Hugging Face ``universal_dependencies`` treebank into
    sentences with tasks ``upos`` and ``xpos``.

    The hub copy lists every CoNLL-U line of a sentence, multiword tokens and empty
    nodes included, with no IDs; the syntactic words are the rows whose ``head`` is
    a number (multiword tokens and empty nodes have none). Without a ``head``
    column, rows whose UPOS is ``_`` (multiword tokens) are dropped. UPOS names come
    from the dataset's ClassLabel feature; a missing XPOS becomes ``_``. ``meta``
    keeps ``sent_id`` (the ``idx`` column) and ``text``.
    """
    features = dataset_split.features
    for column in ("tokens", "upos"):
        if column not in features:
            raise TaggerError(f"dataset has no '{column}' column (columns: {', '.join(features)})")
    upos_names = label_names(features["upos"])
    xpos_names = label_names(features["xpos"]) if "xpos" in features else None
    data = columns_of(dataset_split)
    id_column = next((c for c in ("idx", "sent_id", "id") if c in data), None)

    def label(value: Any, names: list[str] | None) -> str:
        if value is None:
            return "_"
        return names[value] if names is not None and isinstance(value, int) else str(value)

    sentences: list[Sentence] = []
    for n, tokens in enumerate(data["tokens"]):
        upos = [label(v, upos_names) for v in data["upos"][n]]
        xpos = [label(v, xpos_names) for v in data["xpos"][n]] if "xpos" in data else ["_"] * len(tokens)
        heads = data["head"][n] if "head" in data else None
        if heads is not None and any(str(h).isdigit() for h in heads):
            keep = [i for i, h in enumerate(heads) if str(h).isdigit()]
        else:
            keep = [i for i, tag in enumerate(upos) if tag != "_"]
        if not keep:
            continue
        meta: dict[str, str] = {}
        if id_column is not None and data[id_column][n] is not None:
            meta["sent_id"] = str(data[id_column][n])
        if "text" in data and data["text"][n]:
            meta["text"] = str(data["text"][n])
        sentences.append(
            Sentence(
                words=[str(tokens[i]) for i in keep],
                tags={"upos": [upos[i] for i in keep], "xpos": [xpos[i] for i in keep]},
                meta=meta,
            )
        )
    if not sentences:
        raise TaggerError("dataset split holds no sentences with words")
    return sentences


def _write_cache(corpus: dict[str, list[Sentence]]) -> None:
    """A downloaded treebank as CoNLL-U files (words, UPOS, XPOS)."""
    from ..io.conllu import write_conllu

    def writer(sentences: list[Sentence]):
        return lambda tmp: write_conllu(sentences, None, tmp)

    write_cache(cache_dir() / SUBFOLDER, {UD_EWT_FILES[split][0]: writer(s) for split, s in corpus.items()},
                "UD English EWT")


def load_ud_ewt(data_dir: str | Path | None = None, splits: Sequence[str] = SPLITS) -> dict[str, list[Sentence]]:
    """UD English EWT as ``{split: sentences}`` with tasks ``upos`` and ``xpos``.

    Looked for as ``en_ewt-ud-{train,dev,test}.conllu`` in ``data_dir`` (or its
    ``ud-ewt/`` subfolder; an explicit folder is final), ``$TAGGER_DATA_DIR/ud-ewt``
    and ``cache_dir()/ud-ewt``; then on the Hugging Face hub through ``datasets``
    (``UD_EWT_HUB_CANDIDATES``), and a download is cached as CoNLL-U.
    """
    from ..io.conllu import read_conllu

    splits = check_splits(splits)
    place = locate(f"UD English EWT {'/'.join(splits)} not found.", as_folder(data_dir), splits, SUBFOLDER,
                   UD_EWT_FILES, _how_to_provide, UD_EWT_HUB_CANDIDATES)
    if place.files is not None:
        return {split: read_conllu(path, UD_TAG_FIELDS) for split, path in place.files.items()}
    corpus = {split: sentences_from_hf_ud(place.dataset[hf]) for hf, split in HF_SPLITS.items() if hf in place.dataset}
    require_splits(place.source, place.dataset, corpus, splits, _how_to_provide)
    _write_cache(corpus)
    return {split: corpus[split] for split in splits}


@registry.sources.register("ud-ewt")
def _source(data_dir: Path | None, splits: Sequence[str], tokenizer: str | None = None,
            max_tokens: int | None = None) -> dict[str, list[Sentence]]:
    return load_ud_ewt(data_dir, splits)  # tokenized words: no tokenizer, no cut
