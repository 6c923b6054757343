"""A trained translation model for prediction: ``tagger.load(MODEL).predict(texts)``."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from ..device import resolve_device
from .config import Seq2SeqRecipe
from .model import Seq2Seq
from .modeldir import load_model
from .subword import Subwords
from .translate import Translation, translate


class Translator:
    """Translates plain sentences; an empty sentence gives an empty translation."""

    def __init__(self, model: Seq2Seq, recipe: Seq2SeqRecipe, src_vocab: Subwords, tgt_vocab: Subwords):
        self.model, self.recipe = model.eval(), recipe
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.beam = recipe.decode.beam
        self.batch_size = 64

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Translator:
        model, recipe, src, tgt = load_model(path, resolve_device(device))
        return cls(model, recipe, src, tgt)

    @property
    def languages(self) -> tuple[str, str]:
        return self.recipe.data.source_lang, self.recipe.data.target_lang

    def translations(self, texts: Sequence[str], beam: int | None = None, want_attention: bool = False) -> list[Translation]:
        """Full results: text, subword pieces, score and (when asked) the attention matrix."""
        return translate(self.model, self.src_vocab, self.tgt_vocab, list(texts), self.recipe.decode,
                         self.beam if beam is None else beam, self.batch_size, want_attention)

    def translate(self, texts: Sequence[str], beam: int | None = None) -> list[str]:
        return [t.text for t in self.translations(texts, beam)]

    def predict(self, texts: str | Sequence[str], beam: int | None = None) -> list[str]:
        """Translations of a sentence or a list of sentences (``tagger.load(MODEL).predict``)."""
        return self.translate([texts] if isinstance(texts, str) else list(texts), beam)

    def stream(self, lines: Iterable[str], beam: int | None = None, chunk: int = 64) -> Iterator[str]:
        """One translation per input line, in order, a chunk at a time (nothing read ahead beyond it)."""
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= chunk:
                yield from self.translate(buffer, beam)
                buffer = []
        if buffer:
            yield from self.translate(buffer, beam)

    @torch.inference_mode()
    def score(self, texts: Sequence[str], beam: int | None = None) -> list[float]:
        return [t.score for t in self.translations(texts, beam)]
