"""How many PyTorch threads by default: 1, 2, or PyTorch's own choice (0), for
``tagger train demo``, one epoch of ``tagger train conll2003`` and ``tagger predict``
on a big input, on the machine as it is and with one competing CPU-bound process.

    python bench/threads.py                                   # all of it
    python bench/threads.py --conll-sentences 2000 --size-mb 2 --timeout 240   # quicker

Each run is a child process timed end to end (start-up, data, model); settings are
interleaved within each round so that drifts in machine load hit all alike. A run
that passes --timeout is stopped and reported as at least that long. Results:
``bench/results/threads.json``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchutil import ROOT, find_data, write_result
from predict_workers import generate, source_sentences
from rich.console import Console
from rich.table import Table

SETTINGS = {"1 thread": "1", "2 threads": "2", "PyTorch default": "0"}
console = Console()


def run_timed(args: list[str], timeout: float) -> float:
    """Seconds the command took (``timeout`` itself if it had to be stopped)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMP_NUM_THREADS", None)  # the --threads option alone decides
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tagger", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return timeout
    if proc.returncode != 0:
        raise SystemExit(f"tagger {' '.join(args)} failed:\n{err}")
    return time.perf_counter() - start


def conll_subset(work: Path, sentences: int) -> tuple[Path, Path]:
    """The first ``sentences`` CoNLL-2003 training sentences and 500 dev ones, as files."""
    data = find_data("conll2003")
    if data is None:
        raise SystemExit("CoNLL-2003 not found (../shared/data/conll2003 or $TAGGER_DATA_DIR/conll2003)")
    out = []
    for name, keep in (("train.txt", sentences), ("valid.txt", 500)):
        blocks = [b for b in (data / name).read_text(encoding="utf-8").split("\n\n") if b.strip()]
        path = work / name
        path.write_text("\n\n".join(blocks[:keep]) + "\n", encoding="utf-8")
        out.append(path)
    return out[0], out[1]


def workloads(work: Path, opts: argparse.Namespace) -> dict[str, list[str]]:
    train, dev = conll_subset(work, opts.conll_sentences)
    return {
        "train demo": ["train", "demo", "-o", str(work / "demo")],
        f"train conll2003, 1 epoch of {opts.conll_sentences:,} sentences": [
            "train", "conll2003", "--train", str(train), "--dev", str(dev), "--max-epochs", "1",
            "-o", str(work / "conll")],
        f"predict {opts.size_mb:g} MB": [
            "predict", str(work / "model"), "--input", str(work / "big.jsonl"), "-f", "jsonl",
            "-o", str(work / "out.jsonl")],
    }


def prepare(work: Path, opts: argparse.Namespace, jobs: dict[str, list[str]]) -> dict:
    """A CoNLL-shaped model (one epoch on the subset) and the big input for predict."""
    train_job = next(args for name, args in jobs.items() if name.startswith("train conll2003"))
    run_timed([*train_job, "--threads", "1"], 3600)
    shutil.copytree(work / "conll" / "best", work / "model")
    sentences, described = source_sentences()
    return {"input": generate(work / "big.jsonl", opts.size_mb, sentences), "from": described}


def measure(jobs: dict[str, list[str]], opts: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {job: {s: [] for s in SETTINGS} for job in jobs}
    for _ in range(opts.rounds):
        for job, args in jobs.items():
            for setting, value in SETTINGS.items():
                times[job][setting].append(run_timed([*args, "--threads", value], opts.timeout))
                console.log(f"{job} / {setting}: {times[job][setting][-1]:.1f} s")
    return times


def busy_process() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conll-sentences", type=int, default=14041, help="Training sentences for the CoNLL epoch.")
    parser.add_argument("--size-mb", type=float, default=10.0, help="Size of the predict input.")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0, help="Seconds before a run is stopped.")
    opts = parser.parse_args()
    results: dict = {"cpus": os.cpu_count(), "settings": SETTINGS, "timeout_s": opts.timeout, "conditions": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        jobs = workloads(work, opts)
        results["input"] = prepare(work, opts, jobs)
        for condition in ("as is", "one competing CPU-bound process"):
            load_before = os.getloadavg()[0]
            competitor = busy_process() if condition != "as is" else None
            try:
                times = measure(jobs, opts)
            finally:
                if competitor is not None:
                    competitor.kill()
            results["conditions"][condition] = {"loadavg_1min_before": load_before, "seconds": times}
    show(results)
    console.print(f"wrote {write_result('threads', results)}")


def show(results: dict) -> None:
    table = Table(title="wall seconds (median of rounds); ratio to 1 thread")
    table.add_column("condition")
    table.add_column("workload")
    for setting in SETTINGS:
        table.add_column(setting, justify="right")
    for condition, entry in results["conditions"].items():
        for job, by_setting in entry["seconds"].items():
            one = statistics.median(by_setting["1 thread"])
            cells = []
            for setting, values in by_setting.items():
                median = statistics.median(values)
                capped = ">=" if median >= results["timeout_s"] else ""
                cells.append(f"{capped}{median:.1f} ({median / one:.2f}x)")
            table.add_row(f"{condition} (load {entry['loadavg_1min_before']:.1f})", job, *cells)
    console.print(table)


if __name__ == "__main__":
    main()
