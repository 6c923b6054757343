"""Words to the graph's inputs, with the training normalisation (:mod:`tagger.vocab`):
the lowercased, digit-normalised word key, the casing class and the character ids
of the first ``max_word_len`` characters. Pure Python and NumPy."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..vocab import Vocab, casing, word_key


class Features:
    """Each spelling's (word id, casing id, char ids), looked up once (bounded, as the model's)."""

    def __init__(self, vocab: dict):
        self.words, self.chars = Vocab(vocab["words"]), Vocab(vocab["chars"])
        self.lowercase, self.normalize_digits = vocab["lowercase"], vocab["normalize_digits"]
        self.max_word_len = vocab["max_word_len"]
        self._cache: dict[str, tuple[int, int, tuple[int, ...]]] = {}

    def __call__(self, word: str) -> tuple[int, int, tuple[int, ...]]:
        found = self._cache.get(word)
        if found is None:
            chars = tuple(self.chars.ids(word[: self.max_word_len])) or (self.chars.unk_id,)
            found = (self.words.id(word_key(word, self.lowercase, self.normalize_digits)), casing(word), chars)
            if len(self._cache) < 100_000 and len(word) <= 64:
                self._cache[word] = found
        return found


def batch_order(lengths: Sequence[int], batch_size: int, max_tokens: int = 20_000) -> Iterator[list[int]]:
    """Positions of the sentences per batch, longest first (as :func:`tagger.batching.eval_batches`)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    start = 0
    while start < len(order):
        size = max(1, min(batch_size, max_tokens // max(lengths[order[start]], 1)))
        yield order[start : start + size]
        start += size


def batch_arrays(sentences: Sequence[Sequence[tuple[int, int, tuple[int, ...]]]]) -> dict[str, np.ndarray]:
    """The graph's inputs for a batch of encoded sentences (each a list of features per word)."""
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    B, T = len(sentences), int(lengths.max())
    words = np.zeros((B, T), dtype=np.int64)
    casings = np.zeros((B, T), dtype=np.int64)
    char_index = np.zeros((B, T), dtype=np.int64)
    rows: dict[tuple[int, ...], int] = {}  # each distinct spelling's characters once
    for b, sent in enumerate(sentences):
        n = len(sent)
        ids, cases, spellings = zip(*sent)
        words[b, :n], casings[b, :n] = ids, cases
        char_index[b, :n] = [rows.setdefault(chars, len(rows)) for chars in spellings]
    width = max(len(chars) for chars in rows)
    chars = np.zeros((len(rows), width), dtype=np.int64)
    for chars_row, r in rows.items():
        chars[r, : len(chars_row)] = chars_row
    return {"words": words, "casing": casings, "chars": chars, "char_index": char_index, "lengths": lengths}
