"""SST-2 sentence classification: the four pooling heads side by side.

    python bench/sst2_pooling.py                         # mean, max, last, attention with the sst2 recipe
    python bench/sst2_pooling.py --threads 4 --max-minutes 30 --poolings max attention
    python bench/sst2_pooling.py --max-epochs 1 --set encoder.hidden=64   # a quick look

Trains ``recipes/sst2.toml`` once per pooling (everything else equal: same seed,
data, encoder and schedule), no pretrained vectors, and prints one table: best
dev accuracy, macro-F1, training time, epochs run. Reads SST-2 (GLUE files
``train.tsv``/``dev.tsv``) from $TAGGER_DATA_DIR/sst2 or ../shared/data/sst2 and
skips cleanly when neither exists. Results: bench/results/sst2_pooling.json,
models under runs/bench-sst2/POOLING/best.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import torch
from benchutil import find_data, write_result  # noqa: E402  (puts the checkout on sys.path)
from rich.console import Console
from rich.table import Table

from tagger.config import load_recipe  # noqa: E402
from tagger.train import train  # noqa: E402

POOLINGS = ("mean", "max", "last", "attention")
TARGET = 0.83

console = Console()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--poolings", nargs="+", choices=POOLINGS, default=list(POOLINGS))
    parser.add_argument("--max-epochs", type=int, help="per pooling (default: the recipe's)")
    parser.add_argument("--max-minutes", type=float, help="training time budget per pooling")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override, as in tagger train")
    parser.add_argument("--output", type=Path, default=Path("runs/bench-sst2"), help="run directories go under here")
    args = parser.parse_args()

    data = find_data("sst2", ("train.tsv", "dev.tsv"))
    if data is None:
        print("skipped: SST-2 not found (set TAGGER_DATA_DIR or put train.tsv/dev.tsv in ../shared/data/sst2)")
        return 0
    flags = [f"data.data_dir='{data}'"]
    if args.max_epochs is not None:
        flags.append(f"train.max_epochs={args.max_epochs}")
    if args.max_minutes is not None:
        flags.append(f"train.max_minutes={args.max_minutes}")
    if args.threads is not None:
        flags.append(f"train.threads={args.threads}")

    runs = {}
    for pooling in args.poolings:
        recipe = load_recipe("sst2", [*flags, f"heads.0.pooling={pooling}", *args.overrides])
        recipe.name = f"sst2-{pooling}"
        console.rule(f"pooling = {pooling}")
        result = train(recipe, args.output / pooling, console)
        best = result.best_dev["sentiment"]
        runs[pooling] = {
            "dev_accuracy": best["accuracy"],
            "dev_macro_f1": best["macro_f1"],
            "per_class": best["per_class"],
            "train_minutes": result.seconds / 60,
            "epochs_run": len(result.epochs),
            "best_epoch": result.best_epoch,
            "seconds_per_epoch": sum(r.seconds for r in result.epochs) / len(result.epochs),
            "train_tokens_per_s": sum(r.units_per_second for r in result.epochs) / len(result.epochs),
            "stopped_because": result.stopped_because,
            "curve": [{"epoch": r.epoch, "train_loss": r.train_loss, "dev_accuracy": r.dev_score, "seconds": r.seconds}
                      for r in result.epochs],
            "model_dir": str(result.model_dir),
            "recipe": recipe.to_dict(),
        }

    best_pooling = max(runs, key=lambda p: runs[p]["dev_accuracy"])
    table = Table(title=f"SST-2 dev ({'GLUE'}), no pretrained vectors: pooling heads")
    for col in ("pooling", "dev accuracy", "dev macro-F1", "train time", "epochs (best)", "s/epoch"):
        table.add_column(col, justify="right")
    for pooling, r in runs.items():
        mark = " *" if pooling == best_pooling else ""
        table.add_row(
            pooling + mark, f"{r['dev_accuracy'] * 100:.2f}", f"{r['dev_macro_f1'] * 100:.2f}",
            f"{r['train_minutes']:.1f} min", f"{r['epochs_run']} ({r['best_epoch']})", f"{r['seconds_per_epoch']:.0f}",
        )
    console.print(table)
    accuracy = runs[best_pooling]["dev_accuracy"]
    console.print(
        f"best: {best_pooling} at {accuracy * 100:.2f}% dev accuracy "
        f"({'meets' if accuracy >= TARGET else 'below'} the {TARGET * 100:.0f}% target)"
    )
    out = write_result("sst2_pooling", {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "data": str(data),
        "best_pooling": best_pooling,
        "best_dev_accuracy": accuracy,
        "target_dev_accuracy": TARGET,
        "runs": runs,
    })
    console.print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
