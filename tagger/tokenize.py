"""The tokenizer for raw text given to ``predict``: CoNLL-style words and punctuation."""
from __future__ import annotations

import re

# Abbreviations with inner dots (U.S., e.g.) stay whole; other punctuation is split
# off the way the CoNLL-2003 annotators did ("lamb." -> "lamb", ".").
_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|\d+(?:[.,]\d+)+|\w+(?:[-'’]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)
