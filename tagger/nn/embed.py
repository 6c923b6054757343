"""Token representations: word lookup, casing, a character encoder, optional vectors."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..registry import char_encoders as CHAR_ENCODERS
from ..vocab import CASINGS
from .dropout import make_dropout


class CharCNN(nn.Module):
    """Ma & Hovy (2016): convolution over a word's characters, max-pooled."""

    def __init__(self, n_chars: int, dim: int, filters: int, kernel: int):
        super().__init__()
        self.embed = nn.Embedding(n_chars, dim, padding_idx=0)
        if kernel % 2 == 0:
            raise ValueError(f"char_kernel must be odd (got {kernel}) so each output sits on a character")
        self.conv = nn.Conv1d(dim, filters, kernel, padding=kernel // 2)
        self.out_dim = filters

    def forward(self, chars: Tensor) -> Tensor:  # [N, W] -> [N, filters]
        x = self.conv(self.embed(chars).transpose(1, 2))  # [N, F, W']
        pad = (chars == 0)[:, None, : x.shape[2]]
        return torch.tanh(x.masked_fill(pad, float("-inf")).amax(dim=2))


class CharLSTM(nn.Module):
    """Lample et al. (2016): the last states of a BiLSTM run over a word's characters."""

    def __init__(self, n_chars: int, dim: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(n_chars, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, chars: Tensor) -> Tensor:
        lengths = (chars != 0).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(chars), lengths, batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.lstm(packed)  # h: [2, N, hidden]
        return torch.cat([h[0], h[1]], dim=1)


# name -> (num_chars, char_dim, char_hidden, char_kernel) -> a char encoder module, or None for none.
CHAR_ENCODERS.register("cnn", lambda num_chars, dim, hidden, kernel: CharCNN(num_chars, dim, hidden, kernel))
CHAR_ENCODERS.register("lstm", lambda num_chars, dim, hidden, kernel: CharLSTM(num_chars, dim, hidden))
CHAR_ENCODERS.register("none", lambda num_chars, dim, hidden, kernel: None)


class Embedder(nn.Module):
    """A token as [word embedding; casing embedding; char encoding; char-LM states],
    with dropout (``locked_dropout``: one mask per sentence). ``charlm`` is a module
    ``(inputs, mask, rows) -> [B, T, out_dim]`` (:class:`tagger.nn.charlm.CharLMEmbedding`;
    ``rows``: which row of the LM inputs each sentence reads)."""

    def __init__(
        self,
        num_words: int,
        word_dim: int,
        num_chars: int,
        *,
        casing_dim: int = 0,
        char_encoder: str = "cnn",
        char_dim: int = 30,
        char_hidden: int = 50,
        char_kernel: int = 3,
        charlm: nn.Module | None = None,
        dropout: float = 0.0,
        locked_dropout: bool = False,
    ):
        super().__init__()
        self.word = nn.Embedding(num_words, word_dim, padding_idx=0)
        nn.init.uniform_(self.word.weight, -0.1, 0.1)
        self.casing = nn.Embedding(len(CASINGS), casing_dim, padding_idx=0) if casing_dim else None
        self.chars = CHAR_ENCODERS[char_encoder](num_chars, char_dim, char_hidden, char_kernel)
        self.charlm = charlm
        self.dropout = make_dropout(dropout, locked_dropout)
        self.out_dim = word_dim + casing_dim + (self.chars.out_dim if self.chars else 0) + (charlm.out_dim if charlm else 0)

    def forward(
        self,
        words: Tensor,
        casing: Tensor,
        chars: Tensor,
        mask: Tensor,
        lm: dict[str, tuple[Tensor, Tensor]] | None = None,
        lm_feats: Tensor | None = None,
        lm_rows: Tensor | None = None,
    ) -> Tensor:
        parts = [self.word(words)]
        if self.casing is not None:
            parts.append(self.casing(casing))
        if self.chars is not None:
            # Each distinct spelling once: words repeat (the, a, ...), most of all in long
            # documents, and the char encoder is the costliest part of the embedder.
            unique, inverse = torch.unique(chars, dim=0, return_inverse=True)
            per_token = self.chars(unique)[inverse]
            # Only real tokens went through the char encoder; put them back in their slots.
            grid = per_token.new_zeros(*mask.shape, per_token.shape[1])
            grid[mask] = per_token
            parts.append(grid)
        if self.charlm is not None:
            # Frozen LMs' features may come precomputed (training computes them once).
            parts.append(lm_feats.to(parts[0].dtype) if lm_feats is not None else self.charlm(lm, mask, lm_rows))
        return self.dropout(torch.cat(parts, dim=-1))
