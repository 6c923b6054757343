"""Recurrent layers in bfloat16 for prediction (``tagger.load(DIR, quantize="bf16")``).

On CPUs with bfloat16 matrix units (Intel AMX or AVX512-BF16: Xeon 4th generation and
later, AMD Zen 4 and later) oneDNN runs an LSTM's matrix products in bfloat16 several
times faster than in float32. Only the recurrent layers change: each keeps its class and
attributes, its weights become bfloat16, and hooks cast what goes in to bfloat16 and what
comes out back to the caller's float32, so the rest of the model never sees the
difference beyond bfloat16's rounding (8 bits of mantissa in the products; oneDNN sums
them in float32).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


def recurrent_in_bf16(model: nn.Module) -> nn.Module:
    """``model`` (changed in place) with every RNN, GRU and LSTM in bfloat16."""
    for module in model.modules():
        if isinstance(module, nn.RNNBase):
            module.to(torch.bfloat16)
            module.register_forward_pre_hook(_inputs_to_bf16, with_kwargs=True)
            module.register_forward_hook(_outputs_to_float32)
    return model


def _inputs_to_bf16(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    return _cast(args, torch.bfloat16), _cast(kwargs, torch.bfloat16)


def _outputs_to_float32(module: nn.Module, args: tuple, output: Any) -> Any:
    return _cast(output, torch.float32)


def _cast(value: Any, dtype: torch.dtype) -> Any:
    """``value`` with its floating-point tensors (inside packed sequences, tuples, lists and
    dicts too) in ``dtype``; integer tensors (lengths, batch sizes) unchanged."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, PackedSequence):  # before tuple: it is a named tuple
        return value._replace(data=_cast(value.data, dtype))
    if isinstance(value, (tuple, list)):
        return type(value)(_cast(item, dtype) for item in value)
    if isinstance(value, dict):
        return {key: _cast(item, dtype) for key, item in value.items()}
    return value
