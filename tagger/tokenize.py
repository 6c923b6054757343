"""Tokenizers for raw text, by name (``TOKENIZERS``, the ``tokenizers`` registry).

A model records its tokenizer in ``recipe.data.tokenizer``; the same one splits
raw text at training time (text-classification files) and at prediction, so a
model always reads words the way it was trained.

* ``conll`` (the default): CoNLL-style words and punctuation, what NER models use;
* ``whitespace``: split on runs of whitespace, nothing else;
* ``ptb``: Penn-Treebank-style, as SST-2 is tokenized: punctuation split off, and
  clitics too (``doesn't`` -> ``does n't``, ``it's`` -> ``it 's``); already
  tokenized text (``does n't``) comes back unchanged.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from .registry import tokenizers as TOKENIZERS

# Abbreviations with inner dots (U.S., e.g.) stay whole; other punctuation is split
# off the way the CoNLL-2003 annotators did ("lamb." -> "lamb", ".").
_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|\d+(?:[.,]\d+)+|\w+(?:[-'’]\w+)*|[^\w\s]")

_PTB = re.compile(
    r"""
      (?:[A-Za-z]\.){2,}                        # U.S., e.t.
    | (?:mrs|mr|ms|dr|vs|jr|sr)\.(?!\w)         # common abbreviations
    | \d+(?:[.,/]\d+)+                          # 1,000.5  1/2
    | \w+(?=n['’]t\b)                           # do|n't  ca|n't
    | n['’]t\b                                  # n't
    | ['’](?:s|re|ve|ll|d|m)\b                  # 's 're 've 'll 'd 'm
    | \w+(?:-\w+)*                              # words, hyphenated words
    | \.\.\.|--|``|''                           # multi-character punctuation
    | [^\w\s]                                   # any other symbol
    """,
    re.VERBOSE | re.IGNORECASE,
)


def conll_tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def whitespace_tokenize(text: str) -> list[str]:
    return text.split()


def ptb_tokenize(text: str) -> list[str]:
    return _PTB.findall(text)


TOKENIZERS.register("conll", conll_tokenize)
TOKENIZERS.register("whitespace", whitespace_tokenize)
TOKENIZERS.register("ptb", ptb_tokenize)


def get_tokenizer(name: str) -> Callable[[str], list[str]]:
    """The tokenizer registered as ``name``; an unknown name is a :class:`TaggerError`."""
    return TOKENIZERS[name]


def tokenize(text: str, tokenizer: str = "conll") -> list[str]:
    return get_tokenizer(tokenizer)(text)
