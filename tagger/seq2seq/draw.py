"""Attention matrices drawn: source pieces x target pieces, as an HTML heat map (a
self-contained page, one table per sentence) and a PNG (matplotlib)."""
from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from .translate import Translation

EOS = "</s>"


def _labels(t: Translation) -> tuple[list[str], list[str]]:
    return [*t.source_pieces, EOS], [*t.target_pieces, EOS]


def attention_table(t: Translation) -> str:
    """One ``<table>``: a row per target piece, a column per source piece, each cell
    shaded by its weight (the weight shows on hover); every row sums to 1."""
    if t.attention is None:
        return "<p>(this model has no attention: attention = \"none\")</p>"
    src, tgt = _labels(t)
    head = "".join(f'<th class="src"><div>{html.escape(p)}</div></th>' for p in src)
    rows = []
    for i, piece in enumerate(tgt):
        cells = "".join(f'<td style="background: rgba(30, 90, 200, {w:.3f})" title="{html.escape(piece)} &larr; '
                        f'{html.escape(src[j])}: {w:.3f}"></td>' for j, w in enumerate(t.attention[i].tolist()))
        rows.append(f'<tr><th class="tgt">{html.escape(piece)}</th>{cells}</tr>')
    return f'<table><tr><th></th>{head}</tr>\n' + "\n".join(rows) + "</table>"


def attention_page(items: Sequence[tuple[str, Translation]], title: str = "tagger: attention") -> str:
    blocks = [f'<div class="s"><p><b>{html.escape(src)}</b><br>&rarr; {html.escape(t.text)}</p>{attention_table(t)}</div>'
              for src, t in items]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n"
        "body { font-family: sans-serif; margin: 2em; }\n"
        ".s { margin-bottom: 2em; border-bottom: 1px solid #ddd; padding-bottom: 1em; }\n"
        "table { border-collapse: collapse; }\n"
        "td { width: 1.6em; height: 1.6em; border: 1px solid #eee; }\n"
        "th.tgt { text-align: right; font-weight: normal; padding-right: 0.4em; }\n"
        "th.src { vertical-align: bottom; font-weight: normal; height: 6em; }\n"
        "th.src div { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; }\n"
        "</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>Each row is a target subword; darker cells are the source subwords "
        "the decoder attended to when it produced it (hover for the weight; every row sums to 1).</p>\n"
        + "\n".join(blocks) + "\n</body>\n</html>\n"
    )


def attention_png(t: Translation, path: Path, caption: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if t.attention is None:
        raise ValueError("no attention to draw")
    src, tgt = _labels(t)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.38 * len(src) + 1.5), max(3.0, 0.32 * len(tgt) + 1.5)))
    ax.imshow(t.attention.numpy(), cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src)), src, rotation=90)
    ax.set_yticks(range(len(tgt)), tgt)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    if caption:
        ax.set_title(caption, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
