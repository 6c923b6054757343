"""Training checkpoints: one safetensors file, tensors plus JSON metadata, no pickle.

A checkpoint holds everything a killed run needs to continue as if it had never
stopped: the recipe and vocabularies, model and optimiser tensors, the scheduler
state, both random number generators and the loop's own counters.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from .errors import TaggerError
from .files import atomic_write, unshared

CHECKPOINT_FILE = "checkpoint.safetensors"


@dataclass
class LoopState:
    """Where the training loop is: epoch ``epoch`` with ``step`` batches already done."""

    epoch: int = 1
    step: int = 0
    epoch_rng: Any = None  # Python RNG state at the start of this epoch: regenerates its batch order
    best_score: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    total_loss: float = 0.0
    seen_tokens: int = 0
    seen_sentences: int = 0
    epoch_seconds: float = 0.0  # time already spent in this epoch before a resume
    elapsed: float = 0.0  # time already spent in the run before a resume
    world_size: int = 1  # training processes (torchrun): the epoch's batches depend on it
    records: list[dict] = field(default_factory=list)


def _flatten_optimizer(state: dict) -> tuple[dict[str, Tensor], dict]:
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer/{idx}/{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, idx, name = key.split("/", 2)
        state.setdefault(int(idx), {})[name] = value
    for idx, values in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    path: Path,
    *,
    config: dict,
    vocab_json: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule_state: dict,
    loop: LoopState,
    average: torch.nn.Module | None = None,
) -> None:
    """``average``: the trainer's moving average of the weights (``train.average``), if any."""
    tensors = unshared({f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    if average is not None:
        tensors.update({f"average/{k}": v.detach().cpu().clone() for k, v in average.state_dict().items()})
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    tensors.update(opt_tensors)
    tensors["rng/torch"] = torch.get_rng_state()
    metadata = {
        "config": json.dumps(config),
        "vocab": vocab_json,
        "optimizer": json.dumps(opt_meta),
        "schedule": json.dumps(schedule_state),
        "loop": json.dumps(asdict(loop)),
    }
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


@dataclass
class Checkpoint:
    config: dict
    vocab_json: str
    model_weights: dict[str, Tensor]
    optimizer_state: dict
    schedule_state: dict
    torch_rng: Tensor
    loop: LoopState
    average_weights: dict[str, Tensor] = field(default_factory=dict)  # the trainer's weight average


def load_checkpoint(path: Path) -> Checkpoint:
    if not path.is_file():
        raise TaggerError("no checkpoint to resume from (it is written at the end of every epoch)", path)
    try:
        tensors = load_file(path)
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        loop = LoopState(**json.loads(metadata["loop"]))
        loop.epoch_rng = _as_tuple(loop.epoch_rng)
        return Checkpoint(
            config=json.loads(metadata["config"]),
            vocab_json=metadata["vocab"],
            model_weights={k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")},
            optimizer_state=_unflatten_optimizer(
                {k: v for k, v in tensors.items() if k.startswith("optimizer/")}, json.loads(metadata["optimizer"])
            ),
            schedule_state=json.loads(metadata["schedule"]),
            torch_rng=tensors["rng/torch"],
            loop=loop,
            average_weights={k[len("average/"):]: v for k, v in tensors.items() if k.startswith("average/")},
        )
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as err:
        raise TaggerError(f"not a usable checkpoint ({err})", path) from None


def _as_tuple(value: Any) -> Any:
    """JSON turns the tuples of ``random.getstate()`` into lists; setstate wants tuples."""
    if isinstance(value, list):
        return tuple(_as_tuple(v) for v in value)
    return value
