"""The named source ``multi30k``: Multi30k task 1 (image descriptions), German-English.

Looked for, in order, as ``train.de``/``train.en``, ``val.de``/``val.en`` (or
``valid.*``, ``dev.*``) and ``test.*`` (or ``test_2016_flickr.*``) in ``--data-dir``
(that folder or its ``multi30k`` subfolder; an explicit folder is final), in
``$TAGGER_DATA_DIR/multi30k`` and in the cache (``cache_dir()/multi30k``); then on the
Hugging Face hub through ``datasets`` (``bentrevett/multi30k``: ``en`` and ``de``
columns), and a download is written to the cache as the same files.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import TaggerError
from ..sources import hub
from .text import Parallel, read_aligned

SOURCE_NAME = "multi30k"
SUBFOLDER = "multi30k"
STEMS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "valid": ("val", "valid", "dev", "validation"),
    "test": ("test", "test_2016_flickr", "test2016"),
}
LANGS = ("de", "en", "fr", "cs")
HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (("bentrevett/multi30k", {}),)


def split_files(lang: str) -> dict[str, tuple[str, ...]]:
    """The accepted file names per split for one language."""
    return {split: tuple(f"{stem}.{lang}" for stem in stems) for split, stems in STEMS.items()}


def load_multi30k(data_dir: str | Path | None = None, splits: Sequence[str] = ("train", "valid"),
                  source_lang: str = "de", target_lang: str = "en") -> dict[str, Parallel]:
    """``{split: Parallel}`` for the requested splits (``train``, ``valid``, ``test``)."""
    splits = hub.check_splits(splits)
    for lang in (source_lang, target_lang):
        if lang not in LANGS:
            raise TaggerError(f"Multi30k has no language '{lang}' (it has {', '.join(LANGS)})")
    folder = hub.as_folder(data_dir)
    src_found, notes = hub.search_local(folder, splits, SUBFOLDER, split_files(source_lang))
    tgt_found, tgt_notes = hub.search_local(folder, splits, SUBFOLDER, split_files(target_lang))
    if src_found is not None and tgt_found is not None:
        return {split: read_aligned(src_found[split], tgt_found[split]) for split in splits}
    notes = notes if src_found is None else tgt_notes
    how = hub.how_to_provide(f"train.{source_lang}/train.{target_lang} and val.{source_lang}/val.{target_lang} "
                             "(one sentence a line, aligned)", SUBFOLDER)
    what = f"Multi30k {source_lang}-{target_lang} {'/'.join(splits)} not found."
    source, dataset = hub.from_hub(what, notes, folder, how, HUB_CANDIDATES)
    texts = {split: _columns(dataset[hf], (source_lang, target_lang)) for hf, split in hub.HF_SPLITS.items() if hf in dataset}
    hub.require_splits(source, dataset, texts, splits, how)
    _write_cache(texts, (source_lang, target_lang))
    corpus = {}
    for split in splits:
        pairs = Parallel()
        for src, tgt in zip(*texts[split]):
            pairs.add(src, tgt)
        corpus[split] = pairs
    return corpus


def _columns(dataset_split: Any, langs: tuple[str, str]) -> tuple[list[str], list[str]]:
    missing = [lang for lang in langs if lang not in dataset_split.features]
    if missing:
        raise TaggerError(f"dataset has no '{missing[0]}' column (columns: {', '.join(dataset_split.features)})")
    return tuple([str(t or "").replace("\n", " ") for t in dataset_split[lang]] for lang in langs)  # type: ignore[return-value]


def _write_cache(texts: dict[str, tuple[list[str], list[str]]], langs: tuple[str, str]) -> None:
    """Downloaded pairs as the files a local run reads (a failure only logs a warning)."""
    writers = {}
    for split, columns in texts.items():
        for lang, lines in zip(langs, columns):
            data = "".join(line + "\n" for line in lines)
            writers[f"{STEMS[split][0]}.{lang}"] = lambda tmp, data=data: Path(tmp).write_text(data, encoding="utf-8")
    hub.write_cache(hub.cache_dir() / SUBFOLDER, writers, "Multi30k")


# The translation family's named sources (``data.source`` in a seq2seq recipe).
SEQ2SEQ_SOURCES = {SOURCE_NAME: load_multi30k}
