"""``sentiment-demo``: the small invented sentiment sample shipped with the toolkit
(``train.tsv``/``dev.tsv`` in SST-2's layout, task ``sentiment``)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import registry
from ..data import Sentence
from ..errors import TaggerError
from .hub import check_splits, describe_missing, files_in
from .sst2 import SST2_FILES
from .text import SENTIMENT_TASK

_PACKAGE = Path(__file__).resolve().parents[1]  # tagger/


def sentiment_demo_dir() -> Path:
    """The invented sentiment sample: packaged copy (``tagger/_data/sentiment``) first, then ``data/sentiment``."""
    places = (_PACKAGE / "_data" / "sentiment", _PACKAGE.parent / "data" / "sentiment")
    for folder in places:
        if folder.is_dir():
            return folder
    raise TaggerError(f"sentiment sample not found (looked in {places[0]} and {places[1]})")


def load_sentiment_demo(
    data_dir: Path | None = None, splits: Sequence[str] = ("train", "valid"), tokenizer: str = "ptb",
    max_tokens: int | None = None,
) -> dict[str, list[Sentence]]:
    """The sample as ``{split: sentences}``; ``data_dir`` replaces the shipped folder."""
    from ..io.text_classification import read_text_classification

    splits = check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else sentiment_demo_dir()
    found, missing = files_in(folder, splits, SST2_FILES)
    if missing:
        raise TaggerError(f"sentiment sample in {folder}: {describe_missing(missing, SST2_FILES)}")
    return {
        split: read_text_classification(path, "tsv", SENTIMENT_TASK, "sentence", "label", tokenizer=tokenizer,
                                        max_tokens=max_tokens)
        for split, path in found.items()
    }


@registry.sources.register("sentiment-demo")
def _source(data_dir: Path | None, splits: Sequence[str], tokenizer: str | None = None,
            max_tokens: int | None = None) -> dict[str, list[Sentence]]:
    return load_sentiment_demo(data_dir, splits, tokenizer or "ptb", max_tokens)
