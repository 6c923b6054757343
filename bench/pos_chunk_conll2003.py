"""CoNLL-2003 POS tagging and chunking benchmark: accuracy, OOV accuracy, chunk F1, training time.

    python bench/pos_chunk_conll2003.py                       # train conll2003-pos and conll2003-chunk, then measure
    python bench/pos_chunk_conll2003.py --tasks pos           # only one of them
    python bench/pos_chunk_conll2003.py --pos-model runs/conll2003-pos --chunk-model runs/conll2003-chunk  # measure only

Reads the data from $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003 and
skips cleanly when neither exists. Targets (issue 4): POS valid token accuracy
>= 95.0 with the default recipe and no pretrained vectors, OOV accuracy reported
(tokens whose word key is not in the model's vocabulary, i.e. unseen in
training); chunking valid F1 (seqeval strict, BIO) >= 90.0. Prediction speed is
measured on one thread over the whole valid split. Results go to
bench/results/pos_chunk_conll2003.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch
from benchutil import HERE, best_of, find_data  # noqa: E402  (puts the checkout on sys.path)
from rich.console import Console
from rich.table import Table

from tagger.config import load_recipe  # noqa: E402
from tagger.io.conll import read_conll2003  # noqa: E402
from tagger.model import resolve_model_dir  # noqa: E402
from tagger.predict import Tagger  # noqa: E402
from tagger.train import train  # noqa: E402

console = Console()
TARGETS = {"pos": ("valid token accuracy", 0.95), "chunk": ("valid F1", 0.90)}






def train_task(task: str, data: Path, args: argparse.Namespace) -> tuple[Path, dict]:
    overrides = [f"data.data_dir='{data}'"]
    if args.threads:
        overrides.append(f"train.threads={args.threads}")
    if args.max_minutes is not None:
        overrides.append(f"train.max_minutes={args.max_minutes}")
    recipe = load_recipe(f"conll2003-{task}", overrides + args.overrides)
    trained = train(recipe, args.output_dir / f"conll2003-{task}", console)
    curve = [
        {"epoch": r.epoch, "train_loss": r.train_loss, "dev_score": r.dev_score, "seconds": r.seconds, "elapsed": r.elapsed}
        for r in trained.epochs
    ]
    return trained.model_dir, {
        "recipe": recipe.to_dict(),
        "wall_minutes": trained.seconds / 60,
        "epochs_run": len(curve),
        "best_epoch": trained.best_epoch,
        "stopped_because": trained.stopped_because,
        "seconds_per_epoch": sum(e["seconds"] for e in curve) / len(curve),
        "curve": curve,
    }


def measure(task: str, model_dir: Path, valid_path: Path) -> dict:
    torch.set_num_threads(1)
    gold = read_conll2003(valid_path)
    tagger = Tagger.load(model_dir)
    if task not in tagger.tasks:
        raise SystemExit(f"error: {model_dir} has no '{task}' task (it has {', '.join(tagger.tasks)})")
    words = [s.words for s in gold]
    n_tokens = sum(len(w) for w in words)
    tagger.predict_all(words[:50])  # warm-up
    seconds = best_of(lambda: tagger.predict_all(words))
    report = tagger.evaluate(gold)[task]
    size = sum(f.stat().st_size for f in model_dir.iterdir() if f.is_file())
    result = {
        "model_dir": str(model_dir),
        "valid_token_accuracy": report["token_accuracy"],
        "valid_oov_accuracy": report.get("oov_accuracy", report.get("oov_token_accuracy")),
        "valid_oov_tokens": report.get("oov_tokens"),
        "tokens": n_tokens,
        "threads": 1,
        "predict_tokens_per_s": n_tokens / seconds,
        "model_dir_bytes": size,
    }
    if "f1" in report:
        result.update(
            valid_f1=report["f1"], valid_precision=report["precision"], valid_recall=report["recall"],
            per_type_f1={t: r["f1"] for t, r in report["per_type"].items()},
        )
    else:
        result["per_tag_f1"] = {t: r["f1"] for t, r in report["per_tag"].items()}
        result["valid_in_vocabulary_accuracy"] = report["iv_accuracy"]
    name, threshold = TARGETS[task]
    value = result["valid_f1"] if "f1" in report else result["valid_token_accuracy"]
    result["target"] = {"measure": name, "threshold": threshold, "value": value, "met": value >= threshold}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="pos,chunk", help="comma-separated: pos, chunk (default both)")
    parser.add_argument("--pos-model", type=Path, help="measure this POS model instead of training one")
    parser.add_argument("--chunk-model", type=Path, help="measure this chunking model instead of training one")
    parser.add_argument("--output-dir", type=Path, default=Path("runs/bench"), help="run directories go here (TASK subfolders)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for training (prediction is timed on 1)")
    parser.add_argument("--max-minutes", type=float, default=None, help="training time budget per model (default: the recipe's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override for both, as in tagger train")
    args = parser.parse_args()

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TARGETS]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r} (choose from pos, chunk)")
    data = find_data("conll2003")
    if data is None:
        print("skipped: CoNLL-2003 not found (set TAGGER_DATA_DIR or put it in ../shared/data/conll2003)")
        return 0

    result: dict = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__}
    given = {"pos": args.pos_model, "chunk": args.chunk_model}
    for task in tasks:
        entry: dict = {}
        if given[task] is not None:
            model_dir = resolve_model_dir(given[task])
        else:
            model_dir, entry["training"] = train_task(task, data, args)
        entry["prediction"] = measure(task, model_dir, data / "valid.txt")
        result[task] = entry

    table = Table(title="CoNLL-2003 POS tagging and chunking (valid split)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for task in tasks:
        p = result[task]["prediction"]
        if task == "pos":
            table.add_row("POS token accuracy", f"{p['valid_token_accuracy'] * 100:.2f}")
            table.add_row("  OOV accuracy", f"{p['valid_oov_accuracy'] * 100:.2f} ({p['valid_oov_tokens']:,} tokens)"
                          if p["valid_oov_accuracy"] is not None else "n/a")
            table.add_row("  in-vocabulary accuracy", f"{p['valid_in_vocabulary_accuracy'] * 100:.2f}")
        else:
            table.add_row("chunk F1 (seqeval strict)", f"{p['valid_f1'] * 100:.2f}")
            table.add_row("  precision / recall", f"{p['valid_precision'] * 100:.2f} / {p['valid_recall'] * 100:.2f}")
            table.add_row("  chunk token accuracy", f"{p['valid_token_accuracy'] * 100:.2f}")
        t = p["target"]
        table.add_row(f"  target {t['measure']} >= {t['threshold'] * 100:.1f}", "[green]met" if t["met"] else "[red]missed")
        table.add_row(f"  {task} predict tokens/s (1 thread)", f"{p['predict_tokens_per_s']:,.0f}")
        if "training" in result[task]:
            tr = result[task]["training"]
            table.add_row(f"  {task} training wall time",
                          f"{tr['wall_minutes']:.1f} min ({tr['epochs_run']} epochs, best {tr['best_epoch']})")
            table.add_row(f"  {task} seconds per epoch", f"{tr['seconds_per_epoch']:.0f}")
    console.print(table)
    out = HERE / "results" / "pos_chunk_conll2003.json"
    out.parent.mkdir(exist_ok=True)
    if out.exists():  # keep the other task's numbers when only one was run
        try:
            previous = json.loads(out.read_text())
        except json.JSONDecodeError:
            previous = {}
        result = {**{t: previous[t] for t in TARGETS if t in previous and t not in result}, **result}
    out.write_text(json.dumps(result, indent=2))
    console.print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
