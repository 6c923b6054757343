"""Vocabularies (string <-> id) with a JSON round trip, and the word/casing keys they index."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

PAD = "<pad>"
UNK = "<unk>"

_DIGITS = re.compile(r"[0-9]")


@dataclass
class Vocab:
    """An ordered list of symbols; ``<pad>`` is id 0 and, when present, ``<unk>`` is id 1."""

    itos: list[str]

    def __post_init__(self) -> None:
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.unk_id = self.stoi.get(UNK)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self.stoi

    def id(self, symbol: str) -> int:
        found = self.stoi.get(symbol, self.unk_id)
        if found is None:
            raise KeyError(symbol)
        return found

    def ids(self, symbols: Iterable[str]) -> list[int]:
        stoi, unk = self.stoi, self.unk_id
        if unk is None:
            return [stoi[s] for s in symbols]
        return [stoi.get(s, unk) for s in symbols]

    @classmethod
    def build(
        cls, counts: Counter[str], min_freq: int = 1, specials: tuple[str, ...] = (PAD, UNK)
    ) -> "Vocab":
        # Sorting by (-count, symbol) keeps ids identical across runs and machines.
        kept = sorted((s for s, c in counts.items() if c >= min_freq), key=lambda s: (-counts[s], s))
        return cls(list(specials) + [s for s in kept if s not in specials])


def word_key(word: str, lowercase: bool, normalize_digits: bool) -> str:
    """The string a word embedding is looked up by."""
    if lowercase:
        word = word.lower()
    if normalize_digits:
        word = _DIGITS.sub("0", word)
    return word


CASINGS = (PAD, "lower", "upper", "title", "mixed", "numeric", "has_digit", "punct", "other")
_CASING_ID = {c: i for i, c in enumerate(CASINGS)}
_PUNCT = re.compile(r"^[^\w\s]+$")


def casing(word: str) -> int:
    """A small categorical feature that keeps what lowercasing the word key throws away."""
    if word.isdigit():
        kind = "numeric"
    elif any(ch.isdigit() for ch in word):  # before the case tests: "3rd".islower() is True
        kind = "has_digit"
    elif word.islower():
        kind = "lower"
    elif word.isupper():
        kind = "upper"
    elif word[:1].isupper() and word[1:].islower():
        kind = "title"
    elif _PUNCT.match(word):
        kind = "punct"
    elif any(ch.isalpha() for ch in word):
        kind = "mixed"
    else:
        kind = "other"
    return _CASING_ID[kind]
