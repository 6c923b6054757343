"""Translation scores from sacreBLEU: BLEU on cased detokenized text (sacreBLEU's
default, 13a tokenization inside), BLEU lowercased (13a: the form most Multi30k papers
report), chrF, and BLEU by source length."""
from __future__ import annotations

from collections.abc import Sequence

# Source length in words (whitespace-separated): 1-10, 11-15, 16-20, 21+.
BUCKETS = ((1, 10), (11, 15), (16, 20), (21, None))


def bucket_name(low: int, high: int | None) -> str:
    return f"{low}-{high}" if high is not None else f"{low}+"


def bleu_report(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """``bleu`` (lowercased 13a), ``bleu_cased`` (cased 13a), ``chrf``, and the BLEU
    signature; every number is sacreBLEU's, on a 0-100 scale."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    hyps, refs = list(hypotheses), [list(references)]
    lower, cased, chrf = BLEU(lowercase=True, tokenize="13a"), BLEU(tokenize="13a"), CHRF()
    lc = lower.corpus_score(hyps, refs)
    return {
        "bleu": round(lc.score, 2),
        "bleu_cased": round(cased.corpus_score(hyps, refs).score, 2),
        "chrf": round(chrf.corpus_score(hyps, refs).score, 2),
        "bleu_precisions": [round(p, 1) for p in lc.precisions],
        "brevity_penalty": round(lc.bp, 3),
        "sentences": len(hyps),
        "signature": str(lower.get_signature()),
    }


def bleu_by_length(sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Lowercased BLEU per source-length bucket: ``{"1-10": {"sentences": n, "bleu": b}, ...}``."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(lowercase=True, tokenize="13a")
    out = {}
    for low, high in BUCKETS:
        chosen = [i for i, s in enumerate(sources) if low <= len(s.split()) and (high is None or len(s.split()) <= high)]
        score = metric.corpus_score([hypotheses[i] for i in chosen], [[references[i] for i in chosen]]).score if chosen else None
        out[bucket_name(low, high)] = {"sentences": len(chosen), "bleu": None if score is None else round(score, 2)}
    return out
