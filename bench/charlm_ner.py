"""NER with contextual character-LM embeddings against the same recipe without them.

The forward and backward character LMs are trained on the words of the CoNLL-2003
training split only (``tagger lm train conll2003``; the dev split's words are the
held-out text for early stopping). The tagger is the ``conll2003`` recipe plus
``--charlm FWD,BWD`` (frozen LMs). Both taggers are scored on the valid split and
timed on one thread in the same process.

    python bench/charlm_ner.py --threads 1                       # train everything
    python bench/charlm_ner.py --fwd runs/charlm-conll-fwd --bwd runs/charlm-conll-bwd \\
        --baseline runs/bench-conll2003 --model runs/bench-charlm-ner   # measure existing runs

Results go to bench/results/charlm_ner.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from benchutil import find_data, write_result
from ner_conll2003 import measure_prediction
from rich.console import Console
from rich.table import Table

from tagger.config import load_recipe
from tagger.io.conll import read_conll2003
from tagger.lm.config import LMRecipe
from tagger.lm.model import load_lm
from tagger.lm.text import corpus_text
from tagger.lm.train import score_text, train_lm
from tagger.model import resolve_model_dir
from tagger.train import train

console = Console()


def run_summary(run_dir: Path) -> dict:
    """Training time and curve from a run directory's metrics.jsonl."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    best = max(records, key=lambda r: r["dev_score"])
    return {
        "epochs_run": len(records),
        "best_epoch": best["epoch"],
        "best_dev_f1": best["dev_score"],
        "wall_minutes": records[-1]["elapsed"] / 60,
        "minutes_to_best": best["elapsed"] / 60,
        "seconds_per_epoch": sum(r["seconds"] for r in records) / len(records),
        "curve": [{"epoch": r["epoch"], "dev_f1": r["dev_score"], "elapsed": r["elapsed"]} for r in records],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fwd", type=Path, help="existing forward char LM (else trained)")
    parser.add_argument("--bwd", type=Path, help="existing backward char LM (else trained)")
    parser.add_argument("--lm-hidden", type=int, default=512)
    parser.add_argument("--lm-minutes", type=float, default=16.0, help="training budget per LM")
    parser.add_argument("--baseline", type=Path, help="existing run of the conll2003 recipe without char LMs (else trained)")
    parser.add_argument("--model", type=Path, help="existing run with char LMs (else trained)")
    parser.add_argument("--output", type=Path, default=Path("runs/bench-charlm-ner"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-minutes", type=float, default=None, help="tagger training budget (default: the recipe's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    data = find_data("conll2003")
    if data is None:
        print("skipped: CoNLL-2003 not found (set TAGGER_DATA_DIR or put it in ../shared/data/conll2003)")
        return 0
    train_text = corpus_text(read_conll2003(data / "train.txt"))
    valid_text = corpus_text(read_conll2003(data / "valid.txt"))
    lms = {}
    for name, given, reverse in (("fwd", args.fwd, False), ("bwd", args.bwd, True)):
        if given is None:
            recipe = LMRecipe.from_fields(hidden=args.lm_hidden, reverse=reverse, max_minutes=args.lm_minutes,
                                          threads=args.threads)
            given = train_lm(recipe, Path(f"runs/charlm-conll-{name}"), console, train_text=train_text,
                             valid_text=valid_text).best_dir
        lm = load_lm(given)
        lms[name] = {"dir": str(resolve_model_dir(given, "lm.json")), "hidden": lm.cfg.hidden, "cell": lm.cfg.cell,
                     "valid_bits_per_char": score_text(lm, valid_text)["bits"]}
    overrides = [f"data.data_dir='{data}'", *([f"train.threads={args.threads}"] if args.threads else []),
                 *([f"train.max_minutes={args.max_minutes}"] if args.max_minutes else []), *args.overrides]
    runs = {}
    if args.baseline is None:
        train(load_recipe("conll2003", overrides), Path("runs/bench-conll2003"), console)
        args.baseline = Path("runs/bench-conll2003")
    runs["without char LMs"] = args.baseline
    if args.model is None:
        recipe = load_recipe("conll2003", overrides + [f"embed.charlm='{lms['fwd']['dir']},{lms['bwd']['dir']}'"])
        train(recipe, args.output, console)
        args.model = args.output
    runs["with char LMs"] = args.model
    results = {}
    for name, run in runs.items():
        model_dir = resolve_model_dir(run)
        run_dir = model_dir.parent if model_dir.name == "best" else model_dir
        results[name] = {"run": str(run_dir), "training": run_summary(run_dir),
                         "prediction": measure_prediction(model_dir, data / "valid.txt")}
        torch.set_num_threads(args.threads or 1)

    table = Table(title="CoNLL-2003 NER, valid split: char-LM embeddings (trained on CoNLL train text only)")
    for col in ("model", "valid F1", "training (min)", "epochs (best)", "s/epoch", "predict tok/s (1 thread)", "size MB"):
        table.add_column(col, justify="right")
    for name, r in results.items():
        t, p = r["training"], r["prediction"]
        table.add_row(name, f"{p['valid_f1'] * 100:.2f}", f"{t['wall_minutes']:.1f}", f"{t['epochs_run']} ({t['best_epoch']})",
                      f"{t['seconds_per_epoch']:.0f}", f"{p['predict_tokens_per_s']:,.0f}", f"{p['model_dir_bytes'] / 1e6:.1f}")
    console.print(table)
    base, with_lm = results["without char LMs"]["prediction"], results["with char LMs"]["prediction"]
    summary = {"f1_gain": with_lm["valid_f1"] - base["valid_f1"],
               "predict_speed_ratio": with_lm["predict_tokens_per_s"] / base["predict_tokens_per_s"]}
    console.print(f"F1 {summary['f1_gain'] * 100:+.2f}; prediction speed x{summary['predict_speed_ratio']:.2f}")
    path = write_result("charlm_ner", {"language_models": lms, "runs": results, **summary})
    console.print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
