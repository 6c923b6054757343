"""Training on several processes (DistributedDataParallel, gloo on the CPU).

Two processes with batch B each must train exactly what one process trains with
batch 2B (up to float rounding), both processes must end with identical weights,
and only rank 0 writes. The processes are real: ``torch.multiprocessing`` spawns
them with the environment ``torchrun`` would set, and one test runs ``torchrun``
itself on the command line.
"""
from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from rich.console import Console
from safetensors.torch import load_file, save_file

from tagger.batching import collate, encode
from tagger.config import load_recipe
from tagger.distributed import Dist, split, unsplit
from tagger.io.conll import read_conll2003
from tagger.model import SequenceTagger
from tagger.sources import demo_dir
from tagger.train import build_model, train

ROOT = Path(__file__).resolve().parents[1]
PER_RANK = 8
# No dropout of any kind: the processes' random masks differ, the arithmetic must not.
EXACT = [
    "encoder.hidden=16", "embed.word_dim=16", "embed.char_dim=8", "embed.char_hidden=16", "embed.casing_dim=4",
    "embed.dropout=0", "embed.word_dropout=0", "encoder.dropout=0", "train.max_epochs=2", "train.threads=1",
    "train.device=cpu", "train.seed=7",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, run_dir: str, overrides: list[str], dump: str) -> None:
    """One training process, as torchrun would start it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = train(load_recipe("demo", overrides), run_dir, Console(file=io.StringIO()))
    weights = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
    save_file(weights, os.path.join(dump, f"rank{rank}.safetensors"))
    with open(os.path.join(dump, f"rank{rank}.json"), "w") as out:
        json.dump({"records": [r.dev_score for r in result.epochs], "best_epoch": result.best_epoch}, out)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """demo, 2 epochs, 2 processes of batch 8, and the same on one process with batch 16."""
    base = tmp_path_factory.mktemp("ddp")
    dump = base / "weights"
    dump.mkdir()
    overrides = EXACT + [f"train.batch_size={PER_RANK}"]
    start = time.perf_counter()
    mp.start_processes(_rank_main, args=(2, free_port(), str(base / "ddp"), overrides, str(dump)), nprocs=2,
                       join=True, start_method="spawn")
    seconds = time.perf_counter() - start
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(load_recipe("demo", EXACT + [f"train.batch_size={2 * PER_RANK}"]), base / "single",
                       Console(file=io.StringIO()))
    finally:
        torch.set_num_threads(before)
    return base, dump, single, seconds


def test_both_ranks_hold_identical_weights(two_process_run):
    _, dump, _, seconds = two_process_run
    rank0, rank1 = load_file(dump / "rank0.safetensors"), load_file(dump / "rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # bit for bit
    assert seconds < 60


def test_two_processes_match_one_process_with_the_same_global_batch(two_process_run):
    _, dump, single, _ = two_process_run
    ddp = load_file(dump / "rank0.safetensors")
    ref = {k: v.detach() for k, v in single.model.state_dict().items()}
    assert ddp.keys() == ref.keys()
    initial = SequenceTagger(single.model.recipe, single.model.vocabs).state_dict()
    for key in ref:
        assert torch.allclose(ddp[key], ref[key], rtol=1e-4, atol=1e-5), key
        if key.endswith("weight") and ref[key].numel() > 1:  # and training did move them
            assert not torch.allclose(ref[key], initial[key]), key
    scores = [json.loads((dump / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert scores[0] == scores[1]  # every rank got rank 0's evaluation
    assert scores[0]["records"] == pytest.approx([r.dev_score for r in single.epochs], abs=1e-6)


def test_only_rank_0_writes_and_logs_match_a_single_run(two_process_run):
    base, _, single, _ = two_process_run
    run = base / "ddp"
    assert (run / "best" / "model.safetensors").is_file()
    assert (run / "checkpoint.safetensors").is_file()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]  # one line per epoch: one writer
    # The training loss is summed over both processes' shares: the whole epoch's.
    assert [r["train_loss"] for r in lines] == pytest.approx([r.train_loss for r in single.epochs], rel=1e-4)
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*"))


def test_shares_and_loss_weights_give_the_global_batch_gradient():
    """Pure arithmetic, no processes: for uneven shares (5 sentences over 2 ranks, and
    1 sentence over 2 ranks) the weighted per-rank gradients average to the gradient
    of the whole batch, which is what DDP's all-reduce computes."""
    recipe = load_recipe("demo", EXACT)
    train_sents = read_conll2003(demo_dir() / "train.txt")
    model, _ = build_model(recipe, {"train": train_sents, "valid": train_sents[:5]}, Console(file=io.StringIO()))
    data = [encode(s, model.vocabs) for s in train_sents[:5]]
    for index in ([0, 1, 2, 3, 4], [3]):
        whole = collate([data[i] for i in index], index)

        def grads(batch, weight: float) -> list[torch.Tensor]:
            model.zero_grad(set_to_none=False)
            (model.loss(batch) * weight).backward()
            return [p.grad.clone() for p in model.parameters()]

        expected = grads(whole, 1.0)
        world = 2
        shares = [Dist(rank=r, world=world).shard(whole, data) for r in range(world)]
        assert sorted(i for share, w in shares if w > 0 for i in share.index) == sorted(index)
        summed = [torch.zeros_like(g) for g in expected]
        for share, weight in shares:
            for acc, g in zip(summed, grads(share, weight)):
                acc += g / world  # DDP averages
        for got, want in zip(summed, expected):
            assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
    assert Dist(rank=1, world=2).shard(collate([data[3]], [3]), data)[1] == 0.0  # an empty share weighs nothing


def test_split_and_unsplit_restore_the_order():
    items = list(range(11))
    shares = [split(items, Dist(rank=r, world=3)) for r in range(3)]
    assert shares == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]
    assert unsplit(shares, len(items)) == items


def torchrun(*args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "tagger", "train", *args]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


FLAGS = ["--batch-size", "4", "--threads", "1", "--device", "cpu", "--set", "encoder.hidden=16",
         "--set", "embed.word_dim=16", "--set", "embed.char_hidden=16"]


def test_torchrun_command_line_logs_once_stops_cleanly_and_resumes(tmp_path):
    """``torchrun -m tagger train``: rank 0 alone reports the effective batch; a Ctrl-C
    (SIGINT to the whole process group, as a terminal sends it) stops both ranks at
    the same batch with a checkpoint, and ``--resume`` under torchrun finishes the run."""
    run = tmp_path / "run"
    proc = torchrun("demo", "-o", str(run), "--max-epochs", "6", "--checkpoint-every", "3", *FLAGS,
                    start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not (run / "best" / "model.safetensors").exists():
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert err.count("effective batch 8 sentences per step") == 1, err[-3000:]
    assert err.count("Stopped on request") == 1, err[-3000:]
    from safetensors import safe_open

    with safe_open(str(run / "checkpoint.safetensors"), framework="pt") as handle:
        loop = json.loads(handle.metadata()["loop"])
    assert loop["world_size"] == 2 and loop["epoch"] < 6

    resumed = torchrun("--resume", str(run))
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err[-3000:]
    assert err.count("resuming") == 1
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 7))


def test_a_mid_epoch_checkpoint_resumes_only_with_its_number_of_processes(tmp_path):
    """The batches of an epoch depend on the number of processes: a checkpoint written
    mid-epoch by 2 cannot continue on 1 (an end-of-epoch one can)."""
    from safetensors import safe_open

    from tagger.errors import TaggerError

    run = tmp_path / "run"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(load_recipe("demo", EXACT + ["train.max_epochs=1", "train.batch_size=16"]), run,
              Console(file=io.StringIO()))
        ckpt = run / "checkpoint.safetensors"
        with safe_open(str(ckpt), framework="pt") as handle:
            metadata = handle.metadata()
        tensors = load_file(ckpt)
        loop = json.loads(metadata["loop"])
        assert loop["world_size"] == 1 and loop["step"] == 0
        loop.update(world_size=2, step=3)
        save_file(tensors, ckpt, metadata={**metadata, "loop": json.dumps(loop)})
        with pytest.raises(TaggerError, match="middle of an epoch by 2 training process"):
            train(None, run, Console(file=io.StringIO()), resume=True)
    finally:
        torch.set_num_threads(before)


def test_world_size_without_rank_is_a_clear_error(monkeypatch):
    from tagger.distributed import setup
    from tagger.errors import TaggerError

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(TaggerError, match="start training with torchrun"):
        setup("cpu")
