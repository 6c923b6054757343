"""The recurrent language-model network: embedding -> stacked single-direction RNN
layers -> a linear layer onto the vocabulary. Plain arguments only; the model
family (``tagger.lm.model``) builds it from its recipe and owns its directory."""
from __future__ import annotations

from torch import Tensor, nn

from .encode import CELLS

State = list  # one entry per layer: h, or (h, c) for an LSTM


class RecurrentLM(nn.Module):
    """The layers are kept separate (not one multi-layer ``nn.LSTM``) so each layer's
    states can be read: the tagger reads the top layer, ``lm inspect`` any layer."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "lstm",
        dropout: float = 0.0,
        tie_weights: bool = False,
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        rnn = CELLS[cell]
        dims = [embed_dim] + [hidden_size] * num_layers
        self.layers = nn.ModuleList(rnn(dims[i], dims[i + 1], batch_first=True) for i in range(num_layers))
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, vocab_size)
        self.hidden_size = hidden_size
        if tie_weights:
            self.out.weight = self.embed.weight

    @property
    def hidden_dim(self) -> int:
        return self.hidden_size

    def run(self, ids: Tensor, state: State | None = None) -> tuple[list[Tensor], State]:
        """Every layer's outputs [B, T, H] for ids [B, T], and the state after the last step."""
        x = self.drop(self.embed(ids))
        outputs, new_state = [], []
        for i, layer in enumerate(self.layers):
            x, s = layer(x, None if state is None else state[i])
            outputs.append(x)
            new_state.append(s)
            x = self.drop(x)
        return outputs, new_state

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Next-symbol logits [B, T, V] and the carried state."""
        outputs, state = self.run(ids, state)
        return self.out(self.drop(outputs[-1])), state
