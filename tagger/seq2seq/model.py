"""An encoder-decoder with attention (Sutskever et al. 2014; Bahdanau et al. 2015; Luong
et al. 2015).

The encoder embeds the source subwords and runs a bidirectional stacked RNN/GRU/LSTM
over them; its last layer's final states (both directions) are projected into the
decoder's initial state. At each target step the decoder RNN reads the previous target
token (and, with input feeding, the previous attentional state), its top state
queries the encoder states through an attention score function, and the attentional
state ``tanh(W_c [s_t; c_t])`` gives the next-token distribution. ``attention = "none"``
is the single-vector model: the decoder sees the source only through its initial state.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..nn.encode import Encoder
from ..registry import cells as CELLS
from .config import Seq2SeqModelConfig
from .subword import PAD_ID

ATTENTIONS: dict[str, type[Attention]] = {}
State = Tensor | tuple[Tensor, Tensor]


def register_attention(name: str) -> Callable[[type], type]:
    def add(cls: type) -> type:
        ATTENTIONS[name] = cls
        return cls

    return add


class Attention(nn.Module):
    """A score function: ``prepare`` the keys once per source batch, then ``scores``
    queries (N, T, Q) against them: (N, T, S)."""

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int):
        super().__init__()

    def prepare(self, keys: Tensor) -> Tensor:
        return keys

    def scores(self, queries: Tensor, prepared: Tensor) -> Tensor:
        raise NotImplementedError


@register_attention("bahdanau")
class AdditiveAttention(Attention):
    """``w2ᵀ tanh(W1 [q; k])``; W1 is kept as its query and key blocks, so the key half
    is computed once per sentence instead of once per step."""

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int):
        super().__init__(query_dim, key_dim, attention_dim)
        self.query = nn.Linear(query_dim, attention_dim, bias=False)
        self.key = nn.Linear(key_dim, attention_dim)
        self.w2 = nn.Linear(attention_dim, 1, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        return self.key(keys)

    def scores(self, queries: Tensor, prepared: Tensor) -> Tensor:
        hidden = torch.tanh(self.query(queries).unsqueeze(2) + prepared.unsqueeze(1))  # N, T, S, A
        return self.w2(hidden).squeeze(-1)


@register_attention("luong")
class BilinearAttention(Attention):
    """``qᵀ W k`` (Luong's "general")."""

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int):
        super().__init__(query_dim, key_dim, attention_dim)
        self.W = nn.Linear(key_dim, query_dim, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        return self.W(keys)

    def scores(self, queries: Tensor, prepared: Tensor) -> Tensor:
        return queries @ prepared.transpose(1, 2)


@register_attention("dot")
class DotAttention(Attention):
    """``qᵀ k``: no parameters; the query and key sizes must agree."""

    def scores(self, queries: Tensor, prepared: Tensor) -> Tensor:
        return queries @ prepared.transpose(1, 2)


def attend(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the source positions, padding (``mask`` False) weighted exactly 0."""
    return torch.softmax(scores.masked_fill(~mask.unsqueeze(1), float("-inf")), dim=-1)


@dataclass
class Encoded:
    keys: Tensor  # N, S, 2H: the encoder states
    prepared: Tensor | None  # the keys as the score function wants them
    mask: Tensor  # N, S: True on real tokens

    def select(self, index: Tensor) -> Encoded:
        return Encoded(self.keys[index], None if self.prepared is None else self.prepared[index], self.mask[index])


@dataclass
class Step:
    log_probs: Tensor  # N, V
    state: State
    feed: Tensor  # N, E: the attentional state (fed to the next step with input feeding)
    weights: Tensor | None  # N, S: attention over the source


def map_state(state: State, fn: Callable[[Tensor], Tensor]) -> State:
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)  # type: ignore[return-value]


def upgrade_weights(weights: dict[str, Tensor]) -> dict[str, Tensor]:
    """Models saved before the encoder was the toolkit's ``nn.encode.Encoder`` hold its
    RNN's weights as ``encoder.weight_ih_l0`` (now ``encoder.rnn.weight_ih_l0``)."""
    old = ("encoder.weight_", "encoder.bias_")
    return {("encoder.rnn." + k[len("encoder."):] if k.startswith(old) else k): v for k, v in weights.items()}


class Seq2Seq(nn.Module):
    def __init__(self, cfg: Seq2SeqModelConfig, src_vocab: int, tgt_vocab: int):
        super().__init__()
        self.cfg = cfg
        E, H, D = cfg.embed_dim, cfg.hidden, cfg.dec_hidden
        cell = CELLS[cfg.cell]  # the toolkit's registry of recurrent cells
        self.src_embed = nn.Embedding(src_vocab, E, padding_idx=PAD_ID)
        self.tgt_embed = nn.Embedding(tgt_vocab, E, padding_idx=PAD_ID)
        # The toolkit's encoder (dropout between its layers and on its output).
        self.encoder = Encoder(E, H, num_layers=cfg.layers, bidirectional=True, dropout=cfg.dropout, cell=cfg.cell)
        # The final forward and backward states of the top encoder layer -> every decoder layer's start.
        self.bridge = nn.Linear(2 * H, cfg.dec_layers * D)
        self.bridge_cell = nn.Linear(2 * H, cfg.dec_layers * D) if cfg.cell == "lstm" else None
        self.decoder = cell(E + (E if cfg.input_feeding else 0), D, num_layers=cfg.dec_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.dec_layers > 1 else 0.0)
        self.attention = ATTENTIONS[cfg.attention](D, 2 * H, cfg.attention_dim) if cfg.attention != "none" else None
        self.combine = nn.Linear(D + (2 * H if self.attention is not None else 0), E)
        self.out = nn.Linear(E, tgt_vocab)
        if cfg.tie_embeddings:
            self.out.weight = self.tgt_embed.weight
        self.drop = nn.Dropout(cfg.dropout)

    # ------------------------------------------------------------------ encoder

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Encoded, State]:
        """The encoder states of a padded batch (N, S) and the decoder's initial state."""
        x = self.drop(self.src_embed(src))
        keys, final = self.encoder.with_final_state(x, src_len)
        h = final[0] if isinstance(final, tuple) else final  # (layers * 2, N, H)
        L, D = self.cfg.dec_layers, self.cfg.dec_hidden

        def start(proj: nn.Linear, last: Tensor) -> Tensor:
            both = torch.cat([last[-2], last[-1]], dim=-1)  # the top layer's forward and backward final states
            return torch.tanh(proj(both)).view(-1, L, D).transpose(0, 1).contiguous()

        state: State = start(self.bridge, h)
        if self.bridge_cell is not None:
            state = (state, start(self.bridge_cell, final[1]))
        mask = torch.arange(src.shape[1], device=src.device).unsqueeze(0) < src_len.to(src.device).unsqueeze(1)
        prepared = self.attention.prepare(keys) if self.attention is not None else None
        return Encoded(keys, prepared, mask), state

    # ------------------------------------------------------------------ decoder

    def _attentional(self, top: Tensor, enc: Encoded) -> tuple[Tensor, Tensor | None]:
        """``tanh(W_c [s; c])`` for decoder top states (N, T, D), and the weights (N, T, S)."""
        if self.attention is None:
            return torch.tanh(self.combine(top)), None
        weights = attend(self.attention.scores(top, enc.prepared), enc.mask)
        context = weights @ enc.keys
        return torch.tanh(self.combine(torch.cat([top, context], dim=-1))), weights

    def step(self, prev: Tensor, state: State, feed: Tensor, enc: Encoded) -> Step:
        """One decoder step for N hypotheses: the previous tokens (N,) -> next-token log-probs."""
        x = self.drop(self.tgt_embed(prev)).unsqueeze(1)
        if self.cfg.input_feeding:
            x = torch.cat([x, feed.unsqueeze(1)], dim=-1)
        top, state = self.decoder(x, state)
        hidden, weights = self._attentional(top, enc)
        hidden = hidden.squeeze(1)
        log_probs = torch.log_softmax(self.out(self.drop(hidden)).float(), dim=-1)
        return Step(log_probs, state, hidden, None if weights is None else weights.squeeze(1))

    def initial_feed(self, n: int, device: torch.device) -> Tensor:
        return torch.zeros(n, self.cfg.embed_dim, device=device)

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (N, T, V) for the target inputs (``<s>`` y1 ... yT-1)."""
        enc, state = self.encode(src, src_len)
        emb = self.drop(self.tgt_embed(tgt_in))
        if not self.cfg.input_feeding:
            # Without input feeding the decoder RNN does not depend on attention: one call over all steps.
            top, _ = self.decoder(emb, state)
            hidden, _ = self._attentional(top, enc)
        else:
            hidden = self._fed_steps(emb, tgt_in, state, enc)
        return self.out(self.drop(hidden))

    def _fed_steps(self, emb: Tensor, tgt_in: Tensor, state: State, enc: Encoded) -> Tensor:
        """The decoder step by step with input feeding; in training with scheduled
        sampling, some steps read the model's own previous prediction."""
        feed = self.initial_feed(emb.shape[0], emb.device)
        sampling = self.cfg.scheduled_sampling if self.training else 0.0
        steps = []
        for t in range(tgt_in.shape[1]):
            x = emb[:, t : t + 1]
            if sampling > 0 and t > 0:
                own = self.tgt_embed(self.out(feed).argmax(-1, keepdim=True))
                chosen = torch.rand(emb.shape[0], 1, 1, device=emb.device) < sampling
                x = torch.where(chosen, self.drop(own), x)
            top, state = self.decoder(torch.cat([x, feed.unsqueeze(1)], dim=-1), state)
            h, _ = self._attentional(top, enc)
            feed = h.squeeze(1)
            steps.append(h)
        return torch.cat(steps, dim=1)
