"""Looking inside a character LM, after Karpathy, Johnson & Fei-Fei (2015): which hidden
units track quotes, brackets or the position in a line."""
from __future__ import annotations

import html
from pathlib import Path

import torch
from torch import Tensor

from ..errors import TaggerError
from ..files import atomic_write_text
from .model import LanguageModel
from .text import stream, to_ids


@torch.inference_mode()
def unit_activations(lm: LanguageModel, text: str, layer: int = -1, state: str = "h") -> Tensor:
    """[len(text), hidden]: each unit's value after reading each character (left to right,
    whatever the model's direction, so rows line up with ``text``)."""
    if state not in ("h", "c"):
        raise TaggerError(f"state must be h or c, got '{state}'")
    if state == "c" and lm.cfg.cell != "lstm":
        raise TaggerError("state c (the cell) exists only in an LSTM; use --state h")
    n_layers = len(lm.layers)
    if not -n_layers <= layer < n_layers:
        raise TaggerError(f"layer must be in {-n_layers}..{n_layers - 1}, got {layer}")
    layer %= n_layers
    lm.eval()
    ids = to_ids(stream(text, "char", lm.cfg.lowercase, lm.cfg.reverse), lm.vocab)[None]
    outputs, _ = lm.run(ids)
    if state == "h":
        acts = outputs[layer][0]
    else:
        below = lm.embed(ids) if layer == 0 else outputs[layer - 1]
        acts = _lstm_cells(lm.layers[layer], below[0])
    return acts.flip(0) if lm.cfg.reverse else acts


def _lstm_cells(lstm: torch.nn.LSTM, x: Tensor) -> Tensor:
    """tanh of the cell state at every step ([T, H]); nn.LSTM returns only the last one."""
    w_ih, w_hh, b_ih, b_hh = lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0
    pre = x @ w_ih.T + b_ih + b_hh  # the input part of every gate, all steps at once
    h = x.new_zeros(lstm.hidden_size)
    c = x.new_zeros(lstm.hidden_size)
    cells = []
    for t in range(x.shape[0]):
        i, f, g, o = (pre[t] + w_hh @ h).chunk(4)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        cells.append(torch.tanh(c))
    return torch.stack(cells)


def text_properties(text: str) -> dict[str, Tensor]:
    """Per character, simple facts a unit might track (1.0 / 0.0, or a count)."""
    quote = bracket = column = 0
    inside_quotes, inside_brackets, position, line_start, upper = [], [], [], [], []
    for ch in text:
        if ch in "\"“”":
            quote ^= 1
        if ch in "([{":
            bracket += 1
        inside_quotes.append(float(quote))
        inside_brackets.append(float(bracket > 0))
        position.append(float(column))
        line_start.append(float(column == 0))
        upper.append(float(ch.isupper()))
        if ch in ")]}":
            bracket = max(0, bracket - 1)
        column = 0 if ch == "\n" else column + 1
    return {
        "inside quotes": torch.tensor(inside_quotes),
        "inside brackets": torch.tensor(inside_brackets),
        "position in line": torch.tensor(position),
        "line start": torch.tensor(line_start),
        "upper case": torch.tensor(upper),
    }


def correlations(acts: Tensor, prop: Tensor) -> Tensor:
    """Pearson correlation of every unit (columns of acts [T, H]) with one property [T]."""
    a = acts - acts.mean(0)
    p = prop - prop.mean()
    denom = a.norm(dim=0) * p.norm()
    return (a.T @ p) / denom.clamp(min=1e-12)


def find_units(text: str, acts: Tensor, top: int = 5) -> dict[str, list[tuple[int, float]]]:
    """For each property that varies in the text, the ``top`` units by |correlation|."""
    ranking = {}
    for name, prop in text_properties(text).items():
        if prop.std() == 0:
            continue  # no quotes (or brackets) in this text: nothing to correlate with
        r = correlations(acts.float(), prop)
        order = r.abs().argsort(descending=True)[:top]
        ranking[name] = [(int(u), float(r[u])) for u in order]
    if not ranking:
        raise TaggerError("the text is too uniform to rank units (give more varied text)")
    return ranking


def _colour(v: float) -> str:
    """-1 -> red, 0 -> white, +1 -> blue, as in Karpathy et al.'s figures."""
    v = max(-1.0, min(1.0, v))
    fade = int(255 * (1 - abs(v)))
    return f"rgb({fade},{fade},255)" if v >= 0 else f"rgb(255,{fade},{fade})"


def render_html(text: str, values: Tensor, path: str | Path, title: str = "") -> None:
    scale = float(values.abs().max()) or 1.0
    spans = []
    for ch, v in zip(text, values.tolist()):
        shown = "⏎<br>" if ch == "\n" else html.escape(ch).replace(" ", "&nbsp;")
        spans.append(f'<span title="{v:+.3f}" style="background:{_colour(v / scale)}">{shown}</span>')
    page = (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h3 style='font-family:sans-serif'>{html.escape(title)}</h3>"
        "<p style='font-family:sans-serif'>blue: positive activation, red: negative (hover for the value)</p>"
        f"<div style='font-family:monospace;font-size:14px;line-height:1.5'>{''.join(spans)}</div>"
    )
    atomic_write_text(Path(path), page)


def render_png(text: str, values: Tensor, path: str | Path, title: str = "", max_lines: int = 40, width: int = 80) -> None:
    """The first lines of the text on a grid, each character's cell coloured by the unit."""
    import numpy as np

    from ..plots import plt

    lines = text.split("\n")[:max_lines]
    grid = np.full((len(lines), width), np.nan)
    pos = 0
    for row, line in enumerate(lines):
        for col in range(min(len(line), width)):
            grid[row, col] = float(values[pos + col])
        pos += len(line) + 1
    scale = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    fig, ax = plt.subplots(figsize=(width * 0.12, max(1.0, len(lines) * 0.22)))
    ax.imshow(grid, cmap="bwr_r", vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest")
    for row, line in enumerate(lines):
        for col, ch in enumerate(line[:width]):
            ax.text(col, row, ch, ha="center", va="center", fontsize=7, family="monospace")
    ax.set_axis_off()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
