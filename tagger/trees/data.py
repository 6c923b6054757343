"""Where a tree recipe's data comes from: a named source or files of bracketed trees,
and plain sentences (unlabelled text for the autoencoder, text given to predict)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import TaggerError
from ..textfile import text_lines
from ..tokenize import get_tokenizer
from .config import TreeDataConfig
from .source import TREE_SOURCES
from .tree import Tree, read_trees

# The treebank writes brackets inside sentences the PTB way (a tree cannot hold them).
_PTB_ESCAPES = {"(": "-LRB-", ")": "-RRB-"}


def load_trees(data: TreeDataConfig, splits: Sequence[str]) -> dict[str, list[Tree]]:
    """``{split: trees}``: the recipe's files when ``data.train`` is given, else its named source."""
    if data.train:
        files = {"train": data.train, "valid": data.dev, "test": data.test}
        missing = [s for s in splits if not files[s]]
        if missing:
            raise TaggerError(f"the recipe gives data.train but no file for the {'/'.join(missing)} split "
                              "(data.dev, data.test; --dev on the command line)")
        corpus = {s: read_trees(files[s]) for s in splits}
    elif data.source:
        if data.source not in TREE_SOURCES:
            raise TaggerError(f"unknown tree source '{data.source}' (choose: {', '.join(TREE_SOURCES)})")
        corpus = TREE_SOURCES[data.source](data.data_dir, splits)
    else:
        raise TaggerError("the recipe names no data: set data.source or data.train and data.dev")
    for split, trees in corpus.items():
        if not trees:
            raise TaggerError(f"the {split} split has no trees")
    return corpus


def sentence_words(text: str, tokenizer: str) -> list[str]:
    """A plain sentence as the treebank's words."""
    return [_PTB_ESCAPES.get(w, w) for w in get_tokenizer(tokenizer)(text)]


def read_sentences(path: str | Path, tokenizer: str, limit: int | None = None) -> list[list[str]]:
    """Plain sentences: one a line, or the ``sentence`` column of a TSV file with a
    header (SST-2's ``train.tsv``)."""
    path = Path(path)
    out: list[list[str]] = []
    column = None
    for line_no, text in text_lines(path, "sentences file"):
        text = text.rstrip("\r\n")
        if line_no == 1 and path.suffix == ".tsv" and "sentence" in text.split("\t"):
            column = text.split("\t").index("sentence")
            continue
        if column is not None:
            fields = text.split("\t")
            text = fields[column] if column < len(fields) else ""
        words = sentence_words(text, tokenizer)
        if words:
            out.append(words)
        if limit and len(out) >= limit:
            break
    return out
