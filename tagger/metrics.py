"""Scores for tagging and classification, as plain JSON-able dicts.

Entity scores come from seqeval in strict IOB2 mode so numbers are
comparable with published results; the rest is plain Python.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

AVERAGES = ("micro avg", "macro avg", "weighted avg")


def _check_lengths(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")


def _row(scores: dict[str, Any]) -> dict[str, float | int]:
    # seqeval returns numpy scalars, "f1-score" and NaN for a macro average over
    # no types; callers want JSON-able floats in 0..1.
    def clean(value: Any) -> float:
        value = float(value)
        return 0.0 if math.isnan(value) else value

    return {
        "precision": clean(scores["precision"]),
        "recall": clean(scores["recall"]),
        "f1": clean(scores["f1-score"]),
        "support": int(scores["support"]),
    }


def span_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity precision/recall/F1 (seqeval strict mode, IOB2), overall and per type.

    Returns ``{"precision", "recall", "f1"}`` (micro), ``"per_type"`` mapping
    each type to ``{"precision", "recall", "f1", "support"}``, and the
    ``"micro avg"``, ``"macro avg"`` and ``"weighted avg"`` rows.
    """
    _check_lengths(gold, pred)
    if not gold:
        empty = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "per_type": {},
                **{name: dict(empty) for name in AVERAGES}}
    # Imported here: seqeval brings scikit-learn and SciPy (about 140 MB and a second),
    # which a process that only predicts never needs.
    from seqeval.metrics import classification_report as seqeval_report
    from seqeval.scheme import IOB2

    with warnings.catch_warnings():
        # numpy warns about the empty macro average when there are no entities.
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = seqeval_report(
            [list(s) for s in gold], [list(s) for s in pred],
            mode="strict", scheme=IOB2, output_dict=True, zero_division=0,
        )
    report: dict[str, Any] = {name: _row(raw[name]) for name in AVERAGES}
    micro = report["micro avg"]
    return {
        "precision": micro["precision"],
        "recall": micro["recall"],
        "f1": micro["f1"],
        "per_type": {name: _row(row) for name, row in sorted(raw.items()) if name not in AVERAGES},
        **report,
    }


def token_accuracy(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """Fraction of tokens whose predicted tag equals the gold tag (0.0 with no tokens)."""
    _check_lengths(gold, pred)
    total = sum(len(g) for g in gold)
    correct = sum(g == p for gs, ps in zip(gold, pred) for g, p in zip(gs, ps))
    return correct / total if total else 0.0


def format_span_report(report: dict[str, Any], token_acc: float | None = None) -> str:
    """Render ``span_report`` output as a fixed-width table with percentages."""
    names = list(report["per_type"]) + list(AVERAGES)
    if token_acc is not None:
        names.append("token accuracy")
    width = max(len(name) for name in names)
    header = f"{'':>{width}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>9}"

    def line(name: str, row: dict[str, float | int]) -> str:
        return (f"{name:>{width}}  {100 * row['precision']:>9.2f}  {100 * row['recall']:>9.2f}"
                f"  {100 * row['f1']:>9.2f}  {row['support']:>9d}")

    lines = [header, ""]
    lines += [line(name, row) for name, row in report["per_type"].items()]
    if report["per_type"]:
        lines.append("")
    lines += [line(name, report[name]) for name in AVERAGES]
    if token_acc is not None:
        lines += ["", f"{'token accuracy':>{width}}  {100 * token_acc:>9.2f}"]
    return "\n".join(lines)


def classification_report(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support for one label per item.

    Classes are the union of gold and predicted labels, as in scikit-learn, so
    a class that is only ever predicted lowers the macro average.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predicted")
    gold_counts = Counter(gold)
    pred_counts = Counter(pred)
    hits = Counter(g for g, p in zip(gold, pred) if g == p)

    per_class: dict[str, dict[str, float | int]] = {}
    for label in sorted(gold_counts.keys() | pred_counts.keys()):
        tp = hits[label]
        precision = tp / pred_counts[label] if pred_counts[label] else 0.0
        recall = tp / gold_counts[label] if gold_counts[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1,
                            "support": gold_counts[label]}

    def mean(key: str) -> float:
        return sum(row[key] for row in per_class.values()) / len(per_class) if per_class else 0.0

    macro = {"precision": mean("precision"), "recall": mean("recall"), "f1": mean("f1"),
             "support": len(gold)}
    return {
        "accuracy": sum(hits.values()) / len(gold) if gold else 0.0,
        "macro_f1": macro["f1"],
        "per_class": per_class,
        "macro avg": macro,
    }


def tag_report(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    oov_mask: Sequence[Sequence[bool]] | None = None,
) -> dict[str, Any]:
    """Token-level scores for a tag task (POS and the like), one label per token.

    Returns ``accuracy`` and ``tokens``; with ``oov_mask`` (True for a token
    unseen in training) also ``oov_accuracy``/``oov_tokens`` and
    ``iv_accuracy``/``iv_tokens`` (None when there is no such token);
    ``per_tag`` precision/recall/F1/support for every tag in gold or
    predictions, the ``macro avg`` and ``weighted avg`` rows, and ``confusion``,
    ``{gold tag: {predicted tag: count}}`` over all tokens (diagonal included).
    There is no top-level ``f1``: that key marks span reports.
    """
    _check_lengths(gold, pred)
    if oov_mask is not None:
        _check_lengths(gold, oov_mask)
    flat_gold = [t for sent in gold for t in sent]
    flat_pred = [t for sent in pred for t in sent]
    base = classification_report(flat_gold, flat_pred)
    per_tag = base["per_class"]
    total = len(flat_gold)

    def averaged(weights: dict[str, float]) -> dict[str, float | int]:
        mass = sum(weights.values())
        row: dict[str, float | int] = {
            key: (sum(per_tag[t][key] * w for t, w in weights.items()) / mass if mass else 0.0)
            for key in ("precision", "recall", "f1")
        }
        row["support"] = total
        return row

    confusion: dict[str, dict[str, int]] = {}
    for (g, p), count in sorted(Counter(zip(flat_gold, flat_pred)).items()):
        confusion.setdefault(g, {})[p] = count
    report: dict[str, Any] = {
        "accuracy": base["accuracy"],
        "tokens": total,
        "per_tag": per_tag,
        "macro avg": averaged({t: 1.0 for t in per_tag}),
        "weighted avg": averaged({t: float(row["support"]) for t, row in per_tag.items()}),
        "confusion": confusion,
    }
    if oov_mask is not None:
        flags = [bool(f) for sent in oov_mask for f in sent]
        for name, wanted in (("oov", True), ("iv", False)):
            hits = [g == p for g, p, f in zip(flat_gold, flat_pred, flags) if f is wanted]
            report[f"{name}_tokens"] = len(hits)
            report[f"{name}_accuracy"] = sum(hits) / len(hits) if hits else None
    return report


def most_confused(confusion: dict[str, dict[str, int]], top: int = 15) -> list[str]:
    """The ``top`` tags with the most errors, counting a tag's errors both as the gold
    tag (missed) and as the predicted one (wrongly given); ties by name."""
    mass: Counter[str] = Counter()
    for g, row in confusion.items():
        for p, count in row.items():
            if g != p:
                mass[g] += count
                mass[p] += count
    ranked = sorted(mass, key=lambda t: (-mass[t], t))
    return ranked[:top]


def format_tag_report(report: dict[str, Any]) -> str:
    """Render ``tag_report`` output as a fixed-width table with percentages."""
    names = list(report["per_tag"]) + ["macro avg", "weighted avg", "OOV accuracy", "token accuracy"]
    width = max(len(name) for name in names)
    header = f"{'':>{width}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>9}"

    def line(name: str, row: dict[str, float | int]) -> str:
        return (f"{name:>{width}}  {100 * row['precision']:>9.2f}  {100 * row['recall']:>9.2f}"
                f"  {100 * row['f1']:>9.2f}  {row['support']:>9d}")

    def accuracy(name: str, value: float | None, n: int) -> str:
        shown = f"{100 * value:>9.2f}" if value is not None else f"{'n/a':>9}"
        return f"{name:>{width}}  {shown}  ({n:,} tokens)"

    lines = [header, ""]
    lines += [line(name, row) for name, row in report["per_tag"].items()]
    lines += ["", line("macro avg", report["macro avg"]), line("weighted avg", report["weighted avg"]), ""]
    lines.append(accuracy("token accuracy", report["accuracy"], report["tokens"]))
    if "oov_tokens" in report:
        lines.append(accuracy("OOV accuracy", report["oov_accuracy"], report["oov_tokens"]))
        lines.append(accuracy("in-vocabulary", report["iv_accuracy"], report["iv_tokens"]))
    return "\n".join(lines)


def multilabel_report(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], labels: Sequence[str] = ()
) -> dict[str, Any]:
    """Scores for items that each carry a set of labels (multi-label classification).

    Every label is a yes/no decision per item. Returns ``micro_f1`` (and micro
    precision/recall: over all decisions pooled), ``macro_f1`` (the mean of the
    per-label F1s), ``accuracy`` (exact match: the predicted set equals the gold
    set), ``per_class`` precision/recall/F1/support (support = items with the
    label) and the ``micro avg``/``macro avg`` rows. Labels are those given plus
    any seen in gold or predictions.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold label sets but {len(pred)} predicted")
    gold_sets = [set(g) for g in gold]
    pred_sets = [set(p) for p in pred]
    names = sorted(set(labels).union(*gold_sets, *pred_sets)) if gold_sets else sorted(labels)

    def prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    per_class: dict[str, dict[str, float | int]] = {}
    totals = [0, 0, 0]
    for label in names:
        tp = sum(label in g and label in p for g, p in zip(gold_sets, pred_sets))
        n_pred = sum(label in p for p in pred_sets)
        n_gold = sum(label in g for g in gold_sets)
        precision, recall, f1 = prf(tp, n_pred, n_gold)
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}
        totals = [totals[0] + tp, totals[1] + n_pred, totals[2] + n_gold]
    micro_p, micro_r, micro_f1 = prf(*totals)

    def mean(key: str) -> float:
        return sum(row[key] for row in per_class.values()) / len(per_class) if per_class else 0.0

    return {
        "accuracy": sum(g == p for g, p in zip(gold_sets, pred_sets)) / len(gold) if gold else 0.0,
        "micro_f1": micro_f1,
        "macro_f1": mean("f1"),
        "per_class": per_class,
        "micro avg": {"precision": micro_p, "recall": micro_r, "f1": micro_f1, "support": totals[2]},
        "macro avg": {"precision": mean("precision"), "recall": mean("recall"), "f1": mean("f1"), "support": totals[2]},
    }


def format_classification_report(report: dict[str, Any]) -> str:
    """Render a sentence-task report (``classification_report`` or ``multilabel_report``
    output) as a fixed-width table with percentages."""
    rows = list(report["per_class"].items()) + [("macro avg", report["macro avg"])]
    if "micro avg" in report:
        rows.append(("micro avg", report["micro avg"]))
    names = [name for name, _ in rows] + ["exact-match accuracy", "accuracy"]
    width = max(len(name) for name in names)
    header = f"{'':>{width}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>9}"

    def line(name: str, row: dict[str, float | int]) -> str:
        return (f"{name:>{width}}  {100 * row['precision']:>9.2f}  {100 * row['recall']:>9.2f}"
                f"  {100 * row['f1']:>9.2f}  {row['support']:>9d}")

    lines = [header, ""] + [line(name, row) for name, row in rows[: len(report["per_class"])]] + [""]
    lines += [line(name, row) for name, row in rows[len(report["per_class"]) :]]
    lines.append("")
    if "micro_f1" in report:
        lines.append(f"{'micro-F1':>{width}}  {100 * report['micro_f1']:>9.2f}")
        lines.append(f"{'macro-F1':>{width}}  {100 * report['macro_f1']:>9.2f}")
        lines.append(f"{'exact-match accuracy':>{width}}  {100 * report['accuracy']:>9.2f}")
    else:
        lines.append(f"{'accuracy':>{width}}  {100 * report['accuracy']:>9.2f}")
        lines.append(f"{'macro-F1':>{width}}  {100 * report['macro_f1']:>9.2f}")
    return "\n".join(lines)


Mention = tuple[str, tuple[str, ...]]  # (entity type, its words)


def training_mentions(sentences: Sequence[Any], task: str) -> set[Mention]:
    """Every (type, words) entity mention of a task in the training sentences."""
    from .schemes import spans

    return {(kind, tuple(s.words[start:end])) for s in sentences for kind, start, end in spans(s.tags[task])}


def seen_unseen_report(words: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                       seen: set[Mention]) -> dict[str, Any]:
    """Entity scores split by whether a mention was seen in training (Augenstein et al.,
    2017): a mention is *seen* when the same words carry the same type as an entity of
    the training data. Gold mentions split the recall, predicted mentions the precision
    (a correct prediction falls on the side of its gold mention). ``unseen_sentences``
    are strict span scores over the sentences whose gold entities are all unseen."""
    from .schemes import spans

    _check_lengths(gold, pred)
    counts = {part: {"gold": 0, "predicted": 0, "correct": 0} for part in ("seen", "unseen")}
    unseen_only: list[int] = []
    for i, (sentence, gold_tags, pred_tags) in enumerate(zip(words, gold, pred)):
        gold_spans, pred_spans = set(spans(gold_tags)), set(spans(pred_tags))
        part_of = {s: "seen" if (s[0], tuple(sentence[s[1]:s[2]])) in seen else "unseen" for s in gold_spans | pred_spans}
        for span in gold_spans:
            counts[part_of[span]]["gold"] += 1
            counts[part_of[span]]["correct"] += span in pred_spans
        for span in pred_spans:
            counts[part_of[span]]["predicted"] += 1
        if gold_spans and all(part_of[s] == "unseen" for s in gold_spans):
            unseen_only.append(i)
    report: dict[str, Any] = {part: _prf(**c) for part, c in counts.items()}
    subset = span_report([gold[i] for i in unseen_only], [pred[i] for i in unseen_only])
    report["unseen_sentences"] = {"sentences": len(unseen_only), "precision": subset["precision"],
                                  "recall": subset["recall"], "f1": subset["f1"]}
    return report


def _prf(gold: int, predicted: int, correct: int) -> dict[str, float | int]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold": gold, "predicted": predicted, "correct": correct}


def format_seen_unseen(report: dict[str, Any]) -> str:
    rows = [f"{'mentions':<22}{'precision':>10}{'recall':>10}{'f1':>10}{'gold':>8}{'predicted':>10}"]
    for part in ("seen", "unseen"):
        r = report[part]
        rows.append(f"{part + ' in training':<22}{r['precision'] * 100:>10.2f}{r['recall'] * 100:>10.2f}"
                    f"{r['f1'] * 100:>10.2f}{r['gold']:>8,}{r['predicted']:>10,}")
    u = report["unseen_sentences"]
    rows.append(f"{'all-unseen sentences':<22}{u['precision'] * 100:>10.2f}{u['recall'] * 100:>10.2f}"
                f"{u['f1'] * 100:>10.2f}   ({u['sentences']:,} sentences)")
    return "\n".join(rows)
