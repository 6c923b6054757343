"""Char-LM time with ``embed.charlm_context = -1`` (every sentence's LM string is its whole
document): one LM pass per document against one per sentence (issue #15).

    git archive OLD_COMMIT | tar -x -C /tmp/tagger_before
    nice -n 19 python bench/charlm_document_pass.py --before /tmp/tagger_before --docs 8 --rounds 3

Builds a tagger whose forward and backward char LMs are randomly initialised 1-layer LSTMs
(``--hidden``; what they learned does not change the time) on the first ``--docs``
documents of CoNLL-2003 valid, and times on one thread, in a fresh process per round
that alternates the code under ``--before`` and this checkout: ``encode_all`` (the
inputs), ``cache_charlm_features`` (what training computes once for frozen LMs: every
sentence's LM features) and ``decode_corpus`` (predict: LMs, encoder, CRF), each the
best of two runs in its process. It checks that both give the same features
(``torch.allclose``) and the same labels, and reports each round, the medians and
the ratios. Results: bench/results/charlm_document_pass_{DOCS}docs_h{HIDDEN}.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(tree: str, docs: int, hidden: int, out: str) -> None:
    """One round in this process, with the ``tagger`` package of ``tree``."""
    sys.path.insert(0, tree)
    import torch

    import tagger
    from tagger.batching import build_vocabs, encode_all
    from tagger.config import load_recipe
    from tagger.data import document_spans
    from tagger.io.conll import read_conll2003
    from tagger.lm.config import LMModelConfig
    from tagger.lm.model import LanguageModel
    from tagger.model import SequenceTagger
    from tagger.predict import decode_corpus
    from tagger.train import cache_charlm_features
    from tagger.vocab import PAD, UNK, Vocab

    assert Path(tagger.__file__).resolve().is_relative_to(Path(tree).resolve()), tagger.__file__
    torch.set_num_threads(1)
    data_dir = Path(os.environ.get("TAGGER_DATA_DIR", HERE.parent.parent / "shared" / "data")) / "conll2003"
    valid = read_conll2003(data_dir / "valid.txt")
    valid = valid[: document_spans([s.doc for s in valid])[docs - 1][1]]
    recipe = load_recipe("conll2003", ["embed.charlm_context=-1"])
    vocabs = build_vocabs(valid, recipe.heads, recipe.embed)
    chars = Vocab([PAD, UNK, "\n", " ", *sorted({c for s in valid for w in s.words for c in w})])
    vocabs.charlm = {d: LanguageModel(LMModelConfig(hidden=hidden, embed_dim=64, reverse=d == "bwd"), chars).describe()
                     for d in ("fwd", "bwd")}
    torch.manual_seed(0)
    model = SequenceTagger(recipe, vocabs).eval()
    times: dict[str, float] = {}

    def timed(name, fn):
        for _ in range(2):
            start = time.perf_counter()
            result = fn()
            times[name] = min(times.get(name, float("inf")), time.perf_counter() - start)
        return result

    encoded = timed("encode_all", lambda: encode_all(valid, vocabs, lm_tokens=-1, with_labels=False))
    timed("lm_features", lambda: cache_charlm_features(model, encoded, 256, torch.device("cpu")))
    feats = [e.lm_feats for e in encoded]
    for e in encoded:
        e.lm_feats = None  # predict computes them itself
    labels = timed("predict", lambda: decode_corpus(model, encoded, 256))
    torch.save({"feats": feats, "labels": labels, "times": times, "sentences": len(valid),
                "chars": sum(e.lm["fwd"][0].numel() for e in encoded),
                "distinct_chars": sum(map(len, {tuple(e.lm["fwd"][0].tolist()) for e in encoded}))}, out)


def run_round(tree: str, args: argparse.Namespace, out: Path) -> dict:
    subprocess.run([sys.executable, __file__, "--child", tree, "--docs", str(args.docs), "--hidden", str(args.hidden),
                    "--out", str(out)], check=True)
    import torch

    return torch.load(out, weights_only=True)  # our own child wrote it, but never unpickle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="a checkout of the code before the change (required)")
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.docs, args.hidden, args.out)
    if not args.before:
        parser.error("--before is required")
    import torch

    trees = {"before": str(Path(args.before).resolve()), "after": str(HERE.parent)}
    rounds: dict[str, list[dict]] = {"before": [], "after": []}
    load = [os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, tree in trees.items():
                got = run_round(tree, args, Path(tmp) / f"{name}.pt")
                rounds[name].append(got["times"])
                print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.3f} s" for k, v in got["times"].items()), flush=True)
                load.append(os.getloadavg())
                if name == "before":
                    before = got
        after = got
    same_feats = all(torch.allclose(a.float(), b.float(), atol=2e-3) for a, b in zip(before["feats"], after["feats"]))
    largest = max(float((a.float() - b.float()).abs().max()) for a, b in zip(before["feats"], after["feats"]))
    medians = {name: {k: statistics.median(t[k] for t in rs) for k in rs[0]} for name, rs in rounds.items()}
    ratios = {k: medians["before"][k] / medians["after"][k] for k in medians["after"]}
    per_round = {k: [b[k] / a[k] for b, a in zip(rounds["before"], rounds["after"])] for k in ratios}
    result = {"docs": args.docs, "sentences": after["sentences"], "hidden": args.hidden,
              "lm_chars_per_sentence_summed": before["chars"], "lm_chars_distinct": before["distinct_chars"],
              "rounds": rounds, "medians_s": medians,
              "ratio_before_over_after": ratios, "ratio_per_round": per_round, "same_features": same_feats,
              "largest_feature_difference": largest, "same_labels": before["labels"] == after["labels"],
              "loadavg_1_5_15": load, "threads": 1}
    print(json.dumps({k: result[k] for k in ("medians_s", "ratio_before_over_after", "ratio_per_round", "same_features",
                                             "largest_feature_difference", "same_labels")}, indent=1))
    out = HERE / "results" / f"charlm_document_pass_{args.docs}docs_h{args.hidden}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
