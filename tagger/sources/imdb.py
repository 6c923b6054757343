"""``imdb``: the Large Movie Review Dataset (Maas et al. 2011), task ``sentiment``.

Local files (``train.jsonl``/``test.jsonl`` with ``text`` and ``label`` keys, or
``train.csv``/``train.tsv`` with those columns; labels 0/1, neg/pos or
negative/positive) are looked for in the places of :mod:`tagger.sources.hub`
(subfolder ``imdb``); then the hub's ``stanfordnlp/imdb`` parquet files, cached as
JSONL. Without a dev file, dev is a fixed 10% of train held out (``hold_out``), and
train is the other 90%. HTML line breaks become spaces; ``max_tokens`` keeps a
review's first words.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import registry
from ..data import Sentence
from .hub import as_folder, cache_dir, check_splits, how_to_provide, locate, require_splits
from .text import SENTIMENT_LABELS, SENTIMENT_TASK, sentences_from_rows, text_rows_from_hf, write_text_cache

SUBFOLDER = "imdb"
IMDB_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.jsonl", "train.csv", "train.tsv"),
    "valid": ("dev.jsonl", "dev.csv", "dev.tsv", "valid.jsonl", "valid.csv", "valid.tsv"),
    "test": ("test.jsonl", "test.csv", "test.tsv"),
}
IMDB_HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (("stanfordnlp/imdb", {}),)
IMDB_DEV_FRACTION = 0.1
IMDB_DEV_SEED = 2011  # the held-out dev set must be the same in every run
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)

_how_to_provide = how_to_provide(
    "train.jsonl and test.jsonl (one {\"text\": ..., \"label\": ...} a line; or train.csv/test.csv)", SUBFOLDER
)


def clean_imdb(text: str) -> str:
    """IMDB reviews hold HTML line breaks (``<br /><br />``): make them spaces."""
    return _BREAK.sub(" ", text)


def hold_out(items: Sequence[Any], fraction: float = IMDB_DEV_FRACTION, seed: int = IMDB_DEV_SEED) -> tuple[list, list]:
    """Split ``items`` into (rest, held out) with a fixed seed; both keep the input order."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    held = set(order[: int(len(items) * fraction)])
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


def load_imdb(
    data_dir: str | Path | None = None,
    splits: Sequence[str] = ("train", "valid"),
    tokenizer: str = "ptb",
    max_tokens: int | None = None,
) -> dict[str, list[Sentence]]:
    """IMDB as ``{split: sentences}``, tokenized with ``tokenizer`` and cut to ``max_tokens``."""
    splits = check_splits(splits)
    # dev comes out of train unless a dev file is there
    need = tuple(s for s in ("train", "test") if s in splits or (s == "train" and "valid" in splits))
    place = locate(f"IMDB {'/'.join(splits)} not found.", as_folder(data_dir), need, SUBFOLDER, IMDB_FILES,
                   _how_to_provide, IMDB_HUB_CANDIDATES)
    if place.files is not None:
        return _read_local(place.files, splits, tokenizer, max_tokens)
    rows = {split: text_rows_from_hf(place.dataset[split], "text") for split in ("train", "test") if split in place.dataset}
    require_splits(place.source, place.dataset, rows, need, _how_to_provide)
    write_text_cache(cache_dir() / SUBFOLDER, {f"{split}.jsonl": r for split, r in rows.items()}, "jsonl")
    corpus: dict[str, list[tuple[str, str]]] = {}
    if "train" in rows:
        corpus["train"], corpus["valid"] = hold_out(rows["train"])
    if "test" in rows:
        corpus["test"] = rows["test"]
    return {split: sentences_from_rows(corpus[split], tokenizer, max_tokens, clean_imdb) for split in splits}


def _read_local(
    found: dict[str, Path], splits: Sequence[str], tokenizer: str, max_tokens: int | None
) -> dict[str, list[Sentence]]:
    from ..io.text_classification import read_text_classification

    def read(path: Path) -> list[Sentence]:
        return read_text_classification(
            path, path.suffix.lstrip("."), SENTIMENT_TASK, "text", "label", tokenizer=tokenizer,
            max_tokens=max_tokens, label_names=SENTIMENT_LABELS, clean=clean_imdb,
        )

    place = next(iter(found.values())).parent
    dev_file = next((place / n for n in IMDB_FILES["valid"] if (place / n).is_file()), None)
    corpus: dict[str, list[Sentence]] = {}
    if "test" in splits:
        corpus["test"] = read(found["test"])
    if "train" in found:
        train = read(found["train"])
        if dev_file is not None:
            corpus["train"], dev = train, (read(dev_file) if "valid" in splits else [])
        else:
            corpus["train"], dev = hold_out(train)
        if "valid" in splits:
            corpus["valid"] = dev
    return {split: corpus[split] for split in splits}


@registry.sources.register("imdb")
def _source(data_dir: Path | None, splits: Sequence[str], tokenizer: str | None = None,
            max_tokens: int | None = None) -> dict[str, list[Sentence]]:
    return load_imdb(data_dir, splits, tokenizer or "ptb", max_tokens)
