"""bfloat16 recurrent layers for prediction (``quantize="bf16"``): the same results as
float32 within bfloat16's rounding, float32 everywhere outside the recurrent layers."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tagger.nn.precision import _cast, recurrent_in_bf16


class TwoRecurrentLayers(nn.Module):
    """A packed bidirectional 2-layer LSTM, then a GRU handed its start state by keyword."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(12, 32, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(64, 16, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor):
        packed, (h, c) = self.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        out, _ = pad_packed_sequence(packed, batch_first=True, total_length=x.shape[1])
        return self.gru(out, hx=h0)[0], h, c


def test_recurrent_layers_run_in_bf16_and_answer_in_float32_close_to_float32():
    torch.manual_seed(0)
    fp32 = TwoRecurrentLayers().eval()
    bf16 = recurrent_in_bf16(copy.deepcopy(fp32))
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    x, lengths, h0 = torch.randn(5, 9, 12), torch.tensor([9, 1, 4, 9, 2]), torch.randn(1, 5, 16)
    with torch.inference_mode():
        expected, got = fp32(x, lengths, h0), bf16(x, lengths, h0)
    for e, g in zip(expected, got, strict=True):
        assert g.dtype == torch.float32 and g.shape == e.shape
        # bfloat16 keeps 8 bits of mantissa (relative error 2**-8 per product); the states are in (-1, 1)
        assert (g - e).abs().max() < 0.03
        assert not torch.equal(g, e)  # it really ran in bfloat16


def test_cast_changes_floating_tensors_only_and_keeps_the_containers():
    packed = pack_padded_sequence(torch.randn(2, 3, 4), torch.tensor([3, 1]), batch_first=True)
    value = {"x": (packed, [torch.ones(2), torch.tensor([1, 2])]), "n": 3, "none": None}
    cast = _cast(value, torch.bfloat16)
    assert isinstance(cast["x"][0], type(packed)) and cast["x"][0].data.dtype == torch.bfloat16
    assert torch.equal(cast["x"][0].batch_sizes, packed.batch_sizes)  # int64 lengths untouched
    assert isinstance(cast["x"][1], list) and cast["x"][1][0].dtype == torch.bfloat16
    assert cast["x"][1][1].dtype == torch.int64 and cast["n"] == 3 and cast["none"] is None


@pytest.mark.parametrize("layers", [1, 2])
def test_lm_windows_in_bf16_carry_the_state(layers):
    """A char LM reads long strings in windows with the state carried between calls: the
    carried state goes back in through the hook as bfloat16."""
    from tagger.nn.lm import RecurrentLM

    torch.manual_seed(0)
    lm = RecurrentLM(vocab_size=20, embed_dim=6, hidden_size=16, num_layers=layers).eval()
    bf16 = recurrent_in_bf16(copy.deepcopy(lm))
    ids = torch.randint(0, 20, (3, 30))
    with torch.inference_mode():
        whole = bf16.run(ids)[0][-1]
        first, state = bf16.run(ids[:, :13])
        second, _ = bf16.run(ids[:, 13:], state)
        reference = lm.run(ids)[0][-1]
    assert torch.allclose(torch.cat([first[-1], second[-1]], dim=1), whole, atol=0.02)
    assert (whole - reference).abs().max() < 0.03
