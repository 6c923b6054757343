"""Texts in, translations out: subword encoding, batches sorted by length, decoding,
the input order restored. Shared by the training task's validation and by prediction."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .config import DecodeConfig
from .model import Seq2Seq
from .search import beam_search, length_limits
from .subword import EOS_ID, PAD_ID, Subwords


@dataclass
class Translation:
    text: str
    source_pieces: list[str]
    target_pieces: list[str]
    score: float  # log-probability of the target pieces and </s>
    attention: Tensor | None = None  # (target pieces + 1, source pieces + 1): rows end with </s>, columns too


def pad(sequences: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """A padded (N, longest) tensor and the lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    out = torch.full((len(sequences), int(lengths.max()) if len(sequences) else 0), PAD_ID, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out.to(device), lengths


def source_ids(vocab: Subwords, text: str) -> list[int]:
    """A source sentence's ids, ending with ``</s>`` (so an empty sentence still has one token)."""
    return vocab.encode(text) + [EOS_ID]


@torch.inference_mode()
def translate(model: Seq2Seq, src_vocab: Subwords, tgt_vocab: Subwords, texts: Sequence[str], decode: DecodeConfig,
              beam: int | None = None, batch_size: int = 64, want_attention: bool = False) -> list[Translation]:
    """Translations of ``texts`` in their order; an empty (or blank) text gives an empty one."""
    model.eval()
    device = next(model.parameters()).device
    beam = decode.beam if beam is None else beam
    ids = [source_ids(src_vocab, t) if t.strip() else [] for t in texts]
    out: list[Translation | None] = [None] * len(texts)
    order = sorted((i for i in range(len(texts)) if ids[i]), key=lambda i: len(ids[i]))
    for i in range(len(texts)):
        if not ids[i]:
            out[i] = Translation("", [], [], 0.0, None)
    # Beam search holds `beam` hypotheses per sentence: fewer sentences per batch.
    step = max(1, batch_size // max(1, beam // 2))
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        src, lengths = pad([ids[i] for i in chunk], device)
        limits = length_limits(lengths - 1, decode.max_len_a, decode.max_len_b, decode.max_len)
        hyps = beam_search(model, src, lengths, limits, beam, decode.length_penalty, want_attention)
        for j, i in enumerate(chunk):
            toks = hyps.tokens[j]
            out[i] = Translation(tgt_vocab.decode(toks), src_vocab.pieces(ids[i][:-1]), tgt_vocab.pieces(toks),
                                 hyps.scores[j], None if hyps.attention is None else hyps.attention[j])
    return out  # type: ignore[return-value]
