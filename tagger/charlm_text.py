"""What a contextual char LM (:mod:`tagger.nn.charlm`) reads for a sentence: its string as
character ids and, per word, the position whose state is read. Pure Python (no torch):
the PyTorch path (``tagger.batching``) and the torch-free runtime (``tagger.runtime``)
build the same inputs with it.

A sentence is read as one string, ``"\\n" + " ".join(words) + " "``, by the forward LM
left to right and by the backward LM right to left (its string is reversed): a word's
forward position is the space after it, its backward position the space before it.
"""
from __future__ import annotations

from collections.abc import Sequence

from .vocab import Vocab


def lm_inputs(words: Sequence[str], vocab: Vocab, reverse: bool) -> tuple[list[int], list[int]]:
    """An LM's character ids for a sentence and, per word, the position whose state is read."""
    text = " ".join(words)
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    if reverse:
        chars = "\n" + text[::-1] + " "
        positions = [1 + len(text) - s for s in starts]
    else:
        chars = "\n" + text + " "
        positions = [1 + s + len(w) for s, w in zip(starts, words)]
    return vocab.ids(chars), positions


def lm_length(words: Sequence[str]) -> int:
    """The number of characters :func:`lm_inputs` gives for ``words`` (in either direction)."""
    return sum(map(len, words)) + len(words) + 1
