"""``sst2``: the Stanford Sentiment Treebank's binary sentences as GLUE has them (task
``sentiment``: ``negative``/``positive``; the files' 0/1 are renamed).

Looked for as ``train.tsv``/``dev.tsv`` (header ``sentence<TAB>label``) in the places
of :mod:`tagger.sources.hub` (subfolder ``sst2``), then on the Hugging Face hub
(``SST2_HUB_CANDIDATES``); a download is cached as TSV.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import registry
from ..data import Sentence
from .hub import HF_SPLITS, as_folder, cache_dir, check_splits, how_to_provide, locate, require_splits
from .text import SENTIMENT_LABELS, SENTIMENT_TASK, sentences_from_rows, text_rows_from_hf, write_text_cache

SUBFOLDER = "sst2"
# GLUE's file names; test.tsv (no labels in GLUE) is only read when asked for.
SST2_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.tsv",),
    "valid": ("dev.tsv", "validation.tsv", "valid.tsv"),
    "test": ("test.tsv",),
}
# Parquet datasets with columns sentence and label (a ClassLabel: negative, positive).
SST2_HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("stanfordnlp/sst2", {}),
    ("nyu-mll/glue", {"name": "sst2"}),
)

_how_to_provide = how_to_provide("train.tsv and dev.tsv (GLUE SST-2: header sentence<TAB>label)", SUBFOLDER)


def load_sst2(
    data_dir: str | Path | None = None,
    splits: Sequence[str] = ("train", "valid"),
    tokenizer: str = "ptb",
    max_tokens: int | None = None,
) -> dict[str, list[Sentence]]:
    """SST-2 as ``{split: sentences}``, tokenized with ``tokenizer`` and cut to ``max_tokens``."""
    from ..io.text_classification import read_text_classification

    splits = check_splits(splits)
    place = locate(f"SST-2 {'/'.join(splits)} not found.", as_folder(data_dir), splits, SUBFOLDER, SST2_FILES,
                   _how_to_provide, SST2_HUB_CANDIDATES)
    if place.files is not None:
        return {
            split: read_text_classification(
                path, "tsv", SENTIMENT_TASK, "sentence", "label", tokenizer=tokenizer,
                max_tokens=max_tokens, label_names=SENTIMENT_LABELS,
            )
            for split, path in place.files.items()
        }
    dataset = place.dataset
    rows = {split: text_rows_from_hf(dataset[hf], "sentence") for hf, split in HF_SPLITS.items() if hf in dataset}
    rows = {split: r for split, r in rows.items() if r}  # GLUE's test split has no labels
    require_splits(place.source, dataset, rows, splits, _how_to_provide, kind="labelled ")
    write_text_cache(cache_dir() / SUBFOLDER, {SST2_FILES[split][0]: r for split, r in rows.items()}, "tsv")
    return {split: sentences_from_rows(rows[split], tokenizer, max_tokens) for split in splits}


@registry.sources.register("sst2")
def _source(data_dir: Path | None, splits: Sequence[str], tokenizer: str | None = None,
            max_tokens: int | None = None) -> dict[str, list[Sentence]]:
    return load_sst2(data_dir, splits, tokenizer or "ptb", max_tokens)
