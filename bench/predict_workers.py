"""Batch prediction with worker processes: ``tagger predict --workers N`` on a 10 MB input.

    python bench/predict_workers.py --model runs/conll2003       # the NER model, 10 MB of JSONL
    python bench/predict_workers.py                              # trains a tiny demo model first (~10 s)
    python bench/predict_workers.py --size-mb 1 --workers 1 2    # quicker
    python bench/predict_workers.py --model runs/conll2003-onnx --name predict_workers_export   # an export directory

The input is JSONL, ``{"tokens": [...]}`` a line, of sentences drawn from the
CoNLL-2003 files (train, valid, and test where present) (``$TAGGER_DATA_DIR/conll2003`` or
``../shared/data/conll2003``), else from ``data/demo``, repeated up to the size
asked for. For each worker count it runs, as a child process,

    OMP_NUM_THREADS=1 python -m tagger predict MODEL --input big.jsonl -o out.jsonl -f jsonl --workers N

(``--workers 1`` tags in the one process; more start N spawned workers that each
load the model, the parent reading and writing) and reports tokens/s and peak
memory: the largest sum of the resident memory (VmRSS) of the whole process tree,
sampled from /proc every 0.1 s, and each process's own peak (VmHWM). The outputs
of all runs must be byte-identical. Results: ``bench/results/predict_workers.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchutil import ROOT, find_data, proc_status_kb, train_tiny_model, write_result
from rich.console import Console
from rich.table import Table

MB = 1024 * 1024
console = Console()


def source_sentences() -> tuple[list[list[str]], str]:
    from tagger.io.conll import read_conll2003

    data = find_data("conll2003")
    if data is not None:
        files = [f for f in ("train.txt", "valid.txt", "test.txt") if (data / f).exists()]
        return [s.words for f in files for s in read_conll2003(data / f)], f"conll2003 {', '.join(files)}"
    return [s.words for s in read_conll2003(ROOT / "data" / "demo" / "train.txt")], "data/demo"


def generate(path: Path, size_mb: float, sentences: list[list[str]], seed: int = 0) -> dict:
    rng = random.Random(seed)
    target = int(size_mb * MB)
    written = n_sentences = n_tokens = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        while written < target:
            block = []
            for _ in range(1000):
                s = rng.choice(sentences)
                block.append(json.dumps({"tokens": s}, ensure_ascii=False) + "\n")
                n_tokens += len(s)
            piece = "".join(block)
            out.write(piece)
            written += len(piece.encode("utf-8"))
            n_sentences += len(block)
    return {"bytes": path.stat().st_size, "sentences": n_sentences, "tokens": n_tokens}


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            pass
    return out


def run_predict(model: Path, source: Path, output: Path, workers: int, batch_size: int, interval: float) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-m", "tagger", "predict", str(model), "--input", str(source), "-o", str(output),
               "-f", "jsonl", "--batch-size", str(batch_size), "--workers", str(workers)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_sum = 0
    hwm: dict[int, int] = {}
    n_procs = 1
    while proc.poll() is None:
        pids = tree(proc.pid)
        n_procs = max(n_procs, len(pids))
        peak_sum = max(peak_sum, sum((proc_status_kb(p, "VmRSS") or 0) for p in pids))
        for p in pids:
            hwm[p] = max(hwm.get(p, 0), (proc_status_kb(p, "VmHWM") or 0))
        time.sleep(interval)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"predict failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    return {"seconds": seconds, "peak_tree_rss_kb": peak_sum, "process_peaks_kb": sorted(hwm.values(), reverse=True),
            "processes": n_procs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model directory (default: train a tiny demo model first)")
    parser.add_argument("--size-mb", type=float, default=10.0, help="input size in MB")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to run")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between memory samples")
    parser.add_argument("--tmp", type=Path, help="folder for the generated files (default: a new temporary one)")
    parser.add_argument("--name", default="predict_workers", help="results go to bench/results/NAME.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="predict_workers_", dir=args.tmp))
    try:
        model = args.model
        if model is None:
            console.log("training a tiny demo model (encoder.hidden=32, 3 epochs)")
            model = train_tiny_model(work / "model")
        sentences, origin = source_sentences()
        source = work / "big.jsonl"
        made = generate(source, args.size_mb, sentences)
        console.log(f"input: {made['bytes'] / MB:.1f} MB, {made['sentences']:,} sentences, {made['tokens']:,} tokens "
                    f"(from {origin})")
        rows, first_output = [], None
        for workers in args.workers:
            out = work / f"out_{workers}.jsonl"
            run = run_predict(model, source, out, workers, args.batch_size, args.interval)
            lines = sum(1 for _ in out.open("rb"))
            assert lines == made["sentences"], (lines, made["sentences"])
            if first_output is None:
                first_output = out
            else:
                assert out.read_bytes() == first_output.read_bytes(), f"--workers {workers} wrote other output"
            rows.append({
                "workers": workers,
                "seconds": round(run["seconds"], 1),
                "tokens_per_second": round(made["tokens"] / run["seconds"]),
                "peak_rss_mb": round(run["peak_tree_rss_kb"] / 1024, 1),
                "process_peak_rss_mb": [round(kb / 1024, 1) for kb in run["process_peaks_kb"]],
                "processes": run["processes"],
            })
            console.log(f"--workers {workers}: {rows[-1]['tokens_per_second']:,} tokens/s, "
                        f"peak RSS {rows[-1]['peak_rss_mb']} MB over {run['processes']} processes")
            if out != first_output:
                out.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title=f"tagger predict -f jsonl --workers N: {made['bytes'] / MB:.1f} MB, {made['tokens']:,} tokens, "
                        "1 thread per process", title_justify="left")
    for col in ("workers", "seconds", "tokens/s", "speed-up", "peak RSS (all processes)", "per process"):
        table.add_column(col, justify="right")
    base = rows[0]["tokens_per_second"]
    for r in rows:
        table.add_row(str(r["workers"]), f"{r['seconds']:.1f}", f"{r['tokens_per_second']:,}",
                      f"{r['tokens_per_second'] / base:.2f}x", f"{r['peak_rss_mb']:.0f} MB",
                      " + ".join(f"{mb:.0f}" for mb in r["process_peak_rss_mb"]) + " MB")
    console.print(table)

    path = write_result(args.name, {
        "command": "OMP_NUM_THREADS=1 python -m tagger predict MODEL --input big.jsonl -o out.jsonl -f jsonl --workers N",
        "model": str(args.model) if args.model else "tiny demo model (encoder.hidden=32, 3 epochs), trained by the script",
        "input": {**made, "mb": round(made["bytes"] / MB, 1), "sentences_from": origin},
        "batch_size": args.batch_size,
        "runs": rows,
        "peak_rss": "largest sum of VmRSS over the process tree, sampled every %gs" % args.interval,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    })
    console.print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
