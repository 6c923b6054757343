"""Stacked (bi)directional recurrent encoders over packed sequences."""
from __future__ import annotations

from torch import Tensor, nn

from ..registry import cells as CELLS
from .dropout import make_dropout

# name -> a torch.nn.RNNBase subclass, called (input_size, hidden_size, num_layers=..., ...)
CELLS.register("rnn", nn.RNN)
CELLS.register("gru", nn.GRU)
CELLS.register("lstm", nn.LSTM)


class Encoder(nn.Module):
    """A ``cell`` RNN (``CELLS``: rnn, gru, lstm) of ``num_layers`` layers over packed
    sentences, ``dropout`` between the layers and (``locked_dropout``: one mask per
    sentence) on its output; ``out_dim`` is ``hidden_size`` times the directions."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        cell: str = "lstm",
        locked_dropout: bool = False,
    ):
        super().__init__()
        self.rnn = CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = make_dropout(dropout, locked_dropout)
        self.out_dim = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.with_final_state(x, lengths)[0]

    def with_final_state(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """The outputs (N, T, out_dim) and the RNN's final state at each sentence's
        real end: ``h`` (layers * directions, N, hidden), or ``(h, c)`` for an LSTM."""
        # Packing means the backward direction starts at each sentence's real end,
        # so padding never changes a result.
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.dropout(out), final
