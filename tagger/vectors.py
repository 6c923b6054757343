"""Pretrained word vectors from GloVe / word2vec / fastText text files."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import Tensor

from .errors import TaggerError
from .modeldir import Vocabs
from .textfile import text_lines
from .vocab import Vocab


def read_vectors(path: str | Path, max_words: int) -> tuple[list[str], Tensor]:
    """Words (file order, i.e. most frequent first for the usual files) and their vectors.

    Both the GloVe layout (no header) and the word2vec/fastText one (a ``count dim``
    first line) are read.
    """
    path = Path(path)
    words: list[str] = []
    rows: list[list[float]] = []
    dim = None
    for line_no, line in text_lines(path, "vectors file"):
        parts = line.rstrip().split(" ")
        if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            continue
        if len(parts) < 2:
            continue
        if dim is None:
            dim = len(parts) - 1
        if len(parts) < dim + 1:
            raise TaggerError(f"expected a word and {dim} numbers, found {len(parts)} fields", path, line_no)
        try:
            rows.append([float(x) for x in parts[-dim:]])
        except ValueError:
            raise TaggerError("vector values must be numbers", path, line_no) from None
        words.append(" ".join(parts[:-dim]))  # GloVe 840B has words with spaces
        if len(words) >= max_words:
            break
    if not words:
        raise TaggerError("no vectors found", path)
    return words, torch.tensor(rows)


def extend_with_vectors(vocabs: Vocabs, words: list[str], matrix: Tensor) -> tuple[Vocabs, Tensor, float]:
    """Add the vectors' words to the word vocabulary (so dev/test words outside the
    training data still get a vector) and return the initial embedding matrix and
    the share of training word types that found a vector.

    A vocabulary key that has no vector of its own falls back to its lowercase form.
    """
    row_of: dict[str, int] = {}
    for i, w in enumerate(words):
        row_of.setdefault(vocabs.key(w), i)
    train_words = vocabs.words.itos
    itos = train_words + [k for k in dict.fromkeys(vocabs.key(w) for w in words) if k not in vocabs.words]
    init = torch.empty(len(itos), matrix.shape[1]).uniform_(-0.1, 0.1)
    init[0] = 0.0
    found = 0
    for i, key in enumerate(itos):
        if i < 2:  # <pad> stays zero, <unk> stays random even if the file lists them
            continue
        row = row_of.get(key, row_of.get(key.lower()))
        if row is not None:
            init[i] = matrix[row]
            found += i < len(train_words)
    coverage = found / max(len(train_words) - 2, 1)
    vocabs = dataclasses.replace(vocabs, words=Vocab(itos))
    return vocabs, init, coverage
