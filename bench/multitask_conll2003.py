"""CoNLL-2003 multitask benchmark: one model, one shared encoder, NER + POS + chunk heads.

    python bench/multitask_conll2003.py --ner-model runs/conll2003        # train conll2003-multitask, compare
    python bench/multitask_conll2003.py --model runs/conll2003-multitask \\
        --ner-model runs/conll2003 --pos-model runs/bench/conll2003-pos --chunk-model runs/bench/conll2003-chunk

Reads the data from $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003 and
skips cleanly when neither exists. Reports, on the valid split:

* the joint model's NER F1, POS accuracy (and OOV accuracy) and chunk F1, next to
  the single-task models given with --ner-model/--pos-model/--chunk-model; the
  target (issue 4) is NER F1 no more than 0.3 points below the single-task model;
* prediction speed on one thread, in the same process: the joint model (one
  forward pass for all three tasks) against three separate models run one after
  the other, as a ratio. A separate model that is not given is replaced by an
  untrained stand-in of the same architecture (the joint model's embeddings and
  encoder with that one head; speed does not depend on the weights), so the
  ratio is always measured.

Results go to bench/results/multitask_conll2003.json.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
from pathlib import Path

import torch
from benchutil import HERE, best_of, find_data  # noqa: E402  (puts the checkout on sys.path)
from rich.console import Console
from rich.table import Table

from tagger.batching import Vocabs  # noqa: E402
from tagger.config import load_recipe  # noqa: E402
from tagger.io.conll import read_conll2003  # noqa: E402
from tagger.model import SequenceTagger, resolve_model_dir  # noqa: E402
from tagger.predict import Tagger  # noqa: E402
from tagger.train import train  # noqa: E402

console = Console()
TASKS = ("ner", "pos", "chunk")
NER_TOLERANCE = 0.003  # NER F1 may be at most 0.3 points below the single-task model






def headline(entry: dict) -> float:
    return entry["f1"] if "f1" in entry else entry["token_accuracy"]


def scores(tagger: Tagger, gold, tasks=TASKS) -> dict:
    report = tagger.evaluate(gold)
    out = {}
    for task in tasks:
        if task not in report:
            continue
        entry = report[task]
        row = {"token_accuracy": entry["token_accuracy"], "headline": headline(entry)}
        if "f1" in entry:
            row.update(f1=entry["f1"], precision=entry["precision"], recall=entry["recall"])
        else:
            row.update(oov_accuracy=entry["oov_accuracy"], oov_tokens=entry["oov_tokens"])
        out[task] = row
    return out


def stand_in(task: str, joint: Tagger) -> Tagger:
    """An untrained single-task model: the joint model's embeddings and encoder with
    only ``task``'s head (the single-task recipes share that architecture), and its vocabularies."""
    recipe = copy.deepcopy(joint.model.recipe)
    recipe.heads = [h for h in recipe.heads if h.task == task]
    v = joint.model.vocabs
    vocabs = Vocabs(words=v.words, chars=v.chars, labels={task: v.labels[task]}, lowercase=v.lowercase,
                    normalize_digits=v.normalize_digits, max_word_len=v.max_word_len)
    torch.manual_seed(0)
    return Tagger(SequenceTagger(recipe, vocabs).eval())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="measure this multitask model instead of training one")
    parser.add_argument("--ner-model", type=Path, help="single-task NER model (recipe conll2003) to compare with")
    parser.add_argument("--pos-model", type=Path, help="single-task POS model (conll2003-pos)")
    parser.add_argument("--chunk-model", type=Path, help="single-task chunking model (conll2003-chunk)")
    parser.add_argument("--output", type=Path, default=Path("runs/bench/conll2003-multitask"), help="run directory for training")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for training (prediction is timed on 1)")
    parser.add_argument("--max-minutes", type=float, default=None, help="training time budget (default: the recipe's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override, as in tagger train")
    args = parser.parse_args()

    data = find_data("conll2003")
    if data is None:
        print("skipped: CoNLL-2003 not found (set TAGGER_DATA_DIR or put it in ../shared/data/conll2003)")
        return 0
    result: dict = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__}
    if args.model is None:
        overrides = [f"data.data_dir='{data}'"]
        if args.threads:
            overrides.append(f"train.threads={args.threads}")
        if args.max_minutes is not None:
            overrides.append(f"train.max_minutes={args.max_minutes}")
        recipe = load_recipe("conll2003-multitask", overrides + args.overrides)
        trained = train(recipe, args.output, console)
        curve = [
            {"epoch": r.epoch, "dev_score": r.dev_score, "seconds": r.seconds, "elapsed": r.elapsed,
             **{f"{t}_dev": headline(r.dev[t]) for t in r.dev}}
            for r in trained.epochs
        ]
        result["training"] = {
            "recipe": recipe.to_dict(),
            "wall_minutes": trained.seconds / 60,
            "epochs_run": len(curve),
            "best_epoch": trained.best_epoch,
            "stopped_because": trained.stopped_because,
            "seconds_per_epoch": sum(e["seconds"] for e in curve) / len(curve),
            "curve": curve,
        }
        model_dir = trained.model_dir
    else:
        model_dir = resolve_model_dir(args.model)
    result["model_dir"] = str(model_dir)

    torch.set_num_threads(1)
    gold = read_conll2003(data / "valid.txt")
    words = [s.words for s in gold]
    n_tokens = sum(len(w) for w in words)
    joint = Tagger.load(model_dir)
    missing = [t for t in TASKS if t not in joint.tasks]
    if missing:
        print(f"error: {model_dir} is not a NER+POS+chunk model (it has {', '.join(joint.tasks)})", file=sys.stderr)
        return 1
    result["joint"] = scores(joint, gold)

    given = {"ner": args.ner_model, "pos": args.pos_model, "chunk": args.chunk_model}
    separate: dict[str, Tagger] = {}
    result["single_task"] = {}
    for task in TASKS:
        if given[task] is not None:
            separate[task] = Tagger.load(resolve_model_dir(given[task]))
            if task not in separate[task].tasks:
                print(f"error: {given[task]} has no '{task}' task", file=sys.stderr)
                return 1
            result["single_task"][task] = {"model_dir": str(given[task]), **scores(separate[task], gold, (task,))[task]}
        else:
            separate[task] = stand_in(task, joint)
    comparison = {}
    for task, single in result["single_task"].items():
        diff = result["joint"][task]["headline"] - single["headline"]
        comparison[task] = {"joint": result["joint"][task]["headline"], "single": single["headline"], "difference": diff}
    if "ner" in comparison:
        comparison["ner"]["target_met"] = comparison["ner"]["difference"] >= -NER_TOLERANCE
    result["comparison"] = comparison

    joint.predict_all(words[:50])  # warm-up
    for tagger in separate.values():
        tagger.predict_all(words[:50])
    joint_s = best_of(lambda: joint.predict_all(words))
    per_model = {task: best_of(lambda t=tagger: t.predict_all(words)) for task, tagger in separate.items()}
    separate_s = best_of(lambda: [t.predict_all(words) for t in separate.values()])
    result["speed"] = {
        "tokens": n_tokens,
        "threads": 1,
        "joint_tokens_per_s": n_tokens / joint_s,
        "separate_tokens_per_s": n_tokens / separate_s,
        "separate_per_model_tokens_per_s": {t: n_tokens / s for t, s in per_model.items()},
        "separate_are_stand_ins": [t for t in TASKS if given[t] is None],
        "speedup_joint_vs_separate": separate_s / joint_s,
    }

    table = Table(title="CoNLL-2003 multitask NER + POS + chunk (valid split)")
    for col in ("measure", "joint", "single-task", "difference"):
        table.add_column(col, justify="right" if col != "measure" else "left")
    names = {"ner": "NER F1", "pos": "POS accuracy", "chunk": "chunk F1"}
    for task in TASKS:
        j = result["joint"][task]["headline"]
        if task in comparison:
            c = comparison[task]
            mark = ""
            if task == "ner":
                mark = " [green](target met)" if c["target_met"] else " [red](target missed: > 0.3 below)"
            table.add_row(names[task], f"{j * 100:.2f}", f"{c['single'] * 100:.2f}", f"{c['difference'] * 100:+.2f}{mark}")
        else:
            table.add_row(names[task], f"{j * 100:.2f}", "-", "-")
    p = result["joint"]["pos"]
    if p.get("oov_accuracy") is not None:
        table.add_row("  POS OOV accuracy", f"{p['oov_accuracy'] * 100:.2f}", "", f"({p['oov_tokens']:,} tokens)")
    s = result["speed"]
    stand_ins = f" (untrained stand-ins: {', '.join(s['separate_are_stand_ins'])})" if s["separate_are_stand_ins"] else ""
    table.add_row("predict tokens/s, 1 thread: joint", f"{s['joint_tokens_per_s']:,.0f}", "", "")
    table.add_row(f"  three separate models{stand_ins}", "", f"{s['separate_tokens_per_s']:,.0f}", "")
    table.add_row("  speed-up of the joint model", f"{s['speedup_joint_vs_separate']:.2f}x", "", "")
    if "training" in result:
        t = result["training"]
        table.add_row("training wall time", f"{t['wall_minutes']:.1f} min", "", f"{t['epochs_run']} epochs, best {t['best_epoch']}")
        table.add_row("seconds per epoch", f"{t['seconds_per_epoch']:.0f}", "", "")
    console.print(table)
    out = HERE / "results" / "multitask_conll2003.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
