"""Raw text to symbol streams: characters, or words with an end-of-line symbol.

A language model's vocabulary is built from its training text only; symbols it has
never seen map to ``<unk>``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..errors import TaggerError
from ..vocab import PAD, UNK, Vocab

if TYPE_CHECKING:
    from .config import LMDataConfig

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


def load_lm_text(data: "LMDataConfig") -> tuple[str, str | None, str]:
    """(training text, held-out text or None, a description) of a recipe's ``[data]``:
    ``train`` is a text file, an annotated corpus file (its words, a sentence a line),
    or a named recipe's data source (its training split's words; its dev split is
    held out unless ``valid`` is given)."""
    from ..config import DataConfig, HeadConfig, Recipe, load_recipe_dict
    from ..corpus import load_corpus, read_file

    def read(path: Path) -> str:
        if data.format == "text":
            return read_text(path)
        task = "upos" if data.format == "conllu" else "tags"
        heads = [HeadConfig(task=task, kind="softmax", span=False)]
        return corpus_text(read_file(path, DataConfig(source=None, format=data.format, field="upos"), heads))

    if not data.train:
        raise TaggerError("no training text: give a text file, a corpus file or a named source (data.train)")
    path = Path(data.train)
    valid = Path(data.valid) if data.valid else None
    if path.exists():
        return read(path), (read(valid) if valid else None), str(path)
    try:
        raw, origin = load_recipe_dict(data.train)
    except TaggerError:
        raise TaggerError(f"'{data.train}' is neither a file nor a named data source (try a .txt file, or conll2003)") from None
    recipe = Recipe.from_dict(raw, origin)
    if data.data_dir:
        recipe.data.data_dir = data.data_dir
    splits = load_corpus(recipe.data, recipe.heads, ("train", "valid"))
    held_out = read(valid) if valid else corpus_text(splits["valid"])
    return corpus_text(splits["train"]), held_out, f"{data.train} (training split's words)"
