"""Tiny taggers for tests: untrained models of the demo recipes (or any recipe's
training data), a batch of the demo's valid sentences, and rich's wrapped output
flattened for matching."""
from __future__ import annotations

import torch

from tagger.batching import build_vocabs, collate, encode
from tagger.config import load_recipe
from tagger.corpus import load_corpus
from tagger.io.conll import read_conll2003
from tagger.model import SequenceTagger, load_charlms
from tagger.sources import demo_dir

TINY = ["encoder.hidden=16", "embed.word_dim=8", "embed.char_dim=8", "embed.char_hidden=8", "embed.casing_dim=4",
        "train.threads=1"]


def flat(text: str) -> str:  # rich wraps long lines at the console width
    return " ".join(text.split())


def random_model(seed: int, *overrides: str, recipe: str = "demo", train_file: str = "train.txt") -> SequenceTagger:
    torch.manual_seed(seed)
    rec = load_recipe(recipe, TINY + list(overrides))
    if recipe == "demo":
        sentences = read_conll2003(demo_dir() / train_file)
    else:
        sentences = load_corpus(rec.data, rec.heads, ("train",))["train"]
    vocabs = build_vocabs(sentences, rec.heads, rec.embed)
    lms = load_charlms(rec.embed.charlm) if rec.embed.charlm else {}  # as training loads them
    vocabs.charlm = {direction: lm.describe() for direction, lm in lms.items()}
    model = SequenceTagger(rec, vocabs)
    for direction, lm in lms.items():
        model.embedder.charlm.lms[direction].load_state_dict(lm.state_dict())
    return model.eval()


def demo_batch(model: SequenceTagger, n: int = 40):
    sentences = read_conll2003(demo_dir() / "valid.txt")[:n]
    return collate([encode(s, model.vocabs, with_labels=False) for s in sentences], list(range(n)))
