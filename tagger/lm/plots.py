"""Language-model training curves."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..plots import plt


def plot_lm_training(records: Sequence, path: str | Path) -> None:
    x = [r.elapsed / 60 for r in records]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, [r.train_loss for r in records], marker="o", label="train")
    ax.plot(x, [r.valid_loss for r in records], marker="o", label="validation")
    best = min(records, key=lambda r: r.valid_loss)
    ax.set(title=f"loss per symbol (best validation {best.valid_loss:.3f} nats = {best.valid_loss / math.log(2):.3f} bits)",
           xlabel="minutes", ylabel="nats per symbol")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
