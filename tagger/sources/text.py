"""What the sources of labelled raw text share (``sst2``, ``imdb``, ``sentiment-demo``):
the sentence task, label names, rows from the hub, tokenized sentences, the cache files."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..data import Sentence
from ..errors import TaggerError
from .hub import columns_of, write_cache

SENTIMENT_TASK = "sentiment"
SENTIMENT_LABELS = {"0": "negative", "1": "positive", "neg": "negative", "pos": "positive"}


def text_rows_from_hf(dataset_split: Any, text_column: str) -> list[tuple[str, str]]:
    """(text, label name) rows of a Hugging Face text classification split; rows
    without a label (GLUE test sets use -1) are left out."""
    features = dataset_split.features
    for column in (text_column, "label"):
        if column not in features:
            raise TaggerError(f"dataset has no '{column}' column (columns: {', '.join(features)})")
    names = getattr(features["label"], "names", None)
    data = columns_of(dataset_split)
    rows = []
    for text, label in zip(data[text_column], data["label"]):
        if label is None or (isinstance(label, int) and label < 0):
            continue
        name = names[label] if names and isinstance(label, int) else str(label)
        rows.append((text, SENTIMENT_LABELS.get(name, name)))
    return rows


def sentences_from_rows(
    rows: Sequence[tuple[str, str]], tokenizer: str, max_tokens: int | None, clean: Callable[[str], str] | None = None
) -> list[Sentence]:
    """(text, label) rows as sentences of the task ``sentiment``; a text with no words is left out."""
    from ..tokenize import get_tokenizer

    split = get_tokenizer(tokenizer)
    out = []
    for text, label in rows:
        words = split(clean(text) if clean else text)
        if words:
            out.append(Sentence(words=words[:max_tokens] if max_tokens else words, cats={SENTIMENT_TASK: [label]}))
    return out


def write_text_cache(folder: Path, files: dict[str, list[tuple[str, str]]], fmt: str) -> None:
    """Downloaded (text, label) rows as the TSV or JSONL files a local run reads."""
    from ..io.text_classification import write_jsonl, write_tsv

    def writer(rows: list[tuple[str, str]]):
        return lambda tmp: (write_tsv if fmt == "tsv" else write_jsonl)(rows, tmp)

    write_cache(folder, {name: writer(rows) for name, rows in files.items()}, folder.name)
