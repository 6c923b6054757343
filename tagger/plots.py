"""Training curves saved beside the model."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def plot_training(records: Sequence, path: str | Path) -> None:
    """Loss and dev score per epoch, two panels, one PNG."""
    epochs = [r.epoch for r in records]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [r.train_loss for r in records], marker="o")
    left.set(title="training loss (per sentence)", xlabel="epoch", ylabel="loss")
    right.plot(epochs, [r.dev_score * 100 for r in records], marker="o", color="tab:green")
    best = max(records, key=lambda r: r.dev_score)
    right.axhline(best.dev_score * 100, color="grey", linestyle=":", linewidth=1)
    right.set(title=f"dev score (best {best.dev_score * 100:.2f} at epoch {best.epoch})", xlabel="epoch", ylabel="F1 / accuracy (%)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(
    confusion: dict[str, dict[str, int]], path: str | Path, top: int = 15, title: str = "confusion matrix"
) -> list[str]:
    """Draw the confusion matrix of the ``top`` most-confused tags (rows gold, columns
    predicted) as a PNG; returns the tags shown, most confused first.

    Cell colour is the error count (the diagonal, correct tokens, is left white so
    the confusions stand out); every non-zero cell is labelled with its count.
    """
    from .metrics import most_confused

    tags = sorted(most_confused(confusion, top))  # alphabetical axes read more easily
    if not tags:  # no errors at all: show the most frequent tags
        tags = sorted(sorted(confusion, key=lambda t: -sum(confusion[t].values()))[:top])
    counts = [[confusion.get(g, {}).get(p, 0) for p in tags] for g in tags]
    errors = [[0 if i == j else c for j, c in enumerate(row)] for i, row in enumerate(counts)]
    size = max(4.0, 0.55 * len(tags) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(errors, cmap="Reds", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="errors")
    peak = max((c for row in errors for c in row), default=0)
    for i, row in enumerate(counts):
        for j, c in enumerate(row):
            if c:
                colour = "grey" if i == j else ("white" if c > peak / 2 else "black")
                ax.text(j, i, str(c), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(tags)), tags, rotation=90)
    ax.set_yticks(range(len(tags)), tags)
    ax.set(xlabel="predicted", ylabel="gold", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return tags
