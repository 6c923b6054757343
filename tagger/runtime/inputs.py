"""Words to the graph's inputs, with the training normalisation (:mod:`tagger.vocab`):
the lowercased, digit-normalised word key, the casing class and the character ids
of the first ``max_word_len`` characters; with char-LM embeddings, each LM's character
ids and read positions (:func:`tagger.charlm_text.lm_inputs`, as ``tagger.batching``
builds them). Pure Python and NumPy."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..charlm_text import lm_inputs, lm_length
from ..errors import TaggerError
from ..vocab import Vocab, casing, word_key

# Characters of char-LM input per batch (batch size x longest string). ONNX Runtime's LSTM keeps
# every step's gates, so memory grows with it: two 1x512 LMs on CoNLL-2003 valid, batches of 256,
# peaked at 620 MB with 20,000 and 2 GB with PyTorch's 200,000 (tagger.batching.LM_CHARS), and ran
# 1.2 times as fast; with batches of 64 both bounds gave the same speed.
LM_CHARS = 20_000
# The most characters of one sentence's char-LM string (``lm_length``): the graph reads them in
# one pass, so a sentence costs memory in proportion to its length (PyTorch reads more than
# CharLMEmbedding.WINDOW in windows, the same states in less memory); such a sentence is a batch
# of its own, ten times a batch's characters at most.
MAX_LM_CHARS = 200_000


class Features:
    """Each spelling's (word id, casing id, char ids), looked up once (bounded, as the model's)."""

    def __init__(self, vocab: dict):
        self.words, self.chars = Vocab(vocab["words"]), Vocab(vocab["chars"])
        self.lowercase, self.normalize_digits = vocab["lowercase"], vocab["normalize_digits"]
        self.max_word_len = vocab["max_word_len"]
        # Char-LM embeddings: direction -> (the LM's character vocabulary, reads right to left).
        self.lm = {d: (Vocab(desc["vocab"]), bool(desc["config"].get("reverse"))) for d, desc in vocab.get("charlm", {}).items()}
        self._cache: dict[str, tuple[int, int, tuple[int, ...]]] = {}

    def __call__(self, word: str) -> tuple[int, int, tuple[int, ...]]:
        found = self._cache.get(word)
        if found is None:
            chars = tuple(self.chars.ids(word[: self.max_word_len])) or (self.chars.unk_id,)
            found = (self.words.id(word_key(word, self.lowercase, self.normalize_digits)), casing(word), chars)
            if len(self._cache) < 100_000 and len(word) <= 64:
                self._cache[word] = found
        return found


# Padded words per batch. ONNX Runtime's LSTM slows down past about a thousand: on
# CoNLL-2003 valid, length-sorted batches of 256 ran 1.8x faster (int8 and fp32 exports)
# when cut to 1,024 padded words than at 20,000, and 512 was no faster (bench/batch_shapes.py).
MAX_TOKENS = 1024
# What a batch costs besides its padded words, in padded words: each call (the graph's own
# 140 us, the input arrays, the decode and the labels in Python) and each time step (the
# recurrent ops' and the Viterbi loop's per-step work). Swept on batches of 16 random valid
# sentences (as a server under 16 clients makes): 32-64 a call and 1-4 a step ran within 4%
# of each other and 1.08-1.10x faster than the 24 and 0.35 measured before the encoder became
# ONNX's own recurrent ops, on int8 exports of the default model (a padded word about 9.5 us)
# and of the char-LM model alike.
CALL_COST, STEP_COST = 48.0, 2.0


def batch_order(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None,
                chars: Sequence[int] | None = None, max_chars: int | None = None) -> Iterator[list[int]]:
    """Positions of the sentences per batch, longest first (as :func:`tagger.batching.eval_batches`);
    with ``chars`` (each sentence's char-LM characters), at most ``max_chars`` of them per batch,
    and longest in characters first: the LMs run every padded step and cost most, so padding
    their strings (1.48x the characters on CoNLL-2003 valid when sorted by words, 1.22x by
    characters) is what to avoid; it measured 1.05x faster for a char-LM export. A batch
    of sentences of very different lengths (a server's few requests) is split where that
    pads less than the extra calls cost (:func:`split_by_length`)."""
    max_tokens = MAX_TOKENS if max_tokens is None else max_tokens
    max_chars = LM_CHARS if max_chars is None else max_chars
    key = lengths if chars is None else chars
    order = sorted(range(len(lengths)), key=lambda i: -key[i])
    start = 0
    while start < len(order):
        longest_words = max(lengths[i] for i in order[start : start + batch_size])
        size = max(1, min(batch_size, max_tokens // max(longest_words, 1)))
        if chars is not None:
            size = max(1, min(size, max_chars // max(chars[order[start]], 1)))
        yield from split_by_length(order[start : start + size], key)
        start += size


def split_by_length(batch: list[int], key: Sequence[int]) -> list[list[int]]:
    """``batch`` (longest first) cut into the runs that cost least in all: each run costs
    :data:`CALL_COST` plus its longest sentence times (:data:`STEP_COST` + its size).
    Exact, by dynamic programming over the distinct lengths (sentences of one length
    always share a run), so a batch of equal lengths stays whole at no cost."""
    lengths = [key[i] for i in batch]
    starts = [0] + [n for n in range(1, len(batch)) if lengths[n] != lengths[n - 1]]
    ends = starts[1:] + [len(batch)]
    best = [0.0] + [float("inf")] * len(starts)  # best[b]: the cheapest cut of the first b lengths
    cut = [0] * (len(starts) + 1)
    for b in range(1, len(starts) + 1):
        for a in range(b):  # a run of lengths a..b-1, its longest is lengths[starts[a]]
            cost = best[a] + CALL_COST + lengths[starts[a]] * (STEP_COST + ends[b - 1] - starts[a])
            if cost < best[b]:
                best[b], cut[b] = cost, a
    runs, b = [], len(starts)
    while b > 0:
        runs.append(batch[starts[cut[b]] : ends[b - 1]])
        b = cut[b]
    return runs[::-1]


def check_lm_length(words: Sequence[str]) -> int:
    """The char-LM characters of a sentence, refused past :data:`MAX_LM_CHARS`."""
    n = lm_length(words)
    if n > MAX_LM_CHARS:
        raise TaggerError(f"a sentence of {len(words):,} words ({n:,} characters) is longer than an export with char-LM "
                          f"embeddings reads ({MAX_LM_CHARS:,} characters; split it, or tag it with the PyTorch model, "
                          "which reads longer ones in windows)")
    return n


def lm_arrays(sentences: Sequence[Sequence[str]], lm: dict[str, tuple[Vocab, bool]]) -> dict[str, np.ndarray]:
    """Per char-LM direction ``d``: ``lm.d`` [B, L] the character ids (0-padded, as
    ``tagger.batching.collate`` pads them) and ``lm.d.positions`` [B, T] the positions read."""
    B, T = len(sentences), max(len(s) for s in sentences)
    L = max(lm_length(s) for s in sentences)
    out = {}
    for direction, (vocab, reverse) in lm.items():
        ids, positions = np.zeros((B, L), dtype=np.int64), np.zeros((B, T), dtype=np.int64)
        for b, words in enumerate(sentences):
            row, pos = lm_inputs(words, vocab, reverse)
            ids[b, : len(row)], positions[b, : len(pos)] = row, pos
        out[f"lm.{direction}"], out[f"lm.{direction}.positions"] = ids, positions
    return out


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
