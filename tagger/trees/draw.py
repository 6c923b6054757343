"""Drawing a predicted tree with every node coloured by its sentiment, as the
Sentiment Treebank's figures do (red negative, white neutral, blue positive, the
sign of the label in the node): SVG inside an HTML page, and PNG through matplotlib."""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .metrics import TreePrediction
from .tree import LABEL_NAMES

COLOURS = ("#b2182b", "#ef8a62", "#f7f7f7", "#67a9cf", "#2166ac")
SIGNS = ("−−", "−", "0", "+", "++")
X_STEP, Y_STEP, RADIUS, MARGIN = 64, 56, 15, 40
# The treebank's escapes, shown as the characters they stand for.
_SHOWN = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}


def shown(word: str) -> str:
    return _SHOWN.get(word, word.replace("\\/", "/").replace("\\*", "*"))


@dataclass
class Layout:
    """Node centres in drawing units: words spread along the bottom, a parent above
    the midpoint of its children, one row per height (the root on top)."""

    x: list[float]
    y: list[float]
    width: float
    height: float


def layout(pred: TreePrediction) -> Layout:
    tree = pred.tree
    heights = tree.heights()
    top = heights[-1]
    x = [MARGIN + X_STEP * i for i in range(len(tree.words))]
    for left, right in tree.children:
        x.append((x[left] + x[right]) / 2)
    y = [MARGIN + Y_STEP * (top - h) for h in heights]
    return Layout(x, y, 2 * MARGIN + X_STEP * max(len(tree.words) - 1, 0), 2 * MARGIN + Y_STEP * top + 30)


def _edges(pred: TreePrediction) -> list[tuple[int, int]]:
    n = len(pred.tree.words)
    return [(n + k, child) for k, pair in enumerate(pred.tree.children) for child in pair]


def tree_svg(pred: TreePrediction) -> str:
    geo, labels = layout(pred), pred.labels
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{geo.width:.0f}" height="{geo.height:.0f}" '
              f'viewBox="0 0 {geo.width:.0f} {geo.height:.0f}" font-family="sans-serif" font-size="12">')]
    for parent, child in _edges(pred):
        parts.append(f'<line x1="{geo.x[parent]:.1f}" y1="{geo.y[parent]:.1f}" x2="{geo.x[child]:.1f}" '
                     f'y2="{geo.y[child]:.1f}" stroke="#888" stroke-width="1.2"/>')
    for node, label in enumerate(labels):
        probability = pred.fine[node][label]
        parts.append(
            f'<g><title>{LABEL_NAMES[label]} ({probability:.2f})</title>'
            f'<circle cx="{geo.x[node]:.1f}" cy="{geo.y[node]:.1f}" r="{RADIUS}" fill="{COLOURS[label]}" stroke="#333"/>'
            f'<text x="{geo.x[node]:.1f}" y="{geo.y[node] + 4:.1f}" text-anchor="middle" '
            f'fill="{"#fff" if label in (0, 4) else "#000"}">{SIGNS[label]}</text></g>')
    for i, word in enumerate(pred.tree.words):
        parts.append(f'<text x="{geo.x[i]:.1f}" y="{geo.y[i] + RADIUS + 16:.1f}" text-anchor="middle">'
                     f'{html.escape(shown(word))}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def tree_page(items: Sequence[tuple[str, TreePrediction]], title: str = "tagger: sentiment trees") -> str:
    """A self-contained HTML page: per input, a caption (the root's label) and its tree."""
    legend = " ".join(f'<span class="k" style="background:{c}">{SIGNS[i]} {LABEL_NAMES[i]}</span>'
                      for i, c in enumerate(COLOURS))
    blocks = "\n".join(f'<div class="t"><div class="c">{html.escape(caption)}</div>{tree_svg(pred)}</div>'
                       for caption, pred in items)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n"
        "body { font-family: sans-serif; margin: 2em; }\n"
        ".t { margin-bottom: 2em; border-bottom: 1px solid #ddd; overflow-x: auto; }\n"
        ".c { font-weight: bold; margin-bottom: 0.5em; }\n"
        ".k { padding: 0.1em 0.5em; border: 1px solid #999; border-radius: 0.3em; margin-right: 0.3em; }\n"
        "</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>{legend}</p>\n<p>Each node is coloured by its predicted sentiment "
        "(hover for the probability).</p>\n" + blocks + "\n</body>\n</html>\n"
    )


def tree_png(pred: TreePrediction, path: str | Path, caption: str = "") -> None:
    """The same drawing through matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    geo, labels = layout(pred), pred.labels
    fig, ax = plt.subplots(figsize=(max(4.0, geo.width / 80), max(2.5, geo.height / 80)))
    for parent, child in _edges(pred):
        ax.plot([geo.x[parent], geo.x[child]], [geo.y[parent], geo.y[child]], color="#888", linewidth=1, zorder=1)
    ax.scatter(geo.x, geo.y, s=260, c=[COLOURS[label] for label in labels], edgecolors="#333", zorder=2)
    for node, label in enumerate(labels):
        ax.text(geo.x[node], geo.y[node], SIGNS[label].replace("−", "-"), ha="center", va="center", fontsize=7,
                color="white" if label in (0, 4) else "black", zorder=3)
    for i, word in enumerate(pred.tree.words):
        ax.text(geo.x[i], geo.y[i] + RADIUS + 10, shown(word), ha="center", va="top", fontsize=8, rotation=45 if len(word) > 8 else 0)
    ax.set_xlim(0, geo.width)
    ax.set_ylim(geo.height + 20, 0)
    ax.axis("off")
    if caption:
        ax.set_title(caption, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
