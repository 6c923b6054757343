"""Greedy decoding and batched beam search for :class:`Seq2Seq` models.

Beam search keeps every beam of every sentence in one tensor of N * K hypotheses: each
step scores all N * K * V continuations at once, keeps the K best per sentence with one
``topk``, and reorders the decoder states with one ``index_select``; there is no Python
loop over hypotheses. A hypothesis ends when it emits ``</s>``; it then stays in its
beam with its score frozen (continued by padding at no cost). The search stops when
every sentence's beams have ended, or when no unfinished hypothesis can still beat the
best finished one. The result is the finished hypothesis of the highest score divided
by ``length ** length_penalty`` (length counts ``</s>``). At a sentence's length limit
(``max_len_a * source length + max_len_b``, at most ``max_len``) only ``</s>`` may follow.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .model import Seq2Seq, map_state
from .subword import BOS_ID, EOS_ID, PAD_ID, UNK_ID

NEG = float("-inf")


@dataclass
class Hypotheses:
    tokens: list[list[int]]  # per sentence, without </s>
    scores: list[float]  # total log-probability (with </s>)
    attention: list[Tensor] | None  # per sentence (target tokens + 1, source length), when asked for


def length_limits(src_len: Tensor, a: float, b: int, cap: int) -> Tensor:
    """The most target tokens (with ``</s>``) per sentence."""
    return (src_len.float() * a + b).floor().long().clamp(min=1, max=cap)


def _forbid(log_probs: Tensor, allow_unk: bool) -> Tensor:
    """Padding and ``<s>`` are never produced (nor ``<unk>`` unless allowed)."""
    banned = [PAD_ID, BOS_ID] + ([] if allow_unk else [UNK_ID])
    log_probs[:, banned] = NEG
    return log_probs


def _only_eos(log_probs: Tensor, rows: Tensor) -> Tensor:
    """At the length limit: only ``</s>``, with the probability the model gives it."""
    eos = log_probs[:, EOS_ID].clone()
    log_probs[rows] = NEG
    log_probs[rows, EOS_ID] = eos[rows]
    return log_probs


@torch.inference_mode()
def greedy(model: Seq2Seq, src: Tensor, src_len: Tensor, limits: Tensor, want_attention: bool = False,
           allow_unk: bool = True) -> Hypotheses:
    """The most probable next token at every step, for a padded batch of sources."""
    model.eval()
    n, device = src.shape[0], src.device
    enc, state = model.encode(src, src_len)
    feed = model.initial_feed(n, device)
    prev = torch.full((n,), BOS_ID, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    score = torch.zeros(n, device=device)
    tokens, weights = [], []
    limits = limits.to(device)
    for t in range(int(limits.max())):
        step = model.step(prev, state, feed, enc)
        log_probs = _only_eos(_forbid(step.log_probs, allow_unk), limits == t + 1)
        best, prev = log_probs.max(dim=-1)
        score = score + best.masked_fill(done, 0.0)
        prev = prev.masked_fill(done, PAD_ID)
        tokens.append(prev)
        if want_attention:
            weights.append(step.weights)
        done = done | (prev == EOS_ID)
        state, feed = step.state, step.feed
        if bool(done.all()):
            break
    return _collect(torch.stack(tokens, 1), score, weights, src_len)


def _collect(tokens: Tensor, scores: Tensor, weights: list, src_len: Tensor) -> Hypotheses:
    out, attention = [], ([] if weights and weights[0] is not None else None)
    stacked = torch.stack(weights, 1) if attention is not None else None
    for i, row in enumerate(tokens.tolist()):
        n = row.index(EOS_ID) if EOS_ID in row else len(row)
        out.append(row[:n])
        if stacked is not None:
            attention.append(stacked[i, : n + 1, : int(src_len[i])].float().cpu())
    return Hypotheses(out, scores.tolist(), attention)


@torch.inference_mode()
def beam_search(model: Seq2Seq, src: Tensor, src_len: Tensor, limits: Tensor, beam: int, length_penalty: float = 1.0,
                want_attention: bool = False, allow_unk: bool = True) -> Hypotheses:
    """The best hypothesis per sentence by ``score / length ** length_penalty``, all beams in one tensor."""
    if beam == 1:
        return greedy(model, src, src_len, limits, want_attention, allow_unk)
    return _beam(model, src, src_len, limits, beam, length_penalty, want_attention, allow_unk)


def _beam(model: Seq2Seq, src: Tensor, src_len: Tensor, limits: Tensor, beam: int, length_penalty: float,
          want_attention: bool, allow_unk: bool) -> Hypotheses:
    model.eval()
    n, k, device = src.shape[0], beam, src.device
    enc, state = model.encode(src, src_len)
    rows = torch.arange(n, device=device).repeat_interleave(k)  # hypothesis -> sentence
    enc, state = enc.select(rows), map_state(state, lambda s: s.index_select(1, rows))
    feed = model.initial_feed(n * k, device)
    limits = limits.to(device).repeat_interleave(k)
    # Only the first beam of each sentence is live at the start: the others would repeat it.
    score = torch.full((n, k), NEG, device=device)
    score[:, 0] = 0.0
    length = torch.zeros(n * k, device=device)
    finished = torch.zeros(n * k, dtype=torch.bool, device=device)
    prev = torch.full((n * k,), BOS_ID, dtype=torch.long, device=device)
    tokens = torch.zeros(n * k, 0, dtype=torch.long, device=device)
    attention = torch.zeros(n * k, 0, enc.keys.shape[1], device=device) if want_attention else None
    base = (torch.arange(n, device=device) * k).unsqueeze(1)
    for t in range(int(limits.max())):
        step = model.step(prev, state, feed, enc)
        log_probs = _only_eos(_forbid(step.log_probs, allow_unk), limits == t + 1)
        # A finished hypothesis continues only by padding, at no cost.
        log_probs[finished] = NEG
        log_probs[finished, PAD_ID] = 0.0
        vocab = log_probs.shape[-1]
        total = (score.view(-1, 1) + log_probs).view(n, k * vocab)
        score, flat = total.topk(k, dim=-1)
        origin = (base + flat // vocab).view(-1)  # which hypothesis each new one extends
        prev = (flat % vocab).view(-1)
        length = length[origin] + (~finished[origin]).float()
        finished = finished[origin] | (prev == EOS_ID)
        tokens = torch.cat([tokens[origin], prev.unsqueeze(1)], dim=1)
        if attention is not None:
            attention = torch.cat([attention[origin], step.weights[origin].unsqueeze(1)], dim=1)
        state = map_state(step.state, lambda s: s.index_select(1, origin))
        feed = step.feed[origin]
        if _all_settled(score, finished.view(n, k), length.view(n, k), length_penalty, limits.view(n, k)[:, 0]):
            break
    return _best(tokens, score, finished.view(n, k), length.view(n, k), length_penalty, attention, src_len, k)


def _normalised(score: Tensor, length: Tensor, length_penalty: float) -> Tensor:
    return score / length.clamp(min=1) ** length_penalty


def _all_settled(score: Tensor, finished: Tensor, length: Tensor, length_penalty: float, limit: Tensor) -> bool:
    """Whether no sentence can still change its best: every live hypothesis has ended, or
    the best finished one beats what any unfinished one could reach (its log-probability
    only falls; its length grows at most to the limit)."""
    live = score > NEG
    best_done = torch.where(finished & live, _normalised(score, length, length_penalty), NEG).max(dim=1).values
    reach = _normalised(score, limit.unsqueeze(1).float().expand_as(score), length_penalty)
    if length_penalty <= 0:
        reach = _normalised(score, length + 1, length_penalty)
    best_open = torch.where(~finished & live, reach, NEG).max(dim=1).values
    return bool((best_open == NEG).all() or (best_done >= best_open).all())


def _best(tokens: Tensor, score: Tensor, finished: Tensor, length: Tensor, length_penalty: float,
          attention: Tensor | None, src_len: Tensor, k: int) -> Hypotheses:
    ranked = torch.where(finished, _normalised(score, length, length_penalty), NEG)
    # A sentence with no finished hypothesis (cannot happen with the length limit) keeps its top beam.
    ranked = torch.where(finished.any(dim=1, keepdim=True), ranked, score)
    pick = ranked.argmax(dim=1) + torch.arange(score.shape[0], device=score.device) * k
    chosen = tokens[pick]
    weights = [attention[pick].unbind(1)] if attention is not None else []
    return _collect(chosen, score.view(-1)[pick], list(weights[0]) if weights else [], src_len)
