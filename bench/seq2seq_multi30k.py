"""Multi30k German->English translation: what attention buys, under one time budget.

    nice -n 10 python bench/seq2seq_multi30k.py --attention bahdanau none --minutes 25 \
        --set vocab.size=5000 --set model.embed_dim=192 --set model.hidden=192 --set model.dec_hidden=256 --set model.attention_dim=128
    python bench/seq2seq_multi30k.py --table          # the table from the saved results only

Trains the ``multi30k`` recipe (bidirectional GRU encoder, GRU decoder with input
feeding, BPE subwords learned on the training split) once per attention kind, each for
the same wall-clock budget on one thread, keeping the epoch of the best validation BLEU
(greedy, lowercased 13a). The kept model is then scored on the validation split
(1,014 pairs) with greedy decoding and with beam 5: sacreBLEU BLEU lowercased 13a (the
form Multi30k papers report), cased detokenized BLEU, chrF, and BLEU by source length
(1-10, 11-15, 16-20, 21+ words), and the translation speed of both (sentences/s, one
thread). Each invocation adds its variants to bench/results/seq2seq_multi30k.json.

The loop here is the benchmark's own, kept minimal so that both variants get exactly
the same treatment under a wall-clock budget: Adam, gradient clipping, the learning
rate halved after an epoch without a better validation BLEU (``tagger train multi30k``
uses the shared trainer with the recipe's plateau schedule and early stopping).
Reads $TAGGER_DATA_DIR/multi30k or ../shared/data/multi30k and skips
cleanly when neither exists. Models: runs/bench-seq2seq/ATTENTION.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch
from benchutil import find_data  # noqa: E402  (puts the checkout on sys.path)

from tagger.seq2seq.config import load_seq2seq_recipe  # noqa: E402
from tagger.seq2seq.data import load_parallel  # noqa: E402
from tagger.seq2seq.metrics import bleu_by_length, bleu_report  # noqa: E402
from tagger.seq2seq.model import Seq2Seq  # noqa: E402
from tagger.seq2seq.task import Translation, build_vocabs  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "seq2seq_multi30k.json"


def train_variant(data_dir: Path, attention: str, minutes: float, overrides: list[str]) -> dict:
    recipe = load_seq2seq_recipe("multi30k", [f"data.data_dir='{data_dir}'", f"model.attention='{attention}'", *overrides])
    torch.manual_seed(recipe.train.seed)
    rng = random.Random(recipe.train.seed)
    data = load_parallel(recipe.data)
    src_vocab, tgt_vocab = build_vocabs(recipe, data["train"])
    model = Seq2Seq(recipe.model, len(src_vocab), len(tgt_vocab))
    task = Translation(recipe, model, src_vocab, tgt_vocab, data)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.train.lr)
    out_dir = Path("runs") / "bench-seq2seq" / attention
    start, best, history, steps, tokens = time.monotonic(), -1.0, [], 0, 0
    deadline = start + minutes * 60
    epoch = 0
    while time.monotonic() < deadline and epoch < recipe.train.max_epochs:
        epoch += 1
        for batch in task.batches(rng):
            loss, _, units = task.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.train.clip)
            optimizer.step()
            steps, tokens = steps + 1, tokens + units
            if time.monotonic() > deadline:
                break
        report, score = task.evaluate()
        history.append({"epoch": epoch, "minutes": round((time.monotonic() - start) / 60, 1), "loss": round(loss.item(), 3),
                        "bleu": report["bleu"], "lr": optimizer.param_groups[0]["lr"]})
        print(f"[{attention}] epoch {epoch}: {history[-1]}", flush=True)
        if score > best:
            best = score
            task.save(out_dir)
        else:
            for group in optimizer.param_groups:
                group["lr"] *= recipe.train.lr_decay
    train_minutes = (time.monotonic() - start) / 60
    return {"attention": attention, "epochs": epoch, "steps": steps, "train_minutes": round(train_minutes, 1),
            "train_tok_per_s": round(tokens / (train_minutes * 60)), "history": history, "model_dir": str(out_dir),
            "parameters": sum(p.numel() for p in model.parameters()), **score_model(out_dir, data_dir)}


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
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"variants": {}}
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
        result = train_variant(data_dir, attention, args.minutes, args.overrides)
        result |= {"overrides": args.overrides, "budget_minutes": args.minutes, "load_before": [round(x, 2) for x in load],
                   "load_after": [round(x, 2) for x in os.getloadavg()], "threads": 1, "cpu": platform.processor() or platform.machine(),
                   "command": " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv])}
        results["variants"][attention] = result
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False))
        print(table(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
