"""Batched inference and scoring, shared by the CLI, the Python API and evaluation."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from .batching import Encoded, encode, eval_batches
from .data import Sentence
from .errors import TaggerError
from .metrics import span_report, tag_report, token_accuracy
from .model import SequenceTagger, load_model
from .tokenize import tokenize


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TaggerError(f"device '{name}' requested but no CUDA GPU is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise TaggerError(f"unknown device '{name}' (use cpu, cuda, cuda:N or auto)") from None


def decode_corpus(
    model: SequenceTagger, encoded: Sequence[Encoded], batch_size: int = 256
) -> list[dict[str, list[str]]]:
    """Labels for every sentence, in input order. Sentences are run longest first
    in batches so little is padded; the model is put in eval mode."""
    device = next(model.parameters()).device
    model.eval()
    out: list[dict[str, list[str]]] = [{} for _ in encoded]
    with torch.inference_mode():
        for batch in eval_batches(encoded, batch_size):
            decoded = model.decode(batch.to(device))
            lengths = batch.lengths.tolist()
            for task, ids in decoded.items():
                itos = model.vocabs.labels[task].itos
                for pos, row, n in zip(batch.index, ids.cpu().tolist(), lengths):
                    out[pos][task] = [itos[i] for i in row[:n]]
    return out


def oov_mask(sentences: Sequence[Sentence], model: SequenceTagger) -> list[list[bool]]:
    """True for each word whose embedding key is not in the model's word vocabulary:
    unseen in training (or rarer than ``min_freq``; pretrained vectors add words)."""
    vocabs = model.vocabs
    return [[vocabs.key(w) not in vocabs.words for w in s.words] for s in sentences]


def score(
    gold: Sequence[Sentence],
    predicted: Sequence[dict[str, list[str]]],
    model: SequenceTagger,
    detailed: bool = False,
) -> dict:
    """Per task: seqeval strict span scores for span tasks, token accuracy for all.

    ``detailed`` adds, for tag (non-span) tasks, :func:`tagger.metrics.tag_report`
    (accuracy on OOV tokens, per-tag precision/recall/F1, confusion counts) and,
    for span tasks, ``oov_token_accuracy``/``oov_tokens`` and the tag ``confusion``.
    """
    report = {}
    mask = oov_mask(gold, model) if detailed else None
    for head in model.recipe.heads:
        task = head.task
        gold_tags = [s.tags[task] for s in gold]
        pred_tags = [p[task] for p in predicted]
        entry = {"token_accuracy": token_accuracy(gold_tags, pred_tags)}
        if head.span:
            entry.update(span_report(gold_tags, pred_tags))
            if detailed:
                tags = tag_report(gold_tags, pred_tags, mask)
                entry.update(oov_token_accuracy=tags["oov_accuracy"], oov_tokens=tags["oov_tokens"],
                             confusion=tags["confusion"])
        elif detailed:
            entry.update(tag_report(gold_tags, pred_tags, mask))
        report[task] = entry
    return report


def main_score(report: dict, task: str | None = None) -> float:
    """The number early stopping watches: mean over tasks of span F1, else token
    accuracy; or that number for ``task`` alone."""
    if task is not None:
        if task not in report:
            raise TaggerError(f"no task '{task}' to monitor (tasks: {', '.join(report)})")
        report = {task: report[task]}
    values = [r["f1"] if "f1" in r else r["token_accuracy"] for r in report.values()]
    return sum(values) / len(values)


class Tagger:
    """A loaded model, ready to tag: ``tagger.load(MODEL_DIR).predict([["EU", "rejects", ...]])``."""

    def __init__(self, model: SequenceTagger, batch_size: int = 256):
        self.model = model.eval()
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Tagger":
        return cls(load_model(path, resolve_device(device)))

    @property
    def tasks(self) -> list[str]:
        return self.model.tasks

    def _encode(self, sentences: Iterable[Sequence[str] | str]) -> list[Encoded]:
        vocabs = self.model.vocabs
        return [encode(tokenize(s) if isinstance(s, str) else s, vocabs, with_labels=False) for s in sentences]

    def predict_all(self, sentences: Iterable[Sequence[str] | str]) -> list[dict[str, list[str]]]:
        """Every task's labels for each sentence; a string is tokenized first."""
        return decode_corpus(self.model, self._encode(sentences), self.batch_size)

    def predict(self, sentences: Iterable[Sequence[str] | str], task: str | None = None) -> list[list[str]]:
        """One label per word for each sentence (the first task unless ``task`` is given)."""
        task = task or self.tasks[0]
        if task not in self.tasks:
            raise TaggerError(f"this model has no task '{task}' (it has: {', '.join(self.tasks)})")
        return [labels[task] for labels in self.predict_all(sentences)]

    def predict_stream(
        self, sentences: Iterable[Sequence[str] | str], chunk: int = 2048
    ) -> Iterator[dict[str, list[str]]]:
        """Like ``predict_all`` over an iterator, holding only ``chunk`` sentences at a time."""
        buffer: list[Sequence[str] | str] = []
        for sentence in sentences:
            buffer.append(sentence)
            if len(buffer) >= chunk:
                yield from self.predict_all(buffer)
                buffer = []
        if buffer:
            yield from self.predict_all(buffer)

    def evaluate(self, sentences: Sequence[Sentence], detailed: bool = True) -> dict:
        """Scores per task (see :func:`score`; ``detailed`` adds OOV and per-tag numbers)."""
        encoded = [encode(s, self.model.vocabs) for s in sentences]
        return score(sentences, decode_corpus(self.model, encoded, self.batch_size), self.model, detailed)


def load(path: str | Path, device: str = "cpu") -> Tagger:
    """Load a model directory (or a training run directory) for prediction."""
    return Tagger.load(path, device)
