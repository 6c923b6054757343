"""Training on several processes: PyTorch DistributedDataParallel under ``torchrun``.

``torchrun --nproc_per_node N -m tagger train RECIPE`` starts N copies of the
training command; each finds its place in the environment torchrun sets
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and
:func:`setup` joins the process group: ``gloo`` on a CPU, ``nccl`` on GPUs (each
process on ``cuda:LOCAL_RANK``). Without those variables (or with one process)
nothing changes: :class:`Dist` is then a no-op stand-in, so the training loop has
one code path.

Batches. ``train.batch_size`` is the batch of one process. Every process builds
the same list of global batches of ``batch_size * N`` sentences (the same order
a single process with that batch size would use, from the same seed) and takes
its share of each: sentences ``rank, rank + N, ...`` of the length-sorted batch,
so the shares pad alike. Each process's loss is weighted by its share of the
global batch, and DDP averages the gradients, so a step is exactly the step a
single process takes on the whole global batch (up to float rounding).
"""
from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as torch_dist
from torch import Tensor, nn

from .batching import Batch, Encoded, collate
from .errors import TaggerError


def launched() -> bool:
    """True when this process is one of several started by ``torchrun`` (or any
    launcher that sets ``WORLD_SIZE`` and ``RANK``)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


@dataclass
class Dist:
    """This process's place among the training processes, and the few collectives
    the training loop needs. With ``world == 1`` every method is a cheap no-op."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that logs, shows progress and writes files."""
        return self.rank == 0

    def _device(self) -> torch.device:
        # nccl only moves CUDA tensors; gloo only CPU ones.
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def any(self, flag: bool) -> bool:
        """True on every process if it is true on any (a stop request, say)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self._device())
        torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over the processes (float64, so token counts stay exact)."""
        if not self.enabled:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self._device())
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
        return tensor.cpu().tolist()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process (any picklable value)."""
        if not self.enabled:
            return obj
        box = [obj if self.main else None]
        torch_dist.broadcast_object_list(box, src=0, device=self._device())
        return box[0]

    def gather(self, obj: Any) -> list[Any] | None:
        """Every process's ``obj``, in rank order, on rank 0; None on the others."""
        if not self.enabled:
            return [obj]
        out: list[Any] | None = [None] * self.world if self.main else None
        torch_dist.gather_object(obj, out, dst=0)
        return out

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()

    def wrap(self, model: nn.Module) -> nn.Module:
        """A module whose ``forward(batch)`` is ``model.loss(batch)``: the model itself
        on one process, DistributedDataParallel around it on several."""
        return self.ddp(_Loss(model))

    def ddp(self, loss: nn.Module) -> nn.Module:
        """``loss`` (a module whose ``forward`` returns the training loss) as it is on
        one process, DistributedDataParallel around it on several."""
        if not self.enabled:
            return loss
        ddp = nn.parallel.DistributedDataParallel
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # The only buffers are constant transition masks: no need to sync them every step.
        # (PyTorch 2.13 renamed the option.)
        no_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp.__init__).parameters
                   else "broadcast_buffers")
        # static_graph: every step uses the same parameters, so DDP can find once, on the
        # first step, any that never get a gradient (a frozen part of the network whose
        # output is precomputed, say) instead of failing or searching every step.
        return ddp(loss, device_ids=device_ids, static_graph=True, **{no_sync: False})

    def shard(self, batch: Batch, data: Sequence[Encoded]) -> tuple[Batch, float]:
        """This process's share of a global batch and the weight of its loss.

        The weight makes DDP's gradient average equal the gradient of the global
        batch's loss: the heads' losses are sums over sentences divided by the batch
        size, so a share of ``n`` of the ``total`` sentences weighs ``n * world /
        total``. A process whose share is empty (a global batch with fewer sentences
        than processes) runs the batch's first sentence with weight 0, so that every
        process still takes part in the gradient all-reduce.
        """
        if not self.enabled:
            return batch, 1.0
        index = batch.index[self.rank :: self.world]
        if not index:
            first = batch.index[:1]
            return collate([data[i] for i in first], first), 0.0
        return collate([data[i] for i in index], index), len(index) * self.world / len(batch.index)

    def close(self) -> None:
        if self.enabled and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


class _Loss(nn.Module):
    """``forward`` is the model's training loss: DDP hooks ``forward`` to prepare its
    gradient all-reduce, and the tagger's network exposes ``loss`` instead."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> Tensor:
        return self.model.loss(batch)


def setup(device_name: str) -> Dist:
    """Join the process group when ``torchrun`` started this process, else a one-process
    :class:`Dist`. The device is ``device_name`` resolved as for one process, except
    that a GPU device becomes ``cuda:LOCAL_RANK`` (one GPU per process)."""
    from .device import resolve_device

    device = resolve_device(device_name)
    if not launched():
        return Dist(device=device)
    try:
        rank = int(os.environ["RANK"])
        world = int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError):
        raise TaggerError("WORLD_SIZE is set but RANK is missing or not a number: start training with torchrun") from None
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise TaggerError(
                f"process {rank} wants GPU {local_rank} but this machine has {torch.cuda.device_count()}: "
                "start at most one process per GPU (--nproc_per_node), or train on the CPU (--device cpu)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend=backend)
    return Dist(rank=rank, world=world, local_rank=local_rank, backend=backend, device=device)


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_same(dist: Dist, what: str, value: str) -> None:
    """Every process must have built the same ``value`` (the vocabularies from the
    training data, say); a process with other files is a clear error, not a hang."""
    if not dist.enabled:
        return
    digest = fingerprint(value)
    first = dist.broadcast(digest)
    differs = dist.any(digest != first)
    if differs:
        raise TaggerError(
            f"the training processes built different {what}: every process must read the same "
            "data and recipe (on several machines, the same files at the same paths)"
        )


def split(items: Sequence[Any], dist: Dist) -> list[Any]:
    """This process's share of ``items`` (every ``world``-th, from ``rank``)."""
    return list(items[dist.rank :: dist.world]) if dist.enabled else list(items)


def unsplit(shares: list[list[Any]], n: int) -> list[Any]:
    """The inverse of :func:`split` over all processes' shares (in rank order)."""
    out: list[Any] = [None] * n
    world = len(shares)
    for rank, share in enumerate(shares):
        out[rank::world] = share
    return out


__all__ = ["Dist", "setup", "launched", "check_same", "split", "unsplit"]
