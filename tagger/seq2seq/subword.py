"""Vocabularies of a translation model: SentencePiece BPE or unigram subwords, words,
or characters; each turns text into ids and back.

Every kind has the same four special ids: ``<pad>`` 0, ``<unk>`` 1, ``<s>`` 2, ``</s>`` 3.
A SentencePiece model is stored as its serialized protobuf (base64 in ``vocab.json``),
which SentencePiece loads itself; nothing is unpickled.
"""
from __future__ import annotations

import base64
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from ..errors import TaggerError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
# Word level: words and punctuation marks apart; the detokenizer glues them back.
_WORDS = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]", re.UNICODE)
_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}'’]|n't)")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")


class Subwords:
    """Text <-> ids for one side (or both, when shared)."""

    kind: str

    def __len__(self) -> int:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def pieces(self, ids: Sequence[int]) -> list[str]:
        raise NotImplementedError

    def to_json(self) -> dict:
        raise NotImplementedError

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]


class SentencePieceVocab(Subwords):
    def __init__(self, proto: bytes, kind: str, lowercase: bool = False):
        import sentencepiece as spm

        self.proto, self.kind, self.lowercase = proto, kind, lowercase
        self.sp = spm.SentencePieceProcessor(model_proto=proto)

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text.lower() if self.lowercase else text)

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        return self.sp.encode([t.lower() if self.lowercase else t for t in texts])

    def decode(self, ids: Sequence[int]) -> str:
        return self.sp.decode([int(i) for i in ids])

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.sp.id_to_piece(int(i)) for i in ids]

    def to_json(self) -> dict:
        return {"kind": self.kind, "lowercase": self.lowercase, "model": base64.b64encode(self.proto).decode("ascii")}

    @classmethod
    def train(cls, texts: Iterable[str], kind: str, size: int, lowercase: bool = False) -> SentencePieceVocab:
        import sentencepiece as spm

        texts = [t.lower() if lowercase else t for t in texts]
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, model_type=kind, vocab_size=size,
            # A smaller vocabulary than asked when the data has too few pieces, not an error.
            hard_vocab_limit=False, character_coverage=1.0, pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID,
            eos_id=EOS_ID, num_threads=1, minloglevel=2, input_sentence_size=2_000_000, shuffle_input_sentence=False,
        )
        return cls(model.getvalue(), kind, lowercase)


class SymbolVocab(Subwords):
    """Word or character level: a list of symbols after the four specials."""

    def __init__(self, symbols: Sequence[str], kind: str, lowercase: bool = False):
        self.itos = list(SPECIALS) + [s for s in symbols if s not in SPECIALS]
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.kind, self.lowercase = kind, lowercase

    def __len__(self) -> int:
        return len(self.itos)

    def split(self, text: str) -> list[str]:
        text = text.lower() if self.lowercase else text
        if self.kind == "char":
            return list(" ".join(text.split()).replace(" ", "▁"))
        return _WORDS.findall(text)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(s, UNK_ID) for s in self.split(text)]

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def decode(self, ids: Sequence[int]) -> str:
        symbols = [s for s in self.pieces(ids) if s not in SPECIALS[:1] + SPECIALS[2:]]
        if self.kind == "char":
            return "".join(symbols).replace("▁", " ").strip()
        return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", " ".join(symbols)))

    def to_json(self) -> dict:
        return {"kind": self.kind, "lowercase": self.lowercase, "symbols": self.itos[len(SPECIALS):]}

    @classmethod
    def train(cls, texts: Iterable[str], kind: str, size: int, min_freq: int = 1, lowercase: bool = False) -> SymbolVocab:
        blank = cls([], kind, lowercase)
        counts = Counter(s for t in texts for s in blank.split(t))
        kept = sorted((s for s, c in counts.items() if c >= min_freq), key=lambda s: (-counts[s], s))
        return cls(kept[: max(size - len(SPECIALS), 0)], kind, lowercase)


def train_vocab(texts: Sequence[str], kind: str, size: int, min_freq: int = 1, lowercase: bool = False) -> Subwords:
    if kind in ("bpe", "unigram"):
        return SentencePieceVocab.train(texts, kind, size, lowercase)
    return SymbolVocab.train(texts, kind, size, min_freq, lowercase)


def vocab_from_json(raw: dict, origin: str) -> Subwords:
    """A vocabulary from its ``to_json`` form; anything malformed is one error naming the file."""
    try:
        kind, lowercase = raw["kind"], bool(raw.get("lowercase", False))
        if kind in ("bpe", "unigram"):
            return SentencePieceVocab(base64.b64decode(raw["model"], validate=True), kind, lowercase)
        if kind in ("word", "char") and all(isinstance(s, str) for s in raw["symbols"]):
            return SymbolVocab(raw["symbols"], kind, lowercase)
        raise ValueError(f"unknown kind {kind!r}")
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise TaggerError(f"malformed vocabulary ({err})", origin) from None
