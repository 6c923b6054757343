"""CoNLL-2003 NER ingredients, one at a time: valid F1 on all entities and on entities
unseen in training, next to what each run cost.

    python bench/ner_ablation.py --train ctx16 --set data.context_tokens=16   # train one ingredient
    python bench/ner_ablation.py --run default=runs/conll2003 --run ctx16=runs/ablation/ctx16

Each run is the ``conll2003`` recipe with the overrides given (``--set``, as in
``tagger train``), trained on one thread into ``runs/ablation/NAME``. For every run
the table gives the valid F1 (seqeval strict), the F1 on mentions unseen in
training and on the sentences whose entities are all unseen (Augenstein et al. 2017,
``evaluate.py --unseen``), the best epoch, the epochs run and the training
minutes (wall time on this machine, so only comparable between runs made at the same
load: the JSON keeps the load average). Results go to ``bench/results/NAME.json``
(``--name``, default ``ner_ablation``), merged with the runs already there.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from benchutil import ROOT, find_data, write_result
from rich.console import Console
from rich.table import Table

console = Console()


def train_run(name: str, overrides: list[str], threads: int) -> Path:
    from tagger.config import load_recipe
    from tagger.train import train

    out = ROOT / "runs" / "ablation" / name
    recipe = load_recipe("conll2003", [*overrides, f"train.threads={threads}"])
    train(recipe, out, console)
    return out


def measure(run: Path, data: Path) -> dict:
    """Valid scores of ``run``'s best model, with the seen/unseen split, and its training record."""
    import tagger
    from tagger.io.conll import read_conll2003
    from tagger.metrics import training_mentions

    model = tagger.load(run)
    train_sentences = read_conll2003(data / "train.txt")
    seen = {"ner": training_mentions(train_sentences, "ner")}
    report = model.evaluate(read_conll2003(data / "valid.txt"), detailed=False, seen=seen)["ner"]
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    best = max(epochs, key=lambda e: e["dev_score"])
    config = json.loads((run / "best" / "config.json").read_text()) if (run / "best").is_dir() else {}
    return {
        "run": str(run.relative_to(ROOT) if run.is_relative_to(ROOT) else run),
        "f1": round(100 * report["f1"], 2),
        "unseen_f1": round(100 * report["seen_unseen"]["unseen"]["f1"], 2),
        "seen_f1": round(100 * report["seen_unseen"]["seen"]["f1"], 2),
        "all_unseen_sentences_f1": round(100 * report["seen_unseen"]["unseen_sentences"]["f1"], 2),
        "best_epoch": best["epoch"], "epochs_run": len(epochs),
        "minutes": round(epochs[-1]["elapsed"] / 60, 1),
        "recipe": config.get("recipe"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR: measure an existing run")
    parser.add_argument("--train", help="NAME: train the conll2003 recipe with --set overrides into runs/ablation/NAME")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override for --train")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="ner_ablation", help="results go to bench/results/NAME.json")
    args = parser.parse_args()
    data = find_data("conll2003", ("train.txt", "valid.txt"))
    if data is None:
        console.print("no CoNLL-2003 in $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003: skipped")
        return
    runs = dict(spec.split("=", 1) for spec in args.run)
    overrides = {}
    if args.train:
        runs[args.train] = str(train_run(args.train, args.overrides, args.threads))
        overrides[args.train] = args.overrides
    path = ROOT / "bench" / "results" / f"{args.name}.json"
    result = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    for name, run in runs.items():
        result["runs"][name] = {**measure(Path(run).resolve(), data), "overrides": overrides.get(name)}
        result["runs"][name]["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report(result)
    console.print(f"written: {write_result(args.name, result).relative_to(ROOT)}")


def report(result: dict) -> None:
    table = Table(title="CoNLL-2003 valid: one ingredient at a time (seqeval strict F1)")
    for column in ("run", "F1", "unseen mentions F1", "all-unseen sentences F1", "seen F1", "best / run epochs", "minutes"):
        table.add_column(column, justify="right")
    for name, r in result["runs"].items():
        table.add_row(name, f"{r['f1']:.2f}", f"{r['unseen_f1']:.2f}", f"{r['all_unseen_sentences_f1']:.2f}",
                      f"{r['seen_f1']:.2f}", f"{r['best_epoch']} / {r['epochs_run']}", f"{r['minutes']}")
    console.print(table)


if __name__ == "__main__":
    main()
