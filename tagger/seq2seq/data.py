"""A translation recipe's data: the named source, two aligned files per split, or one
TSV/JSONL file per split."""
from __future__ import annotations

from collections.abc import Sequence

from ..errors import TaggerError
from .config import Seq2SeqDataConfig
from .source import SEQ2SEQ_SOURCES
from .text import Parallel, read_aligned, read_pairs_file


def load_parallel(data: Seq2SeqDataConfig, splits: Sequence[str] = ("train", "valid")) -> dict[str, Parallel]:
    """``{split: Parallel}``; files given in the recipe replace the named source."""
    files = {"train": (data.train_src, data.train_tgt, data.train), "valid": (data.dev_src, data.dev_tgt, data.dev)}
    out: dict[str, Parallel] = {}
    from_source = []
    for split in splits:
        src, tgt, single = files.get(split, (None, None, None))
        if (src is None) != (tgt is None):
            name = "train" if split == "train" else "dev"
            raise TaggerError(f"data.{name}_src and data.{name}_tgt go together: give both files")
        if src is not None:
            out[split] = read_aligned(src, tgt)
        elif single is not None:
            out[split] = read_pairs_file(single, data.source_lang, data.target_lang, data.format)
        else:
            from_source.append(split)
    if from_source:
        if not data.source:
            raise TaggerError(f"no {from_source[0]} data: set data.source, or give files for it")
        out |= SEQ2SEQ_SOURCES[data.source](data.data_dir, from_source, data.source_lang, data.target_lang)
    for split, pairs in out.items():
        if not len(pairs):
            raise TaggerError(f"the {split} data has no sentence pairs")
    return {split: out[split] for split in splits}
