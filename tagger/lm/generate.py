"""Sampling text from a language model: softmax(logits / T), optionally top-k."""
from __future__ import annotations

import torch

from ..errors import TaggerError
from .model import LanguageModel
from .text import EOS, stream

GREEDY_BELOW = 1e-4  # a temperature this small is argmax: dividing by it would overflow


def next_symbol(logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator) -> int:
    """One draw from logits [V]; greedy as the temperature goes to 0."""
    if temperature < GREEDY_BELOW:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k is not None and 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits.float(), dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.inference_mode()
def generate(
    model: LanguageModel,
    prime: str = "",
    length: int = 500,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> str:
    """``prime`` followed by ``length`` sampled symbols (characters, or words)."""
    if temperature < 0:
        raise TaggerError(f"temperature must be >= 0, got {temperature}")
    if length < 0:
        raise TaggerError(f"length must be >= 0, got {length}")
    model.eval()
    cfg, vocab = model.cfg, model.vocab
    device = next(model.parameters()).device
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed if seed is not None else torch.seed())
    primed = stream(prime, cfg.level, cfg.lowercase, reverse=False) if prime else []
    if cfg.level == "word" and prime and not prime.endswith("\n") and primed and primed[-1] == EOS:
        primed = primed[:-1]  # a prime without a final newline is an unfinished line
    if cfg.reverse:
        primed = primed[::-1]  # a backward LM continues to the left of the prime
    # Start from a line break, as the training text did after each line.
    context = ([EOS] if cfg.level == "word" else ["\n"]) if not primed else primed
    ids = torch.tensor([vocab.ids(context)], device=device)
    logits, state = model(ids)
    # <pad> and <unk> are bookkeeping, not text: never write them.
    banned = [i for i in (0, vocab.unk_id) if i is not None and i < len(vocab)]
    out: list[str] = []
    for _ in range(length):
        scores = logits[0, -1].cpu()
        scores[banned] = float("-inf")
        sym = next_symbol(scores, temperature, top_k, generator)
        out.append(vocab.itos[sym])
        logits, state = model(torch.tensor([[sym]], device=device), state)
    return _join(primed, out, cfg.level, cfg.reverse, prime)


def _join(primed: list[str], sampled: list[str], level: str, reverse: bool, prime: str) -> str:
    if level == "char":
        text = "".join(sampled)
        return (text[::-1] + prime) if reverse else (prime + text)
    words = (sampled[::-1] + primed[::-1]) if reverse else (primed + sampled)
    lines, line = [], []
    for w in words:
        if w == EOS:
            lines.append(" ".join(line))
            line = []
        else:
            line.append(w)
    lines.append(" ".join(line))
    return "\n".join(lines)
