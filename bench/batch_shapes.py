"""How the torch-free runtime cuts sentences into batches, and what it costs: CoNLL-2003
valid through ``tagger export`` directories, one thread, in interleaved rounds.

    python bench/batch_shapes.py --model runs/peers/onnx-int8 runs/peers/onnx-fp32

Three ways to batch (``tagger.runtime.inputs``), each timed on two workloads:

* ``before``: length-sorted batches of up to 256 sentences and 20,000 padded words,
  never split (the runtime up to this benchmark);
* ``cap``: the same, at most ``--max-tokens`` padded words per batch;
* ``cap+split``: the cap, and a batch of mixed lengths cut where padding costs more
  than another call (``split_by_length``, the runtime's default).

Workloads: ``offline`` is what ``tagger predict`` does with a file (``predict_all`` on
chunks of 1,024 sentences, batch 256); ``server16`` is what ``tagger serve`` runs under
16 clients (``predict_with_proba`` on batches of 16 random valid sentences). Words per
second are the best of ``--rounds`` rounds; ratios are to ``before`` in the same round
order, so a slower or faster moment of this shared machine falls on all three. The
share of sentences labelled as ``before`` is reported: all of them for an fp32 export (the
split is exact); an int8 export quantizes activations per batch, so batch-mates matter. A per-call table (``--shapes``) times
the bare graph at a few batch sizes and lengths: what ``CALL_COST`` and ``STEP_COST``
are measured from.
"""
from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from benchutil import find_data, write_result
from rich.console import Console
from rich.table import Table

WAYS = {"before": (20_000, float("inf")), "cap": (None, float("inf")), "cap+split": (None, None)}


def configure(inputs, way: str, max_tokens: int, defaults: tuple[int, float]) -> None:
    tokens, call = WAYS[way]
    inputs.MAX_TOKENS = max_tokens if tokens is None else tokens
    inputs.CALL_COST = defaults[1] if call is None else call


def time_ways(model, inputs, sentences, server_batches, rounds: int, max_tokens: int) -> dict:
    defaults = (inputs.MAX_TOKENS, inputs.CALL_COST)
    workloads = {
        "offline": lambda: [labels for i in range(0, len(sentences), 1024) for labels in model.predict_all(sentences[i : i + 1024])],
        "server16": lambda: [model.predict_with_proba(batch)[0] for batch in server_batches],
    }
    words = {"offline": sum(map(len, sentences)), "server16": sum(len(s) for b in server_batches for s in b)}
    best: dict[str, dict[str, float]] = {w: {} for w in workloads}
    labels: dict[str, dict[str, list]] = {w: {} for w in workloads}
    try:
        for _ in range(rounds):
            for way in WAYS:
                configure(inputs, way, max_tokens, defaults)
                for name, run in workloads.items():
                    start = time.perf_counter()
                    out = run()
                    elapsed = time.perf_counter() - start
                    best[name][way] = min(best[name].get(way, float("inf")), elapsed)
                    labels[name][way] = out
    finally:
        inputs.MAX_TOKENS, inputs.CALL_COST = defaults
    speeds = {name: {way: words[name] / best[name][way] for way in WAYS} for name in workloads}
    return speeds, {way: same_share(labels["offline"][way], labels["offline"]["before"]) for way in WAYS}


def same_share(labels: list, reference: list) -> float:
    """The share of sentences labelled as in ``reference``: 1.0 for an fp32 export; an int8
    export quantizes its activations per batch, so a sentence's batch-mates can move a label."""
    return sum(a == b for a, b in zip(labels, reference, strict=True)) / len(reference)


def graph_shapes(model) -> list[dict]:
    """The bare graph (``session.run``) on batches of one repeated word: ms per call."""
    from tagger.runtime.inputs import batch_arrays, lm_arrays

    rows = []
    for length in (5, 15, 30, 60):
        for size in (1, 4, 16, 64, 128):
            encoded = [[model.features("Germany")] * length for _ in range(size)]
            arrays = batch_arrays(encoded)
            if model.features.lm:  # a char-LM export reads each sentence's characters too
                arrays.update(lm_arrays([["Germany"] * length] * size, model.features.lm))
            feed = {name: arrays[name] for name in model._inputs}
            model.session.run(None, feed)
            repeats = max(3, 2000 // (size * length))
            start = time.perf_counter()
            for _ in range(repeats):
                model.session.run(None, feed)
            ms = (time.perf_counter() - start) / repeats * 1e3
            rows.append({"length": length, "batch": size, "ms": round(ms, 3), "us_per_word": round(ms * 1e3 / (size * length), 2)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, nargs="+", required=True, help="tagger export directories")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--max-tokens", type=int, default=None, help="the cap of 'cap' (default: the runtime's)")
    parser.add_argument("--shapes", action="store_true", help="also time the bare graph per batch shape")
    parser.add_argument("--name", default="batch_shapes", help="results file: bench/results/NAME.json")
    args = parser.parse_args()
    data = find_data("conll2003", ("valid.txt",))
    if data is None:
        print("skipped: CoNLL-2003 valid.txt not found (set TAGGER_DATA_DIR or put it in ../shared/data/conll2003)")
        return 0
    import tagger.runtime
    from tagger.io.conll import read_conll2003
    from tagger.runtime import inputs

    sentences = [s.words for s in read_conll2003(data / "valid.txt")]
    rng = random.Random(0)
    server_batches = [rng.sample(sentences, 16) for _ in range(200)]
    max_tokens = args.max_tokens or inputs.MAX_TOKENS
    load_before = os.getloadavg()
    results = {}
    table = Table(title=f"words/s, one thread (cap {max_tokens} padded words)")
    for column in ("model", "workload", *WAYS, "cap+split / before", "same labels"):
        table.add_column(column, justify="left" if column in ("model", "workload") else "right",
                         overflow="fold" if column == "model" else "ellipsis")
    for model_dir in args.model:
        model = tagger.runtime.load(model_dir, threads=1, batch_size=256)
        model.predict_all(sentences[:256])  # warm-up
        speeds, same = time_ways(model, inputs, sentences, server_batches, args.rounds, max_tokens)
        results[str(model_dir)] = {"words_per_second": speeds, "quantize": model.quantize,
                                   "offline_sentences_labelled_as_before": same}
        if args.shapes:
            results[str(model_dir)]["graph_shapes"] = graph_shapes(model)
        for workload, by_way in speeds.items():
            table.add_row(str(model_dir), workload, *(f"{by_way[w]:,.0f}" for w in WAYS),
                          f"{by_way['cap+split'] / by_way['before']:.2f}x",
                          f"{same['cap+split']:.2%}" if workload == "offline" else "")
    Console().print(table)
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"load average before {load['before'][0]:.2f}, after {load['after'][0]:.2f} (2 cores)")
    path = write_result(args.name, {"max_tokens": max_tokens, "call_cost": inputs.CALL_COST, "step_cost": inputs.STEP_COST,
                                    "rounds": args.rounds, "server_batches": len(server_batches), "models": results,
                                    "load_average": load})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
