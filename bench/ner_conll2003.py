"""CoNLL-2003 NER benchmark: accuracy, training time and prediction speed together.

    python bench/ner_conll2003.py                  # train the default recipe, then measure it
    python bench/ner_conll2003.py --model runs/conll2003   # measure an existing model only

Reads the data from $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003 and
skips cleanly when neither exists. Prediction speed is measured on one thread
over the whole valid split, as a ratio against a bare 1-layer BiLSTM forward
pass (hidden 256, batch 256) timed in the same process: the machine is noisy,
ratios are not. Results go to bench/results/ner_conll2003.json.
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

from tagger.batching import encode  # noqa: E402
from tagger.config import load_recipe  # noqa: E402
from tagger.io.conll import read_conll2003  # noqa: E402
from tagger.model import resolve_model_dir  # noqa: E402
from tagger.predict import Tagger, decode_corpus  # noqa: E402
from tagger.train import train  # noqa: E402

console = Console()






def baseline_bilstm(lengths: list[int], batch_size: int = 256) -> float:
    """Seconds for a bare 1-layer BiLSTM (hidden 256, input 100) over the same sentence
    lengths, sorted and packed like ours: the yardstick for the prediction speed."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(100, 256, batch_first=True, bidirectional=True).eval()
    order = sorted(lengths, reverse=True)
    batches = []
    for i in range(0, len(order), batch_size):
        chunk = torch.tensor(order[i : i + batch_size])
        batches.append((torch.randn(len(chunk), int(chunk[0]), 100), chunk))

    def run() -> None:
        with torch.inference_mode():
            for x, lens in batches:
                packed = torch.nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True)
                lstm(packed)

    return best_of(run)


def measure_prediction(model_dir: Path, valid_path: Path) -> dict:
    torch.set_num_threads(1)
    gold = read_conll2003(valid_path)
    words = [s.words for s in gold]
    n_tokens = sum(len(w) for w in words)
    tagger = Tagger.load(model_dir)
    tagger.predict(words[:50])  # warm-up
    end_to_end = best_of(lambda: tagger.predict(words))
    encoded = [encode(w, tagger.model.vocabs, with_labels=False) for w in words]
    model_only = best_of(lambda: decode_corpus(tagger.model, encoded, tagger.batch_size))
    baseline = baseline_bilstm([len(w) for w in words])
    report = tagger.evaluate(gold)["ner"]
    size = sum(f.stat().st_size for f in model_dir.iterdir() if f.is_file())
    return {
        "valid_f1": report["f1"],
        "valid_precision": report["precision"],
        "valid_recall": report["recall"],
        "valid_token_accuracy": report["token_accuracy"],
        "per_type_f1": {t: r["f1"] for t, r in report["per_type"].items()},
        "tokens": n_tokens,
        "threads": 1,
        "predict_tokens_per_s": n_tokens / end_to_end,
        "model_only_tokens_per_s": n_tokens / model_only,
        "baseline_bilstm_tokens_per_s": n_tokens / baseline,
        "speed_ratio_vs_baseline": baseline / end_to_end,
        "model_dir_bytes": size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="measure this model instead of training one")
    parser.add_argument("--output", type=Path, default=Path("runs/bench-conll2003"), help="run directory for training")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override, as in tagger train")
    args = parser.parse_args()

    data = find_data("conll2003")
    if data is None:
        print("skipped: CoNLL-2003 not found (set TAGGER_DATA_DIR or put it in ../shared/data/conll2003)")
        return 0
    result: dict = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__}
    if args.model is None:
        recipe = load_recipe("conll2003", [f"data.data_dir='{data}'", *args.overrides])
        trained = train(recipe, args.output, console)
        epochs = [
            {"epoch": r.epoch, "train_loss": r.train_loss, "valid_f1": r.dev_score, "seconds": r.seconds, "elapsed": r.elapsed}
            for r in trained.epochs
        ]
        f1_at = {f"f1_after_{n}": epochs[n - 1]["valid_f1"] for n in (1, 5, 10) if len(epochs) >= n}
        result["training"] = {
            "recipe": recipe.to_dict(),
            "wall_minutes": trained.seconds / 60,
            "epochs_run": len(epochs),
            "best_epoch": trained.best_epoch,
            "stopped_because": trained.stopped_because,
            "seconds_per_epoch": sum(e["seconds"] for e in epochs) / len(epochs),
            **f1_at,
            "curve": epochs,
        }
        model_dir = trained.model_dir
    else:
        model_dir = resolve_model_dir(args.model)
    result["model_dir"] = str(model_dir)
    result["prediction"] = measure_prediction(model_dir, data / "valid.txt")

    table = Table(title="CoNLL-2003 NER (valid split)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    p = result["prediction"]
    rows = [
        ("valid F1 (seqeval strict)", f"{p['valid_f1'] * 100:.2f}"),
        ("precision / recall", f"{p['valid_precision'] * 100:.2f} / {p['valid_recall'] * 100:.2f}"),
        ("predict tokens/s (1 thread, end to end)", f"{p['predict_tokens_per_s']:,.0f}"),
        ("  model only (pre-encoded)", f"{p['model_only_tokens_per_s']:,.0f}"),
        ("  bare BiLSTM-256 baseline, same process", f"{p['baseline_bilstm_tokens_per_s']:,.0f}"),
        ("  ratio ours / baseline", f"{p['speed_ratio_vs_baseline']:.2f}"),
        ("model directory size", f"{p['model_dir_bytes'] / 1e6:.1f} MB"),
    ]
    if "training" in result:
        t = result["training"]
        rows += [
            ("training wall time", f"{t['wall_minutes']:.1f} min ({t['epochs_run']} epochs, best {t['best_epoch']})"),
            ("seconds per epoch", f"{t['seconds_per_epoch']:.0f}"),
            *[(f"F1 after {n} epochs", f"{t[f'f1_after_{n}'] * 100:.2f}") for n in (1, 5, 10) if f"f1_after_{n}" in t],
        ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    out = HERE / "results" / "ner_conll2003.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
