"""Showing what an attention-pooling classifier looked at: per-token weights as text
and as an HTML heat map (``tagger predict MODEL --explain``)."""
from __future__ import annotations

import html
from collections.abc import Iterable, Sequence


def format_labels(labels: Sequence[str], proba: dict[str, float] | None) -> str:
    """``positive (0.93)``; several labels (multi-label) joined by commas; ``(none)`` for none."""
    if not labels:
        return "(none)"
    if proba is None:
        return ", ".join(labels)
    return ", ".join(f"{label} ({proba[label]:.2f})" for label in labels)


def format_weights(weights: Sequence[tuple[str, float]]) -> str:
    """``a(0.01) gripping(0.32) ,(0.09) funny(0.42) film(0.16)``."""
    return " ".join(f"{word}({weight:.2f})" for word, weight in weights)


def attention_page(
    items: Iterable[tuple[str, Sequence[tuple[str, float]]]], title: str = "tagger: attention"
) -> str:
    """A self-contained HTML page: one block per sentence, its predicted labels as a
    heading and each word shaded by its attention weight (relative to the sentence's
    largest weight; the exact weight shows on hover)."""
    blocks = []
    for caption, weights in items:
        peak = max((w for _, w in weights), default=0.0) or 1.0
        words = "".join(
            f'<span class="w" style="background: rgba(220, 60, 30, {w / peak:.3f})" title="{w:.4f}">'
            f"{html.escape(word)}</span> "
            for word, w in weights
        )
        blocks.append(f'<div class="s"><div class="c">{html.escape(caption)}</div><div>{words}</div></div>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n"
        "body { font-family: sans-serif; margin: 2em; line-height: 2.2; }\n"
        ".s { margin-bottom: 1.5em; border-bottom: 1px solid #ddd; padding-bottom: 0.5em; }\n"
        ".c { font-weight: bold; color: #333; }\n"
        ".w { padding: 0.15em 0.25em; border-radius: 0.25em; }\n"
        "</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>Darker words weigh more in the attention pooling "
        "(shading relative to each sentence's largest weight; hover for the weight).</p>\n"
        + "\n".join(blocks)
        + "\n</body>\n</html>\n"
    )
