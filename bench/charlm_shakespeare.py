"""Character language models on tinyshakespeare: the loss target, and what the gates buy.

Reads ``$TAGGER_DATA_DIR/tinyshakespeare/input.txt`` or ``../shared/data/...`` and skips
cleanly when neither exists. The last 10% of the text is held out (cut at a line
break). Target (issue 7): a character LSTM reaches a validation loss of at most
1.55 nats per character within 30 minutes of training on this CPU.

    python bench/charlm_shakespeare.py --max-minutes 30                    # the LSTM target
    python bench/charlm_shakespeare.py --cells rnn,gru,lstm --max-minutes 8  # one budget each

Each run trains with ``tagger.lm.train_lm`` (the code behind ``tagger lm train``), then
samples 500 characters at temperature 0.8 from the best model. Results go to
bench/results/charlm_shakespeare.json (or charlm_cells.json for a comparison).
"""
from __future__ import annotations

import argparse
import math
import sys

from benchutil import ROOT, find_data, write_result
from rich.console import Console
from rich.table import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", default="lstm", help="comma-separated cells to compare: rnn,gru,lstm")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--bptt", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--max-minutes", type=float, default=30.0, help="training budget per cell")
    parser.add_argument("--eval-every", type=int, default=0, help="also validate every N steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=str(ROOT / "runs" / "bench-charlm"))
    parser.add_argument("--name", default=None, help="results file name (default by mode)")
    args = parser.parse_args()

    data = find_data("tinyshakespeare", required=("input.txt",))
    if data is None:
        print("skipped: tinyshakespeare/input.txt not found under $TAGGER_DATA_DIR or ../shared/data")
        return
    from tagger.lm.config import LMRecipe
    from tagger.lm.generate import generate
    from tagger.lm.model import load_lm
    from tagger.lm.text import read_text
    from tagger.lm.train import train_lm

    text = read_text(data / "input.txt")
    console = Console(stderr=True)
    rows = []
    for cell in args.cells.split(","):
        recipe = LMRecipe.from_fields(
            level="char", cell=cell, layers=args.layers, hidden=args.hidden, embed_dim=args.embed_dim,
            dropout=args.dropout, bptt=args.bptt, batch_size=args.batch_size, lr=args.lr, max_minutes=args.max_minutes,
            eval_every=args.eval_every, threads=args.threads, valid_fraction=0.1, patience=3, max_epochs=200)
        result = train_lm(recipe, f"{args.output}-{cell}", console, train_text=text)
        model = load_lm(result.best_dir)
        sample = generate(model, prime="KING LEAR:\n", length=500, temperature=0.8, seed=1)
        curve = [{"epoch": r.epoch, "step": r.step, "minutes": round(r.elapsed / 60, 2),
                  "train_nats": round(r.train_loss, 4), "valid_nats": round(r.dev["nats"], 4)} for r in result.epochs]
        first = next((c["minutes"] for c in curve if c["valid_nats"] <= 1.55), None)
        rows.append({
            "cell": cell, "layers": args.layers, "hidden": args.hidden,
            "parameters": sum(p.numel() for p in model.parameters()),
            "best_valid_nats": round(result.best_dev["nats"], 4),
            "best_valid_bpc": round(result.best_dev["nats"] / math.log(2), 4),
            "minutes": round(result.seconds / 60, 2), "epochs": result.epochs[-1].epoch,
            "chars_per_second": round(sum(r.units_per_second for r in result.epochs) / len(result.epochs)),
            "minutes_to_1.55": first, "stopped": result.stopped_because, "curve": curve, "sample": sample,
            "model": str(result.best_dir),
        })
        console.print(f"[bold]{cell}[/bold] sample (T=0.8):\n{sample}")
    table = Table(title=f"char LM on tinyshakespeare, {args.layers}x{args.hidden}, {args.max_minutes:g} min each, "
                        f"{args.threads} thread(s)")
    for col in ("cell", "valid nats/char", "valid bits/char", "epochs", "chars/s", "minutes", "first <= 1.55 at (min)"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["cell"], f"{r['best_valid_nats']:.4f}", f"{r['best_valid_bpc']:.4f}", str(r["epochs"]),
                      f"{r['chars_per_second']:,}", f"{r['minutes']:.1f}", str(r["minutes_to_1.55"] or "-"))
    Console().print(table)
    name = args.name or ("charlm_cells" if len(rows) > 1 else "charlm_shakespeare")
    path = write_result(name, {"data": "tinyshakespeare (last 10% held out)", "threads": args.threads,
                               "budget_minutes": args.max_minutes, "target_valid_nats": 1.55, "runs": rows,
                               "python": sys.version.split()[0]})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
