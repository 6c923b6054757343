"""One sentence's answer: its words with character offsets into the text the client
sent, tags per token task, spans per span task, labels and probabilities per
sentence task and, when asked, attention weights.

Offsets count Unicode code points (Python string indices), end exclusive. For a
sentence sent as tokens, the text is the tokens joined by single spaces.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..schemes import spans
from .models import ServedModel


@dataclass
class Prediction:
    """The model's output for one sentence (empty dicts for a sentence without words)."""
    labels: dict[str, list[str]] = field(default_factory=dict)
    proba: dict[str, dict[str, float]] = field(default_factory=dict)
    attention: dict[str, list[float]] = field(default_factory=dict)


def char_offsets(text: str, words: list[str]) -> list[list[int] | None]:
    """``[start, end]`` of each word in ``text``, searching left to right; None for a
    word the text does not hold as such (a tokenizer that rewrites words)."""
    cursor, out = 0, []
    for word in words:
        start = text.find(word, cursor)
        if start < 0:
            out.append(None)
            continue
        out.append([start, start + len(word)])
        cursor = start + len(word)
    return out


def span_records(text: str, offsets: list[list[int] | None], tags: list[str]) -> list[dict]:
    """The entities of a BIO tag sequence, with token and character positions."""
    records = []
    for label, first, last in spans(tags):
        start = offsets[first][0] if offsets[first] else None
        end = offsets[last - 1][1] if offsets[last - 1] else None
        records.append({
            "label": label, "start": start, "end": end, "token_start": first, "token_end": last,
            "text": text[start:end] if start is not None and end is not None else None,
        })
    return records


def sentence_result(
    text: str, words: list[str], prediction: Prediction, served: ServedModel, explain: bool = False
) -> dict:
    """The JSON object for one sentence; a sentence without words gets empty fields.
    ``explain`` adds ``attention``: a weight per word for each attention-pooling task."""
    tagger = served.tagger
    offsets = char_offsets(text, words)
    sentence_tasks = tagger.sentence_tasks
    token_tasks = [t for t in tagger.tasks if t not in sentence_tasks]
    result: dict = {
        "text": text,
        "tokens": words,
        "offsets": offsets,
        "tags": {t: prediction.labels.get(t, []) for t in token_tasks},
        "spans": {t: span_records(text, offsets, prediction.labels.get(t, [])) for t in served.span_tasks},
        "labels": {t: prediction.labels.get(t, []) for t in sentence_tasks},
        "probabilities": {t: prediction.proba.get(t, {}) for t in sentence_tasks},
    }
    if explain:
        result["attention"] = {t: prediction.attention.get(t, []) for t in served.attention_tasks}
    return result
