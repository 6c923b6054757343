"""The ``conll2003-best`` recipe over seeds: valid F1 (all entities, unseen and seen
mentions) as mean and spread, what training cost, and prediction speed.

    tagger train conll2003-best --threads 1 --set train.seed=1 -o runs/best-s1   # and seeds 2, 3
    python bench/ner_best.py --run runs/best-s1 --run runs/best-s2 --run runs/best-s3

Speed is words/s on one thread over the valid split, in interleaved rounds (best of
each), as a ratio to the default ``conll2003`` architecture over the same vocabularies
(random weights: its speed does not depend on them) timed in the same rounds, so the
machine's load cancels out of the ratio. The LM training minutes come from the cached
LMs' own records. Results go to bench/results/NAME.json (``--name``, default ner_best).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

import torch
from benchutil import ROOT, find_data, write_result
from ner_ablation import measure
from rich.console import Console
from rich.table import Table

console = Console()
SCORES = ("f1", "unseen_f1", "all_unseen_sentences_f1", "seen_f1")


def spread(values: list[float]) -> dict:
    return {"mean": round(statistics.mean(values), 2), "min": min(values), "max": max(values),
            "stdev": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0}


def lm_minutes(run: Path) -> dict[str, float]:
    """Training minutes of the char LMs a run's recipe used, read from their run folders."""
    config = json.loads((run / "best" / "config.json").read_text())
    spec = config["recipe"]["embed"].get("charlm") or ""
    minutes = {}
    for best in filter(None, str(spec).split(",")):
        metrics = Path(best).parent / "metrics.jsonl"
        if metrics.exists():
            records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
            minutes[Path(best).parent.name] = round(records[-1]["elapsed"] / 60, 1)
    return minutes


def speed(run: Path, words: list[list[str]], rounds: int) -> dict:
    """Words/s of the run's model and of the default architecture, interleaved."""
    import tagger
    from tagger.config import load_recipe
    from tagger.model import SequenceTagger
    from tagger.predict import Tagger

    torch.set_num_threads(1)
    best = tagger.load(run)
    torch.manual_seed(0)
    default = Tagger(SequenceTagger(load_recipe("conll2003"), dataclasses.replace(best.model.vocabs, charlm={})).eval())
    times: dict[str, list[float]] = {"best": [], "default": []}
    for model in (best, default):
        model.predict(words[:50])  # warm-up
    for _ in range(rounds):
        for name, model in (("best", best), ("default", default)):
            start = time.perf_counter()
            model.predict(words)
            times[name].append(time.perf_counter() - start)
    n = sum(len(w) for w in words)
    out = {f"{name}_words_per_s": round(n / min(t)) for name, t in times.items()}
    out["ratio_to_default"] = round(min(times["default"]) / min(times["best"]), 3)
    return {**out, "words": n, "rounds": rounds, "threads": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, type=Path, help="a run directory of the recipe")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--name", default="ner_best", help="results go to bench/results/NAME.json")
    args = parser.parse_args()
    data = find_data("conll2003", ("train.txt", "valid.txt"))
    if data is None:
        console.print("no CoNLL-2003 in $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003: skipped")
        return
    from tagger.io.conll import read_conll2003

    runs = {str(run): measure(run.resolve(), data) for run in args.run}
    load_before = [round(x, 2) for x in os.getloadavg()]
    words = [s.words for s in read_conll2003(data / "valid.txt")]
    result = {
        "runs": runs,
        "summary": {score: spread([r[score] for r in runs.values()]) for score in SCORES},
        "tagger_minutes": spread([r["minutes"] for r in runs.values()]),
        "lm_minutes": lm_minutes(args.run[0].resolve()),
        "speed": speed(args.run[0].resolve(), words, args.rounds),
        "load_average": {"before_timing": load_before, "after_timing": [round(x, 2) for x in os.getloadavg()]},
    }
    report(result)
    console.print(f"written: {write_result(args.name, result).relative_to(ROOT)}")


def report(result: dict) -> None:
    table = Table(title="conll2003-best on CoNLL-2003 valid (seqeval strict F1)")
    for column in ("run", "F1", "unseen mentions", "all-unseen sentences", "seen", "best / run epochs", "minutes"):
        table.add_column(column, justify="right")
    for name, r in result["runs"].items():
        table.add_row(name, *(f"{r[s]:.2f}" for s in SCORES), f"{r['best_epoch']} / {r['epochs_run']}", f"{r['minutes']}")
    s = result["summary"]
    table.add_row("mean (min-max)", *(f"{s[k]['mean']:.2f} ({s[k]['min']:.2f}-{s[k]['max']:.2f})" for k in SCORES), "", "")
    console.print(table)
    sp = result["speed"]
    console.print(f"prediction, 1 thread: {sp['best_words_per_s']:,} words/s, {sp['ratio_to_default']}x the default "
                  f"architecture ({sp['default_words_per_s']:,} words/s in the same rounds); LM training minutes "
                  f"{result['lm_minutes']}; load {result['load_average']}")


if __name__ == "__main__":
    main()
