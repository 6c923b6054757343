"""What ``tagger train|evaluate|predict`` do for tree models (called from
:mod:`tagger.cli` when the recipe or the model directory is of the tree family)."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import TaggerError
from ..options import TRAIN_OPTIONS, run_train_command

# `tagger train` options and where they go in a tree recipe (the shared ones from cli.common).
TRAIN_FLAGS = {**TRAIN_OPTIONS, "data_dir": "data.data_dir", "train_file": "data.train", "dev_file": "data.dev",
               "vectors": "model.vectors", "tokenizer": "model.tokenizer"}


def train_command(recipe: str | None, output: Path | None, resume: Path | None, overrides: list[str],
                  checkpoint_every: int, console: Console, **options: Any) -> None:
    """``tagger train`` for a tree recipe (or ``--resume`` of a tree run)."""
    from .config import load_tree_recipe
    from .train import train_trees

    run_train_command(train_trees, load_tree_recipe, TRAIN_FLAGS, "tree models", recipe, output, resume, overrides,
                      checkpoint_every, console, options, needs_dev=True)


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def evaluate_command(model_dir: Path, split: str, data_dir: Path | None, file: Path | None, json_out: Path | None,
                     confusion: Path | None, batch_size: int, device: str, threads: int | None = None) -> None:
    """``tagger evaluate`` / ``python evaluate.py`` for a tree model: the four numbers,
    the confusion matrices, and for the autoencoder its own trees' root numbers and
    bracket F1 against the gold trees."""
    from .data import load_trees
    from .metrics import FOUR_NUMBERS, bracket_f1, format_confusion, format_report
    from .predict import TreePredictor
    from .tree import read_trees

    set_threads(threads)
    predictor = TreePredictor.load(model_dir, device)
    predictor.batch_size = batch_size
    if file is not None:
        gold, where = read_trees(file), str(file)
    else:
        data = predictor.recipe.data
        data.train = data.dev = data.test = None  # a trained model's file paths may not exist here
        data.data_dir = str(data_dir) if data_dir is not None else data.data_dir
        gold, where = load_trees(data, (split,))[split], f"{data.source} {split}"
    report = predictor.evaluate(gold, own_trees=predictor.task.model.builds_trees)
    print(f"{where}: {len(gold):,} trees, {sum(t.size for t in gold):,} labelled nodes")
    print(format_report(report))
    if "fine_root_greedy" in report:
        built = predictor.trees([t.words for t in gold])
        report["brackets"] = bracket_f1(gold, built)
        print(f"on its own greedy trees (plain sentences): fine root {report['fine_root_greedy'] * 100:.2f}, "
              f"binary root {report['binary_root_greedy'] * 100:.2f}; bracket F1 against the gold trees "
              f"{report['brackets']['f1'] * 100:.2f}")
    for where_in_tree in ("root", "all"):
        print(f"\nconfusion ({where_in_tree}{' phrases' if where_in_tree == 'all' else ''}):")
        print(format_confusion(report["confusion"][where_in_tree]))
    if confusion is not None:
        _plot_confusions(report["confusion"], confusion, where)
    if json_out is not None:
        json_out.write_text(json.dumps({"data": where, "report": report, "headline": {k: report[k] for k in FOUR_NUMBERS}},
                                       indent=2))


def _plot_confusions(matrices: dict, target: Path, where: str) -> None:
    from ..plots import plot_confusion

    names = [str(i) for i in range(5)]
    for kind, matrix in matrices.items():
        path = target.with_name(f"{target.stem}.{kind}{target.suffix or '.png'}")
        table = {g: {p: matrix[i][j] for j, p in enumerate(names)} for i, g in enumerate(names)}
        plot_confusion(table, path, top=5, title=f"{kind}: {where}")
        print(f"confusion matrix ({kind}) written to {path}")


def predict_command(model_dir: Path, texts: list[str] | None, input_file: Path | None, output: Path | None,
                    fmt: str, explain: bool, explain_html: Path | None, batch_size: int, device: str,
                    threads: int | None, console: Console) -> None:
    """``tagger predict`` for a tree model: per input (a bracketed tree or a plain
    sentence), the root label with its probabilities and the labelled tree; with
    ``--explain``, the tree drawn with every node coloured (HTML/SVG and PNG)."""
    from .predict import TreePredictor, describe_root

    if not texts and input_file is None:
        raise TaggerError("give a tree or a sentence to predict, or --input FILE")
    set_threads(threads)
    predictor = TreePredictor.load(model_dir, device)
    predictor.batch_size = batch_size
    items = list(texts) if texts else list(_read_items(input_file))
    plain = sum(1 for item in items if not item.lstrip().startswith("("))
    if plain:
        console.print(f"{plain} plain sentence(s): tree from {predictor.tree_source}")
    predictions = predictor.predict_nodes(items)
    if explain or explain_html is not None:
        _write_explanations(predictions, output, explain_html, str(model_dir), console)
        return
    lines = []
    for pred in predictions:
        if fmt == "jsonl":
            lines.append(json.dumps({"tree": pred.labelled_tree().to_string(), "label": pred.labels[pred.tree.root],
                                     "proba": pred.fine[pred.tree.root].round(4).tolist(),
                                     "positive": float(pred.binary[pred.tree.root][1])}) + "\n")
        else:
            lines.append(f"{describe_root(pred)}\t{pred.labelled_tree().to_string()}\n")
    if output is not None:
        output.write_text("".join(lines), encoding="utf-8")
    else:
        sys.stdout.write("".join(lines))


def _read_items(path: Path) -> Iterator[str]:
    from ..textfile import text_lines

    for _, text in text_lines(path, "input file"):
        if text.strip():
            yield text.strip()


def _write_explanations(predictions: list, output: Path | None, explain_html: Path | None, title: str,
                        console: Console) -> None:
    """HTML (SVG inside) to ``-o page.html`` or ``--explain-html``, and a PNG per tree
    beside it (``page.png``, ``page.2.png``, ...); ``-o tree.png`` writes the PNG alone,
    ``-o tree.svg`` the SVG. Without a file, the labelled trees as text."""
    from .draw import tree_page, tree_png, tree_svg
    from .predict import describe_root

    captions = [describe_root(p) for p in predictions]
    targets = [p for p in (explain_html, output) if p is not None]
    if not targets:
        sys.stdout.write("".join(f"{c}\n  {p.labelled_tree().to_string()}\n" for c, p in zip(captions, predictions)))
        return
    for target in targets:
        suffix = target.suffix.lower()
        if suffix == ".svg":
            target.write_text(tree_svg(predictions[0]), encoding="utf-8")
        elif suffix != ".png":
            target.write_text(tree_page(list(zip(captions, predictions)), f"tagger: {title}"), encoding="utf-8")
        pngs = [target] if suffix == ".png" else [
            target.with_suffix(".png" if i == 0 else f".{i + 1}.png") for i in range(len(predictions))]
        for png, caption, pred in zip(pngs, captions, predictions):
            tree_png(pred, png, caption)
        console.print(f"tree drawing written to {target}" + ("" if suffix == ".png" else f" and {pngs[0]}"))
