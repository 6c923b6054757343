"""Multi30k German->English translation: what attention buys, under one time budget.

    nice -n 10 python bench/seq2seq_multi30k.py --attention bahdanau none --minutes 25 \
        --set vocab.size=5000 --set model.embed_dim=192 --set model.hidden=192 --set model.dec_hidden=256 --set model.attention_dim=128
    python bench/seq2seq_multi30k.py --table          # the table from the saved results only
    python bench/seq2seq_multi30k.py --attention none dot luong bahdanau --minutes 7 --name seq2seq_attention_7min

Trains the ``multi30k`` recipe (bidirectional GRU encoder, GRU decoder with input
feeding, BPE subwords learned on the training split) once per attention kind, each for
the same wall-clock budget on one thread, keeping the epoch of the best validation BLEU
(greedy, lowercased 13a). The kept model is then scored on the validation split
(1,014 pairs) with greedy decoding and with beam 5: sacreBLEU BLEU lowercased 13a (the
form Multi30k papers report), cased detokenized BLEU, chrF, and BLEU by source length
(1-10, 11-15, 16-20, 21+ words), and the translation speed of both (sentences/s, one
thread). Each invocation adds its variants to bench/results/seq2seq_multi30k.json.

Each variant trains exactly as ``tagger train multi30k --max-minutes M --threads 1
--set model.attention=A`` does (the shared Trainer). Results written before this
script used the Trainer came from a minimal loop of its own (Adam, clipping, the
rate halved after an epoch without a better BLEU; commit 3bf2524).
Reads $TAGGER_DATA_DIR/multi30k or ../shared/data/multi30k and skips
cleanly when neither exists. Models: runs/bench-seq2seq/ATTENTION.
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
from benchutil import find_data  # noqa: E402  (puts the checkout on sys.path)

from tagger.seq2seq.config import load_seq2seq_recipe  # noqa: E402
from tagger.seq2seq.data import load_parallel  # noqa: E402
from tagger.seq2seq.metrics import bleu_by_length, bleu_report  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "seq2seq_multi30k.json"


def train_variant(data_dir: Path, attention: str, minutes: float, overrides: list[str], name: str) -> dict:
    """``tagger train multi30k`` (the shared Trainer: the recipe's optimizer, plateau schedule
    and early stopping on validation BLEU) with ``attention``, one thread, ``minutes`` of budget."""
    from tagger.seq2seq.train import train_seq2seq

    recipe = load_seq2seq_recipe("multi30k", [f"data.data_dir='{data_dir}'", f"model.attention='{attention}'",
                                              f"train.max_minutes={minutes}", "train.threads=1", *overrides])
    run_dir = Path("runs") / ("bench-seq2seq" if name == RESULTS.stem else name) / attention
    result = train_seq2seq(recipe, run_dir)
    history = [{"epoch": r.epoch, "minutes": round(r.elapsed / 60, 1), "loss": round(r.train_loss, 3),
                "bleu": r.dev["bleu"], "lr": r.lr} for r in result.epochs]
    seconds = sum(r.seconds for r in result.epochs)
    return {"attention": attention, "epochs": len(result.epochs), "train_minutes": round(result.seconds / 60, 1),
            "train_tok_per_s": round(sum(r.units_per_second * r.seconds for r in result.epochs) / max(seconds, 1e-9)),
            "history": history, "model_dir": str(result.model_dir), "stopped": result.stopped_because,
            "parameters": sum(p.numel() for p in result.model.parameters()), **score_model(result.model_dir, data_dir)}


def score_model(model_dir: Path, data_dir: Path) -> dict:
    from tagger.seq2seq.predict import Translator

    translator = Translator.load(model_dir)
    data = translator.recipe.data
    data.data_dir, data.source = str(data_dir), "multi30k"
    dev = load_parallel(data, ("valid",))["valid"]
    out = {}
    for beam in (1, 5):
        begin = time.perf_counter()
        hyps = translator.translate(dev.src, beam=beam)
        seconds = time.perf_counter() - begin
        report = bleu_report(hyps, dev.tgt)
        out[f"beam{beam}"] = {**{k: report[k] for k in ("bleu", "bleu_cased", "chrf", "brevity_penalty")},
                              "sentences_per_s": round(len(hyps) / seconds, 1),
                              "by_length": bleu_by_length(dev.src, hyps, dev.tgt),
                              "examples": [{"source": s, "reference": r, "translation": h}
                                           for s, r, h in list(zip(dev.src, dev.tgt, hyps))[:3]]}
    out["signature"] = report["signature"]
    return out


def table(results: dict) -> str:
    rows = ["| attention | epochs | minutes | BLEU greedy | BLEU beam 5 | cased BLEU beam 5 | chrF beam 5 | "
            "1-10 | 11-15 | 16-20 | 21+ | sent/s greedy | sent/s beam 5 |", "|" + " --- |" * 13]
    for name, r in results["variants"].items():
        b1, b5 = r["beam1"], r["beam5"]
        buckets = " | ".join(f"{v['bleu']}" for v in b5["by_length"].values())
        rows.append(f"| {name} | {r['epochs']} | {r['train_minutes']} | {b1['bleu']} | {b5['bleu']} | {b5['bleu_cased']} | "
                    f"{b5['chrf']} | {buckets} | {b1['sentences_per_s']} | {b5['sentences_per_s']} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attention", nargs="+", default=["bahdanau", "none"])
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget per variant")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override, e.g. vocab.size=5000")
    parser.add_argument("--table", action="store_true", help="print the table of the saved results and stop")
    parser.add_argument("--name", default=RESULTS.stem, help="results file bench/results/NAME.json (and runs/NAME/)")
    args = parser.parse_args()
    path = RESULTS.with_name(f"{args.name}.json")
    results = json.loads(path.read_text()) if path.exists() else {"variants": {}}
    if args.table:
        print(table(results))
        return 0
    data_dir = find_data("multi30k", ("train.de", "train.en", "val.de", "val.en"))
    if data_dir is None:
        print("skipped: no multi30k data ($TAGGER_DATA_DIR/multi30k or ../shared/data/multi30k)")
        return 0
    torch.set_num_threads(1)
    for attention in args.attention:
        load = os.getloadavg()
        result = train_variant(data_dir, attention, args.minutes, args.overrides, args.name)
        result |= {"overrides": args.overrides, "budget_minutes": args.minutes, "load_before": [round(x, 2) for x in load],
                   "load_after": [round(x, 2) for x in os.getloadavg()], "threads": 1, "cpu": platform.processor() or platform.machine(),
                   "command": " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv])}
        results["variants"][attention] = result
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
        print(table(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
