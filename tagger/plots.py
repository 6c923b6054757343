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
