"""Tree models on the Stanford Sentiment Treebank: the compositions side by side.

    nice -n 10 python bench/trees_sst.py                               # all five, default budgets, one thread
    python bench/trees_sst.py --models treelstm --minutes treelstm=30  # one model, its own budget
    python bench/trees_sst.py --speed-only                             # only the level-batching speed ratio

Trains each model (Tree-LSTM, RNTN, recursive NN, the greedy recursive autoencoder,
and that autoencoder with a Tree-LSTM cell as its encoder) on the SST train split
(8,544 trees; random word vectors, no pretrained vectors) with early stopping on
dev, one model at a time, and reports
on dev the standard four numbers (fine-grained and binary accuracy at the root and
over all phrases), training time and seconds per epoch. For the autoencoders it
also reports the root accuracy on plain sentences (the trees they build themselves)
and the bracket F1 of those trees against the parse trees, beside balanced and
right-branching trees. Last, the speed of one training pass (forward and backward)
over 512 training trees, level-batched against one tree at a time. Each invocation
adds its models to bench/results/trees_sst.json (--fresh starts it anew), so the
models can be run one at a time.

Reads the trees from $TAGGER_DATA_DIR/sst/trees or ../shared/data/sst/trees and
skips cleanly when neither exists. Results: bench/results/trees_sst.json, models
under runs/bench-trees/MODEL/best.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from benchutil import find_data, write_result  # noqa: E402  (puts the checkout on sys.path)
from rich.console import Console
from rich.table import Table

from tagger.trees.batch import encode_tree, make_batch  # noqa: E402
from tagger.trees.config import load_tree_recipe  # noqa: E402
from tagger.trees.metrics import bracket_f1  # noqa: E402
from tagger.trees.modeldir import load_model  # noqa: E402
from tagger.trees.task import TreeSentiment  # noqa: E402
from tagger.trees.train import train_trees  # noqa: E402
from tagger.trees.tree import Tree, balanced_tree, read_trees  # noqa: E402

MODELS = ("treelstm", "rntn", "rnn", "rae", "rae-treelstm")
BUILDERS = ("rae", "rae-treelstm")  # models that build their own trees
# Per model: recipe, overrides, default minutes of training.
SETUPS = {
    "treelstm": ("sst-trees", [], 20.0),
    "rntn": ("sst-trees", ["model.composition='rntn'", "model.word_dim=30", "model.dim=30", "model.embed_dropout=0.2",
                           "model.dropout=0.2"], 12.0),
    "rnn": ("sst-trees", ["model.composition='rnn'", "model.word_dim=100", "model.dim=100", "model.embed_dropout=0.3",
                          "model.dropout=0.3"], 8.0),
    "rae": ("sst-trees-rae", [], 15.0),
    # The greedy autoencoder with a Tree-LSTM cell as its encoder, sized like the Tree-LSTM.
    "rae-treelstm": ("sst-trees-rae", ["model.composition='rae-treelstm'", "model.word_dim=300", "model.dim=150",
                                       "model.embed_dropout=0.5", "model.dropout=0.5", "train.optimizer='adamw'",
                                       "train.weight_decay=0.05"], 15.0),
}
TARGETS = {"binary_root": 0.860, "fine_root": 0.460, "rae_binary_root_greedy": 0.824, "seconds_per_epoch": 60.0}
SPEED_TREES = 512
RESULT = Path(__file__).resolve().parent / "results" / "trees_sst.json"

console = Console(width=150)


def right_branching(words: list[str]) -> Tree:
    n = len(words)
    children = [(n - 2, n - 1)] if n > 1 else []
    for k in range(n - 3, -1, -1):
        children.append((k, n + len(children) - 1))
    return Tree(list(words), children)


def train_one(name: str, data: Path, minutes: float, threads: int, output: Path, extra: list[str]) -> dict:
    recipe_name, overrides, _ = SETUPS[name]
    recipe = load_tree_recipe(recipe_name, [f"data.data_dir='{data}'", f"train.max_minutes={minutes}",
                                            f"train.threads={threads}", *overrides, *extra])
    recipe.name = f"sst-trees-{name}"
    console.rule(f"{name} ({minutes:g} min budget)")
    result = train_trees(recipe, output / name, console)
    n_train = 8544
    train_seconds = [n_train / r.units_per_second for r in result.epochs]
    return {
        "dev": {k: v for k, v in result.best_dev.items() if not k.endswith("_count")},
        "train_minutes": result.seconds / 60,
        "epochs_run": len(result.epochs),
        "best_epoch": result.best_epoch,
        "seconds_per_epoch": sum(train_seconds) / len(train_seconds),
        "fastest_epoch_seconds": min(train_seconds),
        "stopped_because": result.stopped_because,
        "curve": [{"epoch": r.epoch, "train_loss": r.train_loss, **{k: v for k, v in r.dev.items() if not k.endswith("_count")},
                   "seconds": r.seconds} for r in result.epochs],
        "model_dir": str(result.model_dir),
        "recipe": recipe.to_dict(),
    }


def tree_quality(model_dir: str, dev: list[Tree]) -> dict:
    """Bracket F1 of a model's own trees against the parse trees, and its speed at
    building them (the dev sentences; one 500-word sentence)."""
    model, recipe, vocab = load_model(model_dir)
    task = TreeSentiment(recipe, model, vocab, {})
    start = time.perf_counter()
    built = task.build_trees([t.words for t in dev])
    seconds = time.perf_counter() - start
    long_sentence = (["a", "moving", "but", "rather", "tedious", "film"] * 84)[:500]
    start = time.perf_counter()
    task.build_trees([long_sentence])
    return {"brackets": bracket_f1(dev, built), "greedy_trees_per_second": len(dev) / seconds,
            "greedy_500_words_seconds": time.perf_counter() - start}


def baselines(dev: list[Tree]) -> dict:
    return {"balanced": bracket_f1(dev, [balanced_tree(t.words) for t in dev]),
            "right_branching": bracket_f1(dev, [right_branching(t.words) for t in dev])}


def speed(name: str, train: list[Tree], threads: int) -> dict:
    """One forward and backward pass over SPEED_TREES trees: level-batched (batches of
    25, as in training) against one tree at a time (a plain loop, node by node)."""
    recipe_name, overrides, _ = SETUPS[name]
    recipe = load_tree_recipe(recipe_name, [f"train.threads={threads}", *overrides])
    from tagger.trees.model import TreeModel
    from tagger.trees.task import build_vocab

    torch.manual_seed(0)
    vocab = build_vocab(train, recipe.model.lowercase, 1)
    model = TreeModel(recipe.model, len(vocab)).train()
    trees = [encode_tree(t, vocab, str.lower) for t in train[:SPEED_TREES]]

    def batched() -> None:
        for start in range(0, len(trees), 25):
            batch = make_batch(trees[start : start + 25])
            model.composition.output(model.node_states(batch)).sum().backward()

    def one_by_one() -> None:
        for tree in trees:
            model.composition.output(model.recursive_states(tree)).sum().backward()

    timings = {}
    for label, run in (("level_batched", batched), ("one_tree_at_a_time", one_by_one)):
        run()  # warm-up
        start = time.perf_counter()
        run()
        timings[label] = time.perf_counter() - start
    nodes = sum(t.num_nodes for t in trees)
    return {**{f"{k}_seconds": v for k, v in timings.items()}, "trees": len(trees), "nodes": nodes,
            "ratio": timings["one_tree_at_a_time"] / timings["level_batched"]}


def parse_minutes(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in MODELS or not value:
            raise SystemExit(f"--minutes takes MODEL=MINUTES with MODEL one of {', '.join(MODELS)}; got {item!r}")
        out[name] = float(value)
    return out


def print_table(runs: dict, speeds: dict, trees: dict) -> None:
    table = Table(title="SST dev, no pretrained vectors: tree models (accuracy %)")
    for col in ("model", "fine root", "binary root", "fine all", "binary all", "own trees: fine / bin root",
                "bracket F1", "train time", "epochs (best)", "s/epoch", "batched speed-up"):
        table.add_column(col, justify="right")
    for name, r in runs.items():
        d = r["dev"]
        own = f"{d['fine_root_greedy'] * 100:.2f} / {d['binary_root_greedy'] * 100:.2f}" if "fine_root_greedy" in d else "-"
        f1 = f"{r['brackets']['f1'] * 100:.1f}" if "brackets" in r else "-"
        ratio = f"{speeds[name]['ratio']:.1f}x" if name in speeds else "-"
        table.add_row(name, *(f"{d[k] * 100:.2f}" for k in ("fine_root", "binary_root", "fine_all", "binary_all")),
                      own, f1, f"{r['train_minutes']:.1f} min", f"{r['epochs_run']} ({r['best_epoch']})",
                      f"{r['seconds_per_epoch']:.0f}", ratio)
    for name in speeds.keys() - runs.keys():
        table.add_row(name, *["-"] * 9, f"{speeds[name]['ratio']:.1f}x")
    console.print(table)
    console.print("bracket F1 of simple trees against the parse trees (dev): " + ", ".join(
        f"{k.replace('_', ' ')} {v['f1'] * 100:.1f}" for k, v in trees.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--minutes", nargs="*", default=[], help="training budget per model, e.g. treelstm=30 rnn=5")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override for every model")
    parser.add_argument("--output", type=Path, default=Path("runs/bench-trees"))
    parser.add_argument("--speed-only", action="store_true", help="skip training; measure the speed ratio only")
    parser.add_argument("--fresh", action="store_true", help="start a new results file instead of adding to it")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = find_data("sst/trees", ("train.txt", "dev.txt"))
    if data is None:
        print("skipped: SST trees not found (set TAGGER_DATA_DIR or put train.txt/dev.txt in ../shared/data/sst/trees)")
        return 0
    train, dev = read_trees(data / "train.txt"), read_trees(data / "dev.txt")
    minutes = {name: SETUPS[name][2] for name in MODELS} | parse_minutes(args.minutes)
    runs = {}
    if not args.speed_only:
        for name in args.models:
            runs[name] = train_one(name, data, minutes[name], args.threads, args.output, args.overrides)
    speeds = {name: speed(name, train, args.threads) for name in args.models}
    # Models run one invocation at a time add to what earlier invocations wrote.
    previous = {} if args.fresh or not RESULT.exists() else json.loads(RESULT.read_text())
    runs = previous.get("runs", {}) | runs
    speeds = previous.get("speed", {}) | speeds
    for name in BUILDERS:
        if name in runs and "brackets" not in runs[name]:
            runs[name] |= tree_quality(runs[name]["model_dir"], dev)
    trees = baselines(dev)
    print_table(runs, speeds, trees)
    result = {
        "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": args.threads,
        "torch": torch.__version__, "data": str(data), "targets": TARGETS, "runs": runs, "speed": speeds,
        "trees": trees,
        "best_model": max((n for n in runs if n not in BUILDERS), key=lambda n: runs[n]["dev"]["binary_root"],
                          default=None),
    }
    console.print(f"written {write_result('trees_sst', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
