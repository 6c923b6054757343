"""Training on 2 processes (DistributedDataParallel, gloo) against 1, on CoNLL-2003 NER.

    python bench/ddp_conll2003.py                   # 3 epochs each way (~25 min on 2 cores)
    python bench/ddp_conll2003.py --epochs 1        # quicker
    python bench/ddp_conll2003.py --data demo --epochs 2 --set encoder.hidden=32   # smoke test, seconds

Runs the same recipe for the same number of epochs twice, as child processes, each
training process on one PyTorch thread (``OMP_NUM_THREADS=1``):

    python -m tagger train conll2003 --batch-size 32 ...                           # 1 process
    torchrun --standalone --nproc_per_node 2 -m tagger train conll2003 --batch-size 16 ...   # 2 processes

``--batch-size`` is per process, so both runs take steps of the same global batch
(32 sentences) with the same learning rate, in the same order: the same training,
except that dropout draws other masks on the second process. Reported: seconds per
epoch (training, and with the dev evaluation), training tokens/s, and the dev F1
after each epoch. Reads ``$TAGGER_DATA_DIR/conll2003`` or ``../shared/data/conll2003``
and skips cleanly when neither exists. Results: ``bench/results/ddp_conll2003.json``
(``ddp_demo.json`` with ``--data demo``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchutil import ROOT, find_data, write_result
from rich.console import Console
from rich.table import Table

console = Console()


def run_training(processes: int, recipe: str, data: Path | None, out: Path, epochs: int, global_batch: int,
                 overrides: list[str]) -> dict:
    if global_batch % processes:
        raise SystemExit(f"--batch-size {global_batch} does not split over {processes} processes")
    args = ["-m", "tagger", "train", recipe, "-o", str(out), "--max-epochs", str(epochs), "--patience", str(epochs + 1),
            "--batch-size", str(global_batch // processes), "--threads", "1", "--device", "cpu",
            "--set", "train.max_minutes=0"]
    if data is not None:
        args += ["--data-dir", str(data)]
    for override in overrides:
        args += ["--set", override]
    if processes == 1:
        command = [sys.executable, *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    shutil.rmtree(out, ignore_errors=True)
    console.log(f"{processes} process{'es' * (processes > 1)}: {' '.join(command[1:])}")
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"training failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    epochs_run = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [{
        "epoch": r["epoch"],
        "seconds": round(r["seconds"], 2),  # training and the dev evaluation
        "train_tokens_per_second": round(r["units_per_second"]),
        "train_loss": round(r["train_loss"], 4),
        "dev_f1": round(r["dev_score"], 4),
    } for r in epochs_run]
    effective = next((line for line in proc.stderr.splitlines() if "effective batch" in line), "")
    return {"processes": processes, "batch_per_process": global_batch // processes, "global_batch": global_batch,
            "command": " ".join(command[1:]), "wall_seconds": round(wall, 1), "epochs": rows,
            "log": effective.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch (sentences per step, all processes)")
    parser.add_argument("--data", choices=["conll2003", "demo"], default="conll2003",
                        help="demo: the small sample in data/demo, for a smoke test")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override, repeatable")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "ddp")
    args = parser.parse_args()

    if args.data == "demo":
        recipe, data = "demo", None
    else:
        data = find_data("conll2003")
        if data is None:
            console.print("[yellow]skipped: no CoNLL-2003 data in $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003")
            return
        recipe = "conll2003"
    runs = [run_training(n, recipe, data, args.out / f"{n}proc", args.epochs, args.batch_size, args.overrides)
            for n in (1, args.processes)]

    table = Table(title=f"{recipe}: {args.epochs} epochs, global batch {args.batch_size}, 1 thread per process",
                  title_justify="left")
    for col in ("epoch", "1 proc s", f"{args.processes} proc s", "ratio", "1 proc tok/s", f"{args.processes} proc tok/s",
                "1 proc dev F1", f"{args.processes} proc dev F1"):
        table.add_column(col, justify="right")
    one, many = runs
    for a, b in zip(one["epochs"], many["epochs"]):
        table.add_row(str(a["epoch"]), f"{a['seconds']:.1f}", f"{b['seconds']:.1f}", f"{a['seconds'] / b['seconds']:.2f}x",
                      f"{a['train_tokens_per_second']:,}", f"{b['train_tokens_per_second']:,}",
                      f"{a['dev_f1'] * 100:.2f}", f"{b['dev_f1'] * 100:.2f}")
    console.print(table)

    def mean_seconds(run: dict) -> float:
        return sum(e["seconds"] for e in run["epochs"]) / len(run["epochs"])

    summary = {
        "mean_epoch_seconds_1": round(mean_seconds(one), 2),
        f"mean_epoch_seconds_{args.processes}": round(mean_seconds(many), 2),
        "speedup": round(mean_seconds(one) / mean_seconds(many), 3),
        "dev_f1_1": one["epochs"][-1]["dev_f1"],
        f"dev_f1_{args.processes}": many["epochs"][-1]["dev_f1"],
    }
    console.print(f"epoch time: {summary['mean_epoch_seconds_1']:.1f} s on 1 process, "
                  f"{summary[f'mean_epoch_seconds_{args.processes}']:.1f} s on {args.processes} "
                  f"({summary['speedup']:.2f}x); dev F1 after {args.epochs} epochs: {summary['dev_f1_1'] * 100:.2f} vs "
                  f"{summary[f'dev_f1_{args.processes}'] * 100:.2f}")

    import torch

    path = write_result("ddp_conll2003" if args.data == "conll2003" else "ddp_demo", {
        "recipe": recipe,
        "epochs": args.epochs,
        "global_batch": args.batch_size,
        "overrides": args.overrides,
        "threads_per_process": 1,
        "summary": summary,
        "runs": runs,
        "note": "same global batch, lr and batch order; dropout masks differ on the second process",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    })
    console.print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
