"""Raw text to symbol streams: characters, or words with an end-of-line symbol.

A language model's vocabulary is built from its training text only; symbols it has
never seen map to ``<unk>``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from ..errors import TaggerError
from ..vocab import PAD, UNK, Vocab

EOS = "<eos>"  # word level: the end of a line


def read_text(path: str | Path) -> str:
    """A UTF-8 text file, whole; bad bytes are reported by line, as for corpora."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TaggerError(f"cannot read ({err.strerror})", path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TaggerError(f"not UTF-8 (byte 0x{data[err.start]:02x})", path, line) from None
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise TaggerError("the file holds no text", path)
    return text


def corpus_text(sentences: Sequence) -> str:
    """Tokenised sentences (a CoNLL corpus) as raw text: words joined by spaces, a line each."""
    return "".join(" ".join(s.words) + "\n" for s in sentences)


def symbols(text: str, level: str, lowercase: bool = False) -> list[str]:
    if lowercase:
        text = text.lower()
    if level == "char":
        return list(text)
    out: list[str] = []
    for line in text.split("\n"):
        words = line.split()
        if words:
            out.extend(words)
            out.append(EOS)
    return out


def build_vocab(stream: Sequence[str], level: str, min_freq: int = 1, max_vocab: int = 50_000) -> Vocab:
    counts = Counter(stream)
    if level == "word":
        kept = sorted((s for s, c in counts.items() if c >= min_freq), key=lambda s: (-counts[s], s))
        kept = [s for s in kept if s not in (PAD, UNK, EOS)][: max(0, max_vocab - 3)]
        return Vocab([PAD, UNK, EOS] + kept)
    return Vocab.build(counts, 1)


def to_ids(stream: Sequence[str], vocab: Vocab) -> Tensor:
    return torch.tensor(vocab.ids(stream), dtype=torch.long)


def stream(text: str, level: str, lowercase: bool = False, reverse: bool = False) -> list[str]:
    """The symbols a model reads, in the order it reads them (right to left for a backward LM)."""
    syms = symbols(text, level, lowercase)
    return syms[::-1] if reverse else syms
