"""Combining trained CRF taggers, and one document's mentions, on CoNLL-2003 valid.

    python bench/ner_ensemble.py --run runs/s1 --run runs/s2 [--run runs/s3]

For every model alone and for each ensemble of two or more (every subset), valid F1,
unseen mentions and sentences with only unseen entities:

- ``product``: Viterbi over the mean of the models' emission scores and transition
  scores. A CRF's path score is its log-probability plus a constant per sentence, so
  this path is the one with the highest product of the models' probabilities;
- ``+ doc vote`` and ``+ doc vote+propagate``: then :mod:`tagger.consistency` within each
  ``-DOCSTART-`` document (``heads.N.doc_consistency``, ``--doc-consistency``).

Results: a table and bench/results/NAME.json (``--name``, default ner_ensemble).
"""
from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

import torch
from benchutil import ROOT, find_data, write_result
from rich.console import Console
from rich.table import Table

console = Console()


def emissions(tagger, sentences) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...], list[str]]:
    """Per sentence its [n, L] emission scores from ``tagger``'s NER CRF head, the head's
    masked (transitions, start, end) and its label names."""
    from tagger.predict import _batches, encode_sentences

    model = tagger.model.eval()
    head = model.heads["ner"]
    encoded = encode_sentences(sentences, model, with_labels=False)
    out: list[torch.Tensor] = [torch.empty(0)] * len(sentences)
    with torch.inference_mode():
        for batch, positions in _batches(encoded, 256):
            scores = head.proj(model.states(batch))
            for pos, row, n in zip(positions, scores, batch.out_lengths.tolist()):
                out[pos] = row[:n].clone()
        params = tuple(p.clone() for p in head.crf.masked_params())
    return out, params, model.vocabs.labels["ner"].itos


def product_decode(scores: list[list[torch.Tensor]], params: list[tuple[torch.Tensor, ...]], itos: list[str],
                   batch_size: int = 256) -> list[list[str]]:
    """The best path under the mean of several CRFs' scores, per sentence."""
    from tagger.nn.decode import viterbi

    trans, start, end = (torch.stack(p).mean(0) for p in zip(*params))
    mean = [torch.stack(rows).mean(0) for rows in zip(*scores)]
    out: list[list[str]] = []
    for i in range(0, len(mean), batch_size):
        chunk = mean[i : i + batch_size]
        lengths = [len(c) for c in chunk]
        padded = torch.nn.utils.rnn.pad_sequence(chunk, batch_first=True)
        mask = torch.arange(padded.shape[1]).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
        ids = viterbi(padded, mask, trans, start, end)
        out.extend([itos[j] for j in row[:n]] for row, n in zip(ids.tolist(), lengths))
    return out


def scores(gold, pred, words, seen) -> dict:
    from tagger.metrics import seen_unseen_report, span_report

    report = seen_unseen_report(words, gold, pred, seen)
    return {"f1": round(100 * span_report(gold, pred)["f1"], 2), "unseen_f1": round(100 * report["unseen"]["f1"], 2),
            "all_unseen_sentences_f1": round(100 * report["unseen_sentences"]["f1"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, type=Path, help="a run (or model) directory")
    parser.add_argument("--name", default="ner_ensemble", help="results go to bench/results/NAME.json")
    args = parser.parse_args()
    data = find_data("conll2003", ("train.txt", "valid.txt"))
    if data is None:
        console.print("no CoNLL-2003 in $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003: skipped")
        return
    import tagger
    from tagger.consistency import make_consistent
    from tagger.io.conll import read_conll2003
    from tagger.metrics import training_mentions

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    valid = read_conll2003(data / "valid.txt")
    seen = training_mentions(read_conll2003(data / "train.txt"), "ner")
    words, gold, docs = [s.words for s in valid], [s.tags["ner"] for s in valid], [s.doc for s in valid]
    per_model = {str(run): emissions(tagger.load(run), valid) for run in args.run}
    if len({tuple(p[2]) for p in per_model.values()}) > 1:
        raise SystemExit("the models' NER label vocabularies differ: they cannot be combined")
    rows = {}
    for k in range(1, len(per_model) + 1):
        for subset in itertools.combinations(per_model, k):
            parts = [per_model[name] for name in subset]
            pred = product_decode([p[0] for p in parts], [p[1] for p in parts], parts[0][2])
            name = " + ".join(subset)
            rows[name] = scores(gold, pred, words, seen)
            for mode in ("vote", "vote+propagate"):
                rows[f"{name}  + doc {mode}"] = scores(gold, make_consistent(words, pred, docs, mode), words, seen)
    table = Table(title="CRF ensembles and document votes, CoNLL-2003 valid (seqeval strict)")
    for column in ("models", "F1", "unseen mentions", "all-unseen sentences"):
        table.add_column(column, justify="right")
    for name, r in rows.items():
        table.add_row(name, f"{r['f1']:.2f}", f"{r['unseen_f1']:.2f}", f"{r['all_unseen_sentences_f1']:.2f}")
    console.print(table)
    console.print(f"written: {write_result(args.name, {'rows': rows}).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
