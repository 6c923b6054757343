"""Stacked (bi)directional recurrent encoders over packed sequences."""
from __future__ import annotations

from torch import Tensor, nn

from ..config import EncoderConfig
from ..registry import cells as CELLS
from .dropout import make_dropout

# name -> a torch.nn.RNNBase subclass, called (input_size, hidden_size, num_layers=..., ...)
CELLS.register("rnn", nn.RNN)
CELLS.register("gru", nn.GRU)
CELLS.register("lstm", nn.LSTM)


class Encoder(nn.Module):
    def __init__(self, cfg: EncoderConfig, in_dim: int):
        super().__init__()
        self.rnn = CELLS[cfg.cell](
            in_dim,
            cfg.hidden,
            num_layers=cfg.layers,
            bidirectional=cfg.bidirectional,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.dropout = make_dropout(cfg.dropout, cfg.locked_dropout)
        self.out_dim = cfg.hidden * (2 if cfg.bidirectional else 1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        # Packing means the backward direction starts at each sentence's real end,
        # so padding never changes a result.
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.dropout(out)
