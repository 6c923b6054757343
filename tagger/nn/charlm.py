"""Contextual string embeddings (Akbik et al., 2018) from a forward and a backward
character language model.

A sentence is read as one string, ``"\\n" + " ".join(words) + " "``, by the forward LM
left to right and by the backward LM right to left. A word's embedding is the forward
LM's state at the space after the word (it has read the word and everything before it)
next to the backward LM's state at the space before the word (it has read the word and
everything after it).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .lm import RecurrentLM

DIRECTIONS = ("fwd", "bwd")


class CharLMEmbedding(nn.Module):
    """``fwd`` reads each sentence's string left to right, ``bwd`` (a backward LM, trained
    on reversed text) right to left; both are character-level. Frozen unless ``finetune``."""

    def __init__(self, fwd: RecurrentLM, bwd: RecurrentLM, finetune: bool = False):
        super().__init__()
        self.lms = nn.ModuleDict({"fwd": fwd, "bwd": bwd})
        self.finetune = finetune
        if not finetune:
            self.lms.requires_grad_(False)
        self.out_dim = fwd.hidden_dim + bwd.hidden_dim

    def train(self, mode: bool = True) -> "CharLMEmbedding":
        super().train(mode)
        if not self.finetune:
            self.lms.eval()  # frozen LMs are feature extractors: no dropout in them, ever
        return self

    def forward(self, inputs: dict[str, tuple[Tensor, Tensor]], mask: Tensor, rows: Tensor | None = None) -> Tensor:
        """``inputs[direction]`` = (char ids [U, L], positions [B, T]) -> [B, T, out_dim].
        Sentence b reads row ``rows[b]`` of the ids (row b without ``rows``): the sentences
        of a document that all read the whole document share one row, so the LMs run over
        each distinct string once however many sentences read it."""
        parts = []
        with torch.set_grad_enabled(self.finetune and torch.is_grad_enabled()):
            for direction in DIRECTIONS:
                ids, positions = inputs[direction]
                # Right padding never reaches a real position: both LMs read left to right
                # in their own (for bwd, reversed) string, and every position read lies
                # inside its sentence's string.
                parts.append(self._read(self.lms[direction], ids, positions, rows))
        return torch.cat(parts, dim=-1) * mask.unsqueeze(-1)

    WINDOW = 4096  # characters per LM call: a 50,000-word sentence must not need gigabytes

    def _read(self, lm: RecurrentLM, ids: Tensor, positions: Tensor, rows: Tensor | None = None) -> Tensor:
        """The LM's top-layer state at ``positions`` [B, T] of row ``rows`` [B] of ``ids`` [U, L]."""
        if rows is None:
            rows = torch.arange(positions.shape[0], device=ids.device)
        rows = rows.to(ids.device)[:, None].expand_as(positions)
        if ids.shape[1] <= self.WINDOW:
            return lm.run(ids)[0][-1][rows, positions]
        # The LM is causal: reading in windows with the state carried over gives the same
        # states; keep only the ones read in each window.
        out = ids.new_zeros(*positions.shape, lm.hidden_dim, dtype=lm.embed.weight.dtype)
        state = None
        for start in range(0, ids.shape[1], self.WINDOW):
            outputs, state = lm.run(ids[:, start : start + self.WINDOW], state)
            inside = (positions >= start) & (positions < start + self.WINDOW)
            out[inside] = outputs[-1][rows[inside], positions[inside] - start]
        return out
