"""The spaCy component on CoNLL-2003 valid: what spaCy's tokenizer costs, and how fast ``nlp.pipe`` is.

    python bench/spacy_component.py --model runs/conll2003

Reads ``valid.txt`` from $TAGGER_DATA_DIR/conll2003 or ../shared/data/conll2003
and skips cleanly (exit 0) when neither exists. Writes
bench/results/spacy_component.json.

1. Accuracy. The same model scores the valid split twice:

   * on the gold tokens (``Tagger.predict``), scored with seqeval in strict
     IOB2 mode, as ``tagger evaluate`` does;
   * through ``spacy.blank("en")`` + the ``bilstm_tagger`` component, run on
     the raw text of each sentence (its words joined with single spaces) and so
     on spaCy's tokens, not the gold ones; once as configured by default
     (hyphenated words that spaCy splits are read whole, ``join_hyphens``) and
     once with ``join_hyphens=False`` (the model reads spaCy's tokens as they are).

   Predictions on different tokens cannot be compared token by token, so both
   are scored by character offsets: an entity is ``(sentence, type, first
   char, end char)`` in the sentence text, and precision/recall/F1 count exact
   matches (micro-averaged over all entities). This is seqeval's strict span
   matching moved from token to character positions: with the gold tokens the
   two give identical numbers (the script checks this), because joining words
   with single spaces makes token spans and character spans correspond one to
   one. With spaCy's tokens an entity is only right if its characters are
   exactly the gold entity's, so a gold word that spaCy splits (``ex-England``)
   can only be matched if the model tags all of its pieces.

2. Speed, on one thread (``torch.set_num_threads(1)``): ``nlp.pipe(texts)`` end
   to end (spaCy tokenization included) against ``Tagger.predict_all`` on the
   same words (the component's ``model_words`` of each Doc), as tokens per second
   and as a ratio (pipe / direct). Times are the process's CPU time, which on
   one thread is the work done even on a busy machine (wall-clock numbers are
   reported too). The two alternate; the ratio is the median over rounds of
   the two times taken back to back, tokens/s come from each side's fastest.
   Both sides hand the model the same sentences at once, as the model sorts
   and batches what it is given by length and a bigger window pads less: the
   whole split (``nlp.pipe(texts, batch_size=len(texts))`` against one
   ``predict_all`` call), and ``nlp.pipe``'s default ``batch_size`` of 1000 Docs
   (against ``predict_all`` on the same 1000 sentences at a time); the default
   ``nlp.pipe`` against one call on the whole split is reported too. The
   component alone (``component.pipe`` on already tokenized Docs) and spaCy's
   tokenizer alone are reported as well, and so is the work ``nlp.pipe`` adds to
   the model's, piece by piece (tokenizing, reading the Docs' words, writing the
   annotations), as a fraction of the model's time: short enough to time many
   times, these give the ratio the pieces imply, steadier than the end-to-end
   ratio on a busy machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import spacy  # noqa: E402

from tagger.io.conll import read_conll2003  # noqa: E402
from tagger.metrics import span_report  # noqa: E402
from tagger.model import resolve_model_dir  # noqa: E402
from tagger.predict import Tagger  # noqa: E402
from tagger.schemes import spans  # noqa: E402

console = Console()

CharSpan = tuple[int, str, int, int]  # sentence, type, start char, end char


def find_valid() -> Path | None:
    candidates = []
    if os.environ.get("TAGGER_DATA_DIR"):
        candidates.append(Path(os.environ["TAGGER_DATA_DIR"]) / "conll2003")
    candidates.append(HERE.parent.parent / "shared" / "data" / "conll2003")
    return next((c / "valid.txt" for c in candidates if (c / "valid.txt").exists()), None)


def char_spans_from_tags(words: list[str], tags: list[str], sentence: int) -> set[CharSpan]:
    """Entities of BIO tags over ``words`` as character spans in ``" ".join(words)``."""
    starts, pos = [], 0
    for word in words:
        starts.append(pos)
        pos += len(word) + 1
    return {(sentence, label, starts[s], starts[e - 1] + len(words[e - 1])) for label, s, e in spans(tags)}


def char_spans_from_tags_all(words: list[list[str]], tags: list[list[str]]) -> set[CharSpan]:
    """Every sentence's entities as character spans, keyed by sentence number."""
    return set().union(*(char_spans_from_tags(w, t, i) for i, (w, t) in enumerate(zip(words, tags))))


def prf(gold: set[CharSpan], pred: set[CharSpan]) -> dict:
    def score(g: set, p: set) -> dict:
        tp = len(g & p)
        precision = tp / len(p) if p else 0.0
        recall = tp / len(g) if g else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": len(g)}

    types = sorted({s[1] for s in gold | pred})
    return {
        **score(gold, pred),
        "per_type": {t: score({s for s in gold if s[1] == t}, {s for s in pred if s[1] == t}) for t in types},
    }


def timed_rounds(fns: dict, repeats: int) -> dict:
    """Time functions in turn, ``repeats`` rounds, by the process's CPU time (on one
    thread, the work done whatever else the machine runs) and by the wall clock.

    Returns, per name, the fastest ``cpu`` and ``wall`` time and the list of CPU
    times by round, so ratios can be taken between runs made back to back."""
    out = {name: {"cpu": float("inf"), "wall": float("inf"), "rounds": []} for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            cpu, wall = time.process_time(), time.perf_counter()
            fn()
            spent = time.process_time() - cpu
            out[name]["rounds"].append(spent)
            out[name]["cpu"] = min(out[name]["cpu"], spent)
            out[name]["wall"] = min(out[name]["wall"], time.perf_counter() - wall)
    return out


def paired_ratio(times: dict, base: str, other: str) -> tuple[float, list[float]]:
    """Median over rounds of base / other (how fast ``other`` is, relative to ``base``)."""
    ratios = [b / o for b, o in zip(times[base]["rounds"], times[other]["rounds"])]
    return statistics.median(ratios), ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="model directory (or run directory)")
    parser.add_argument("--repeats", type=int, default=5, help="timing runs per side (fastest kept)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N sentences (a quick look)")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "spacy_component.json")
    args = parser.parse_args()

    valid = find_valid()
    if valid is None:
        print("skipped: CoNLL-2003 valid.txt not found (set TAGGER_DATA_DIR or put it in ../shared/data/conll2003)")
        return 0
    model_dir = resolve_model_dir(args.model)
    torch.set_num_threads(1)
    gold = read_conll2003(valid)[: args.limit]
    words = [s.words for s in gold]
    texts = [" ".join(w) for w in words]
    gold_tags = [s.tags["ner"] for s in gold]
    gold_chars = char_spans_from_tags_all(words, gold_tags)

    # -- accuracy -------------------------------------------------------------
    tagger = Tagger.load(model_dir)
    on_gold = tagger.predict(words, "ner")
    seqeval = span_report(gold_tags, on_gold)
    on_gold_chars = char_spans_from_tags_all(words, on_gold)
    gold_tokens_chars = prf(gold_chars, on_gold_chars)
    if abs(gold_tokens_chars["f1"] - seqeval["f1"]) > 1e-9:
        raise SystemExit(f"char-offset scoring disagrees with seqeval: {gold_tokens_chars['f1']} vs {seqeval['f1']}")

    nlp = spacy.blank("en")
    component = nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir)})
    docs = list(nlp.pipe(texts))
    pipe_chars = {(i, e.label_, e.start_char, e.end_char) for i, doc in enumerate(docs) for e in doc.ents}
    via_spacy = prf(gold_chars, pipe_chars)

    as_is = spacy.blank("en")
    as_is.add_pipe("bilstm_tagger", config={"model": str(model_dir), "join_hyphens": False})
    as_is_chars = {(i, e.label_, e.start_char, e.end_char) for i, doc in enumerate(as_is.pipe(texts)) for e in doc.ents}
    via_spacy_as_is = prf(gold_chars, as_is_chars)

    # Where the words the model reads differ from the gold words, and what that costs.
    model_words = [[w for unit in component.model_words(doc) for w in unit] for doc in docs]
    differ_set = {i for i, (mw, w) in enumerate(zip(model_words, words)) if mw != w}
    split_words: Counter[str] = Counter()
    for i in sorted(differ_set):
        split_words.update(set(words[i]) - set(model_words[i]))
    on_differing = {
        "gold_tokens": prf({s for s in gold_chars if s[0] in differ_set}, {s for s in on_gold_chars if s[0] in differ_set}),
        "spacy_tokens": prf({s for s in gold_chars if s[0] in differ_set}, {s for s in pipe_chars if s[0] in differ_set}),
    }

    # -- speed ----------------------------------------------------------------
    model_input = [unit for doc in docs for unit in component.model_words(doc)]
    n_tokens = sum(len(doc) for doc in docs)  # spaCy tokens: what nlp.pipe processes
    tagger.predict_all(model_input[:64])  # warm-up
    # Both ways, the model is handed the same sentences at once: the whole split, or
    # nlp.pipe's default batch_size (1000 Docs) at a time. units_per_doc keeps the
    # direct chunks aligned with nlp.pipe's batches of Docs.
    whole, window = len(texts), nlp.batch_size
    units_per_doc = [len(component.model_words(doc)) for doc in docs]
    bounds = [0]
    for start in range(0, len(docs), window):
        bounds.append(bounds[-1] + sum(units_per_doc[start : start + window]))
    chunks = [model_input[a:b] for a, b in zip(bounds, bounds[1:])]
    times = timed_rounds(
        {
            "direct": lambda: tagger.predict_all(model_input),
            "pipe": lambda: [None for _ in nlp.pipe(texts, batch_size=whole)],
            "direct_window": lambda: [tagger.predict_all(chunk) for chunk in chunks],
            "pipe_window": lambda: [None for _ in nlp.pipe(texts)],
        },
        args.repeats,
    )
    ratio, ratios = paired_ratio(times, "direct", "pipe")
    ratio_window, ratios_window = paired_ratio(times, "direct_window", "pipe_window")
    ratio_cross, _ = paired_ratio(times, "direct", "pipe_window")
    # The work nlp.pipe adds to the model's, piece by piece (short, so timed many times).
    pre_tokenized = [nlp.make_doc(t) for t in texts]
    predicted = component.predict(pre_tokenized)
    pieces = timed_rounds(
        {
            "tokenize": lambda: [nlp.make_doc(t) for t in texts],
            "read_words": lambda: [component._units(doc) for doc in pre_tokenized],
            "write_annotations": lambda: component.set_annotations(pre_tokenized, predicted),
        },
        max(args.repeats, 9),
    )
    model_cpu = times["direct"]["cpu"]
    overhead = {name: pieces[name]["cpu"] / model_cpu for name in pieces}
    parts = timed_rounds(
        {
            "tokenize": lambda: [nlp.make_doc(t) for t in texts],
            "component": lambda: [None for _ in component.pipe(pre_tokenized, batch_size=nlp.batch_size)],
        },
        args.repeats,
    )

    result = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "spacy": spacy.__version__,
        "model_dir": str(model_dir),
        "data": str(valid),
        "sentences": len(gold),
        "accuracy": {
            "gold_tokens_seqeval_f1": seqeval["f1"],
            "gold_tokens_char_f1": gold_tokens_chars["f1"],
            "spacy_tokens_char_f1": via_spacy["f1"],
            "f1_drop_points": 100 * (seqeval["f1"] - via_spacy["f1"]),
            "spacy_tokens_as_is_char_f1": via_spacy_as_is["f1"],
            "f1_drop_points_as_is": 100 * (seqeval["f1"] - via_spacy_as_is["f1"]),
            "gold_tokens": {k: gold_tokens_chars[k] for k in ("precision", "recall", "f1")},
            "spacy_tokens": {k: via_spacy[k] for k in ("precision", "recall", "f1")},
            "per_type_f1": {
                t: {"gold_tokens": gold_tokens_chars["per_type"].get(t, {}).get("f1", 0.0),
                    "spacy_tokens": row["f1"]}
                for t, row in via_spacy["per_type"].items()
            },
            "sentences_read_differently": len(differ_set),
            "f1_on_those_sentences": {k: v["f1"] for k, v in on_differing.items()},
            "gold_entities_in_those_sentences": on_differing["gold_tokens"]["support"],
            "gold_words_read_differently": split_words.most_common(15),
        },
        "speed": {
            "threads": 1,
            "spacy_tokens": n_tokens,
            "model_words": sum(len(u) for u in model_input),
            "nlp_pipe_tokens_per_s": n_tokens / times["pipe"]["cpu"],
            "direct_tokens_per_s": n_tokens / times["direct"]["cpu"],
            "pipe_over_direct": ratio,
            "pipe_over_direct_per_round": ratios,
            "batch_size": whole,
            "window_batch_size": window,
            "window_nlp_pipe_tokens_per_s": n_tokens / times["pipe_window"]["cpu"],
            "window_direct_tokens_per_s": n_tokens / times["direct_window"]["cpu"],
            "window_pipe_over_direct": ratio_window,
            "window_pipe_over_direct_per_round": ratios_window,
            "window_pipe_over_whole_split_direct": ratio_cross,
            "clock": "CPU time of the process (time.process_time); tokens/s from the fastest run, "
                     "ratios are medians over rounds of two runs made back to back",
            "wall_pipe_over_direct": times["direct"]["wall"] / times["pipe"]["wall"],
            "overhead_vs_model": overhead,
            "overhead_vs_model_total": sum(overhead.values()),
            "expected_pipe_over_direct": 1 / (1 + sum(overhead.values())),
            "component_only_tokens_per_s": n_tokens / parts["component"]["cpu"],
            "spacy_tokenizer_tokens_per_s": n_tokens / parts["tokenize"]["cpu"],
            "repeats": args.repeats,
        },
    }

    a, s = result["accuracy"], result["speed"]
    table = Table(title=f"spaCy component, CoNLL-2003 valid ({len(gold):,} sentences)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for row in [
        ("F1 on gold tokens (seqeval strict)", f"{a['gold_tokens_seqeval_f1'] * 100:.2f}"),
        ("  same, by character offsets", f"{a['gold_tokens_char_f1'] * 100:.2f}"),
        ("F1 through spaCy tokens (char offsets)", f"{a['spacy_tokens_char_f1'] * 100:.2f}"),
        ("  drop (points; target < 1.0)", f"{a['f1_drop_points']:.2f}"),
        ("  same, join_hyphens=False", f"{a['spacy_tokens_as_is_char_f1'] * 100:.2f} (drop {a['f1_drop_points_as_is']:.2f})"),
        ("sentences whose words differ from gold",
         f"{len(differ_set):,} ({a['gold_entities_in_those_sentences']:,} gold entities)"),
        ("  F1 there: gold / spaCy tokens",
         f"{a['f1_on_those_sentences']['gold_tokens'] * 100:.2f} / {a['f1_on_those_sentences']['spacy_tokens'] * 100:.2f}"),
        (f"nlp.pipe tokens/s (1 thread, batch_size={s['batch_size']})", f"{s['nlp_pipe_tokens_per_s']:,.0f}"),
        ("Tagger.predict_all, same words at once", f"{s['direct_tokens_per_s']:,.0f}"),
        ("  ratio pipe / direct (target >= 0.90)", f"{s['pipe_over_direct']:.3f}"),
        ("  same ratio by wall clock (load-sensitive)", f"{s['wall_pipe_over_direct']:.3f}"),
        (f"nlp.pipe, default batch_size={s['window_batch_size']}", f"{s['window_nlp_pipe_tokens_per_s']:,.0f}"),
        (f"Tagger.predict_all, {s['window_batch_size']} at a time", f"{s['window_direct_tokens_per_s']:,.0f}"),
        ("  ratio pipe / direct", f"{s['window_pipe_over_direct']:.3f}"),
        ("  ratio against the whole split at once", f"{s['window_pipe_over_whole_split_direct']:.3f}"),
        ("added work: tokenize / read words / write",
         " / ".join(f"{100 * overhead[k]:.1f}%" for k in ("tokenize", "read_words", "write_annotations"))),
        ("  ratio those imply", f"{s['expected_pipe_over_direct']:.3f}"),
        ("component.pipe alone (pre-tokenized)", f"{s['component_only_tokens_per_s']:,.0f}"),
        ("spaCy tokenizer alone", f"{s['spacy_tokenizer_tokens_per_s']:,.0f}"),
    ]:
        table.add_row(*row)
    console.print(table)
    if split_words:
        common = ", ".join(f"{w} ({n})" for w, n in split_words.most_common(8))
        console.print("gold words the model reads differently, most often: " + common)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    console.print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
