"""Peak memory and speed of streaming prediction: ``tagger predict`` on 10 MB and 100 MB inputs.

    python bench/predict_rss.py                  # trains a tiny demo model first (~10 s)
    python bench/predict_rss.py --model runs/conll2003/best --sizes 10 100 1000

Inputs are plain text, one sentence a line, of words sampled from
``data/demo/train.txt`` (sentence lengths as in that file), generated into a
temporary folder and deleted afterwards; ``--text diverse`` makes up nearly
all-distinct words instead (what a big real corpus's long tail does to caches and
to the allocator; results in ``predict_rss_diverse.json``). Each size runs

    python -m tagger predict MODEL --input X -o Y -f conll

as a child process. Its peak resident memory is the kernel's own account
(``ru_maxrss`` from ``wait4``); its RSS is also sampled from ``/proc/PID/status``
while it runs, to show that memory stays flat rather than growing with the input.
A run on a one-sentence input gives the fixed cost (Python, PyTorch, the model).
Results: a table on the terminal and ``bench/results/predict_rss.json``.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchutil import ROOT, proc_status_kb, train_tiny_model, write_result
from rich.console import Console
from rich.table import Table

MB = 1024 * 1024


def demo_sentences() -> list[list[str]]:
    from tagger.io.conll import read_conll2003

    return [s.words for s in read_conll2003(ROOT / "data" / "demo" / "train.txt")]


LETTERS = string.ascii_letters + "éüßøñ日本語0123456789-'"


def generate(path: Path, size_mb: float, seed: int = 0, text: str = "demo") -> dict:
    """Plain text of about ``size_mb`` MB: sentences of words drawn (by frequency) from the
    demo corpus, or with ``text="diverse"`` made-up words (random letters, lengths from a
    long-tailed distribution), nearly all distinct, as in a large real corpus's long tail."""
    sentences = demo_sentences()
    words = [w for s in sentences for w in s]
    lengths = [len(s) for s in sentences]
    rng = random.Random(seed)

    def made_up() -> str:
        return "".join(rng.choices(LETTERS, k=min(40, int(rng.paretovariate(1.2)))))

    target = int(size_mb * MB)
    written = n_sentences = n_words = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        while written < target:
            block = []
            for _ in range(1000):
                n = rng.choice(lengths)
                sentence = rng.choices(words, k=n) if text == "demo" else [made_up() for _ in range(n)]
                block.append(" ".join(sentence) + "\n")
                n_words += len(sentence)
            piece = "".join(block)
            out.write(piece)
            written += len(piece.encode("utf-8"))
            n_sentences += len(block)
    return {"bytes": path.stat().st_size, "sentences": n_sentences, "words": n_words}


def child_of(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


GNU_TIME = Path("/usr/bin/time")


def run_predict(model: Path, source: Path, output: Path, threads: int, batch_size: int, interval: float) -> dict:
    """Run predict; its peak RSS comes from GNU time's %M (the kernel's ru_maxrss of the
    predict process) where /usr/bin/time exists, else from the last VmHWM read in /proc.

    (The child's own ru_maxrss as seen from this process is no good: a forked child
    starts with this process's pages counted, and this process may hold a model.)"""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", "tagger", "predict", str(model), "--input", str(source), "--input-format", "text",
               "-o", str(output), "-f", "conll", "--batch-size", str(batch_size)]
    time_file = output.with_name(output.name + ".maxrss")
    if GNU_TIME.exists():
        command = [str(GNU_TIME), "-f", "%M", "-o", str(time_file), *command]
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples: list[tuple[float, int]] = []  # (seconds, RSS kB)
    hwm = 0
    target = None
    while proc.poll() is None:
        target = target or (child_of(proc.pid) if GNU_TIME.exists() else proc.pid)
        if target:
            kb, peak = proc_status_kb(target, "VmRSS"), proc_status_kb(target, "VmHWM")
            if kb:
                samples.append((time.perf_counter() - start, kb))
            hwm = max(hwm, peak or 0)
        time.sleep(interval)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"predict failed ({proc.returncode}): {stderr.strip()}")
    peak_kb, source_of_peak = hwm, "VmHWM sampled every %gs" % interval
    if time_file.exists():
        peak_kb, source_of_peak = int(time_file.read_text().split()[-1]), "GNU time %M (ru_maxrss)"
        time_file.unlink()
    return {"seconds": seconds, "peak_rss_kb": peak_kb, "peak_source": source_of_peak, "samples": samples,
            "sampled_hwm_kb": hwm}


def count_output(path: Path) -> tuple[int, int]:
    """Tokens (non-blank lines) and sentences (blank lines) in CoNLL output."""
    tokens = sentences = 0
    with path.open("rb") as handle:
        for line in handle:
            if line == b"\n":
                sentences += 1
            else:
                tokens += 1
    return tokens, sentences


def flatness(samples: list[tuple[float, int]]) -> dict:
    """RSS at the quarter points of the run, after start-up: flat if they barely differ."""
    if len(samples) < 4:
        return {}
    end = samples[-1][0]
    points = {}
    for q in (0.25, 0.5, 0.75, 1.0):
        kb = next((kb for t, kb in samples if t >= q * end), samples[-1][1])
        points[f"rss_at_{int(q * 100)}pct_mb"] = round(kb / 1024, 1)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model directory (default: train a tiny demo model first)")
    parser.add_argument("--sizes", type=float, nargs="+", default=[10, 100], help="input sizes in MB")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads of the predict process")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--text", choices=["demo", "diverse"], default="demo",
                        help="words sampled from data/demo (default) or made up, nearly all distinct")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between RSS samples")
    parser.add_argument("--tmp", type=Path, help="folder for the generated files (default: a new temporary one)")
    args = parser.parse_args()
    console = Console()

    work = Path(tempfile.mkdtemp(prefix="predict_rss_", dir=args.tmp))
    try:
        model = args.model
        if model is None:
            console.log("training a tiny demo model (encoder.hidden=32, 3 epochs)")
            model = train_tiny_model(work / "model")
        rows = []
        tiny = work / "one_sentence.txt"
        tiny.write_text("Anna Lindqvist visited Oslo on Friday .\n", encoding="utf-8")
        base = run_predict(model, tiny, work / "one_sentence.out", args.threads, args.batch_size, args.interval)
        console.log(f"one sentence: peak RSS {base['peak_rss_kb'] / 1024:.1f} MB (start-up and model)")
        for size in sorted(args.sizes):
            source = work / f"input_{size:g}MB.txt"
            console.log(f"generating {size:g} MB of text")
            made = generate(source, size, text=args.text)
            out = work / f"output_{size:g}MB.conll"
            console.log(f"predicting {made['bytes'] / MB:.1f} MB ({made['sentences']:,} sentences)")
            run = run_predict(model, source, out, args.threads, args.batch_size, args.interval)
            tokens, sentences = count_output(out)
            assert sentences == made["sentences"], (sentences, made["sentences"])
            rows.append({
                "input_mb": round(made["bytes"] / MB, 1),
                "output_mb": round(out.stat().st_size / MB, 1),
                "sentences": sentences,
                "tokens": tokens,
                "seconds": round(run["seconds"], 1),
                "tokens_per_second": round(tokens / run["seconds"]),
                "peak_rss_mb": round(run["peak_rss_kb"] / 1024, 1),
                "peak_over_one_sentence_mb": round((run["peak_rss_kb"] - base["peak_rss_kb"]) / 1024, 1),
                "sampled_peak_rss_mb": round(run["sampled_hwm_kb"] / 1024, 1),
                **flatness(run["samples"]),
            })
            console.log(f"{size:g} MB: peak RSS {rows[-1]['peak_rss_mb']} MB, {rows[-1]['tokens_per_second']:,} tokens/s")
            source.unlink()
            out.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title=f"tagger predict -f conll, streaming ({args.text} words, {args.threads} "
                        f"thread{'s' * (args.threads > 1)}, batch size {args.batch_size})", title_justify="left")
    for name in ("input", "sentences", "tokens", "seconds", "tokens/s", "peak RSS", "over 1 sentence",
                 "RSS at 25/50/75/100%"):
        table.add_column(name, justify="right")
    table.add_row("1 sentence", "1", "7", "", "", f"{base['peak_rss_kb'] / 1024:.1f} MB", "", "")
    for r in rows:
        quarters = "/".join(f"{r[k]:.0f}" for k in ("rss_at_25pct_mb", "rss_at_50pct_mb", "rss_at_75pct_mb",
                                                     "rss_at_100pct_mb") if k in r)
        table.add_row(f"{r['input_mb']:g} MB", f"{r['sentences']:,}", f"{r['tokens']:,}", f"{r['seconds']:.1f}",
                      f"{r['tokens_per_second']:,}", f"{r['peak_rss_mb']:.1f} MB", f"+{r['peak_over_one_sentence_mb']:.1f} MB",
                      quarters + " MB" if quarters else "")
    console.print(table)

    import torch

    path = write_result("predict_rss" if args.text == "demo" else f"predict_rss_{args.text}", {
        "command": "python -m tagger predict MODEL --input X -o Y -f conll",
        "text": args.text,
        "model": str(args.model) if args.model else "tiny demo model (encoder.hidden=32, 3 epochs), trained by the script",
        "threads": args.threads,
        "batch_size": args.batch_size,
        "one_sentence_peak_rss_mb": round(base["peak_rss_kb"] / 1024, 1),
        "peak_rss_from": base["peak_source"],
        "runs": rows,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    })
    console.print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
