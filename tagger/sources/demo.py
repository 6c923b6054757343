"""``demo``: the small invented NER/POS/chunk corpus shipped with the toolkit (CoNLL-2003 format)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import registry
from ..data import Sentence
from ..errors import TaggerError
from .conll2003 import CONLL2003_FILES, read_split_files
from .hub import SPLITS, check_splits, describe_missing, files_in

_PACKAGE = Path(__file__).resolve().parents[1]  # tagger/


def demo_dir() -> Path:
    """The demo corpus folder: packaged copy (``tagger/_data/demo``) first, then the source checkout's ``data/demo``."""
    places = (_PACKAGE / "_data" / "demo", _PACKAGE.parent / "data" / "demo")
    for folder in places:
        if folder.is_dir():
            return folder
    raise TaggerError(f"demo corpus not found (looked in {places[0]} and {places[1]})")


def load_demo(data_dir: str | Path | None = None, splits: Sequence[str] = SPLITS) -> dict[str, list[Sentence]]:
    """The demo corpus as ``{split: sentences}``; ``data_dir`` replaces the shipped folder."""
    splits = check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else demo_dir()
    found, missing = files_in(folder, splits, CONLL2003_FILES)
    if missing:
        raise TaggerError(f"demo corpus in {folder}: {describe_missing(missing, CONLL2003_FILES)}")
    return read_split_files(found)


@registry.sources.register("demo")
def _source(data_dir: Path | None, splits: Sequence[str], tokenizer: str | None = None,
            max_tokens: int | None = None) -> dict[str, list[Sentence]]:
    return load_demo(data_dir, splits)  # tokenized words: no tokenizer, no cut
