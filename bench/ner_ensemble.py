"""Trained CRF taggers combined (``tagger ensemble``), and document consistency, on CoNLL-2003 valid.

    python bench/ner_ensemble.py --run runs/s1 --run runs/s2 [--run runs/s3 ...]

For every model alone and every ensemble of two or more of them (every subset), valid F1,
unseen mentions and sentences with only unseen entities, each with
``heads.N.doc_consistency`` none, vote and vote+propagate (within ``-DOCSTART-`` documents).
An ensemble decodes with :class:`tagger.model.EnsembleTagger`'s own ``decode_mean``: each
member's encoder states are computed once per batch and reused by every subset, which gives
the labels ``tagger ensemble`` gives (tests/test_ensemble.py checks the two paths agree).

Speed: words/s on one thread of the first model alone and of the ensemble of all of them, in
interleaved rounds on the first ``--speed-sentences`` valid sentences (best of ``--rounds``),
with the load average before and after. Results: a table and bench/results/NAME.json.
"""
from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

import torch
from benchutil import ROOT, find_data, write_result
from rich.console import Console
from rich.table import Table

console = Console()
MODES = ("none", "vote", "vote+propagate")


def member_states(members, sentences, batch_size: int = 256):
    """Per eval batch (the same for every member: one vocabulary): the batch, its input
    positions and each member's encoder states."""
    from tagger.predict import _batches, encode_sentences

    encoded = encode_sentences(sentences, members[0], with_labels=False)
    out = []
    with torch.inference_mode():
        for batch, positions in _batches(encoded, batch_size):
            out.append((batch, positions, [m.states(batch) for m in members]))
    return out


def decode_subset(members, cached, subset: tuple[int, ...], n: int) -> list[list[str]]:
    """NER tags per sentence from the ensemble of ``subset`` (member indices)."""
    heads = [members[i].heads["ner"] for i in subset]
    itos = members[0].vocabs.labels["ner"].itos
    tags: list[list[str]] = [[] for _ in range(n)]
    with torch.inference_mode():
        for batch, positions, states in cached:
            ids = heads[0].decode_mean(heads, [states[i] for i in subset], batch.head_mask)
            for pos, row, length in zip(positions, ids.tolist(), batch.out_lengths.tolist()):
                tags[pos] = [itos[j] for j in row[:length]]
    return tags


def scores(gold, pred, words, seen) -> dict:
    from tagger.metrics import seen_unseen_report, span_report

    report = seen_unseen_report(words, gold, pred, seen)
    return {"f1": round(100 * span_report(gold, pred)["f1"], 2), "unseen_f1": round(100 * report["unseen"]["f1"], 2),
            "all_unseen_sentences_f1": round(100 * report["unseen_sentences"]["f1"], 2)}


def speed(members, words: list[list[str]], docs: list, rounds: int) -> dict:
    """Words/s of the first member alone and of the whole ensemble, interleaved rounds."""
    from tagger.model import EnsembleTagger
    from tagger.predict import Tagger

    taggers = {"one model": Tagger(members[0]), f"ensemble of {len(members)}": Tagger(EnsembleTagger(members))}
    n_words = sum(len(w) for w in words)
    best = {name: float("inf") for name in taggers}
    for _ in range(rounds):
        for name, tagger in taggers.items():
            start = time.perf_counter()
            tagger.predict_all(words, docs=docs)
            best[name] = min(best[name], time.perf_counter() - start)
    rates = {name: round(n_words / seconds) for name, seconds in best.items()}
    one, together = rates.values()
    return {"words_per_s": rates, "ratio": round(together / one, 3), "words": n_words, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, type=Path, help="a run (or model) directory")
    parser.add_argument("--name", default="ner_ensemble", help="results go to bench/results/NAME.json")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (0: no timing)")
    parser.add_argument("--speed-sentences", type=int, default=600, help="valid sentences timed per round")
    args = parser.parse_args()
    data = find_data("conll2003", ("train.txt", "valid.txt"))
    if data is None:
        console.print("no CoNLL-2003 in $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003: skipped")
        return
    from tagger.consistency import make_consistent
    from tagger.io.conll import read_conll2003
    from tagger.metrics import training_mentions
    from tagger.model import EnsembleTagger, load_model

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    valid = read_conll2003(data / "valid.txt")
    seen = training_mentions(read_conll2003(data / "train.txt"), "ner")
    words, gold, docs = [s.words for s in valid], [s.tags["ner"] for s in valid], [s.doc for s in valid]
    members = [load_model(run) for run in args.run]
    EnsembleTagger(members)  # the same vocabularies, tasks and context, or one line saying which differs
    cached = member_states(members, valid)
    names = [str(run) for run in args.run]
    rows = {}
    for k in range(1, len(members) + 1):
        for subset in itertools.combinations(range(len(members)), k):
            pred = decode_subset(members, cached, subset, len(valid))
            name = " + ".join(names[i] for i in subset)
            for mode in MODES:
                rows[name if mode == "none" else f"{name}  + {mode}"] = scores(
                    gold, make_consistent(words, pred, docs, mode), words, seen)
    table = Table(title="CRF ensembles and document consistency, CoNLL-2003 valid (seqeval strict)")
    for column in ("models", "F1", "unseen mentions", "all-unseen sentences"):
        table.add_column(column, justify="right")
    for name, r in rows.items():
        table.add_row(name, f"{r['f1']:.2f}", f"{r['unseen_f1']:.2f}", f"{r['all_unseen_sentences_f1']:.2f}")
    console.print(table)
    result: dict = {"rows": rows}
    if args.rounds and len(members) > 1:
        load_before = [round(x, 2) for x in os.getloadavg()]
        n = args.speed_sentences
        result["speed"] = speed(members, words[:n], docs[:n], args.rounds)
        result["speed"]["load_average"] = {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]}
        sp = result["speed"]
        console.print(f"1 thread, {sp['words']:,} words, best of {sp['rounds']}: {sp['words_per_s']}; "
                      f"ratio {sp['ratio']}; load {sp['load_average']}")
    console.print(f"written: {write_result(args.name, result).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
