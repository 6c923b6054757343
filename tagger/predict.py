"""Batched inference and scoring, shared by the CLI, the Python API and evaluation."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from .batching import Batch, Encoded, encode_all, eval_batches
from .chunked import chunked, predict_chunks
from .config import Recipe, is_sentence_head
from .consistency import check_mode, consistent
from .data import Sentence, document_of
from .device import QUANTIZE_CHOICES, resolve_device  # noqa: F401  (resolve_device re-exported: callers import it from here)
from .errors import TaggerError
from .metrics import classification_report, multilabel_report, seen_unseen_report, span_report, tag_report, token_accuracy
from .model import SequenceTagger, load_model
from .modeldir import ModelInfo, model_info
from .nn.precision import recurrent_in_bf16
from .tokenize import get_tokenizer


def _batches(encoded: Sequence[Encoded | None], batch_size: int) -> Iterator[tuple[Batch, list[int]]]:
    """Eval batches of the sentences that have words, each with the input positions of
    its rows: an empty sentence (``None``) is never run, and gets empty labels in place."""
    present = [i for i, e in enumerate(encoded) if e is not None]
    for batch in eval_batches([encoded[i] for i in present], batch_size):
        yield batch, [present[i] for i in batch.index]


def decode_corpus(
    model: SequenceTagger,
    encoded: Sequence[Encoded | None],
    batch_size: int = 256,
    probabilities: dict[str, list[list[float]]] | None = None,
) -> list[dict[str, list[str]]]:
    """Labels for every sentence, in input order. Sentences are run longest first
    in batches so little is padded; the model is put in eval mode.

    A token task gets a label per word; a sentence task the sentence's predicted
    labels (the most probable class, or for a multi-label task every class at or
    above the head's threshold, possibly none). Pass a dict as ``probabilities``
    to also get, per sentence task, each sentence's class probabilities (in the
    order of the task's label vocabulary). An empty sentence (``None``) gets empty
    labels and no probabilities.
    """
    device = next(model.parameters()).device
    model.eval()
    out: list[dict[str, list[str]]] = [{task: [] for task in model.tasks} for _ in encoded]
    sentence_tasks = set(model.sentence_tasks)
    if probabilities is not None:
        for task in sentence_tasks:
            probabilities[task] = [[] for _ in encoded]
    with torch.inference_mode():
        for batch, positions in _batches(encoded, batch_size):
            decoded = model.decode(batch.to(device))
            lengths = batch.out_lengths.tolist()
            for task, ids in decoded.items():
                itos = model.vocabs.labels[task].itos
                if task in sentence_tasks:
                    probs = ids.float().cpu()
                    for pos, chosen, row in zip(positions, model.heads[task].choose(probs), probs.tolist()):
                        out[pos][task] = [itos[i] for i in chosen]
                        if probabilities is not None:
                            probabilities[task][pos] = row
                    continue
                for pos, row, n in zip(positions, ids.cpu().tolist(), lengths):
                    out[pos][task] = [itos[i] for i in row[:n]]
    return out


def attention_corpus(
    model: SequenceTagger, encoded: Sequence[Encoded | None], task: str, batch_size: int = 256
) -> list[tuple[list[float], list[float]]]:
    """For an attention-pooling sentence task: (class probabilities, a weight per
    token) for every sentence, in input order (two empty lists for an empty one)."""
    device = next(model.parameters()).device
    model.eval()
    out: list[tuple[list[float], list[float]]] = [([], []) for _ in encoded]
    with torch.inference_mode():
        for batch, positions in _batches(encoded, batch_size):
            probs, weights = model.attention(batch.to(device), task)
            for pos, p, w, n in zip(positions, probs.cpu().tolist(), weights.cpu().tolist(), batch.out_lengths.tolist()):
                out[pos] = (p, w[:n])
    return out


def encode_sentences(
    sentences: Sequence[Sentence | Sequence[str] | None], model: SequenceTagger, *,
    docs: Sequence[object | None] | None = None, with_labels: bool = True,
) -> list[Encoded | None]:
    """The model's inputs for ``sentences`` (None for one without words), with the
    document context its recipe asks for (``data.context_tokens``, ``embed.charlm_context``):
    documents are ``docs`` (a key per sentence) or each ``Sentence.doc``."""
    recipe = model.recipe
    return encode_all(sentences, model.vocabs, context_tokens=recipe.data.context_tokens,
                      lm_tokens=recipe.embed.charlm_context if model.vocabs.charlm else 0,
                      docs=docs, with_labels=with_labels)


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
    seen: dict[str, set] | None = None,
) -> dict:
    """Per task: seqeval strict span scores for span tasks, token accuracy for token tasks;
    for sentence tasks :func:`sentence_report`.

    ``detailed`` adds, for tag (non-span) tasks, :func:`tagger.metrics.tag_report`
    (accuracy on OOV tokens, per-tag precision/recall/F1, confusion counts) and,
    for span tasks, ``oov_token_accuracy``/``oov_tokens`` and the tag ``confusion``.
    ``seen`` (task -> the training data's entity mentions) adds ``seen_unseen``:
    :func:`tagger.metrics.seen_unseen_report`.
    """
    report = {}
    mask = oov_mask(gold, model) if detailed else None
    for head in model.recipe.heads:
        task = head.task
        if task in model.sentence_tasks:
            report[task] = sentence_report(
                [s.cats[task] for s in gold], [p[task] for p in predicted], model.vocabs.labels[task].itos,
                head.multi_label,
            )
            continue
        gold_tags = [s.tags[task] for s in gold]
        pred_tags = [p[task] for p in predicted]
        entry = {"token_accuracy": token_accuracy(gold_tags, pred_tags)}
        if head.span:
            entry.update(span_report(gold_tags, pred_tags))
            if seen is not None and task in seen:
                entry["seen_unseen"] = seen_unseen_report([s.words for s in gold], gold_tags, pred_tags, seen[task])
            if detailed:
                tags = tag_report(gold_tags, pred_tags, mask)
                entry.update(oov_token_accuracy=tags["oov_accuracy"], oov_tokens=tags["oov_tokens"],
                             confusion=tags["confusion"])
        elif detailed:
            entry.update(tag_report(gold_tags, pred_tags, mask))
        report[task] = entry
    return report


def sentence_report(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], labels: Sequence[str], multi_label: bool
) -> dict:
    """Scores of a sentence task. Single-label: :func:`tagger.metrics.classification_report`
    (``accuracy``, ``macro_f1``, ``per_class``, ``macro avg``) and a ``confusion``
    table ``{gold: {predicted: count}}``. Multi-label: :func:`tagger.metrics.multilabel_report`
    (``micro_f1``, ``macro_f1``, exact-match ``accuracy``, ``per_class``).
    Both carry ``level: "sentence"``, ``multi_label`` and ``sentences``."""
    if multi_label:
        entry = multilabel_report(gold, pred, labels)
    else:
        flat_gold, flat_pred = [g[0] for g in gold], [p[0] for p in pred]
        entry = classification_report(flat_gold, flat_pred)
        confusion: dict[str, dict[str, int]] = {}
        for g, p in zip(flat_gold, flat_pred):
            row = confusion.setdefault(g, {})
            row[p] = row.get(p, 0) + 1
        entry["confusion"] = {g: dict(sorted(row.items())) for g, row in sorted(confusion.items())}
    return {"level": "sentence", "multi_label": multi_label, "sentences": len(gold), **entry}


def main_score(report: dict, task: str | None = None) -> float:
    """The number early stopping watches: mean over tasks of span F1, else token
    accuracy, else (sentence tasks) accuracy, or micro-F1 for multi-label ones;
    or that number for ``task`` alone."""
    if task:  # None or "" = the mean over tasks
        if task not in report:
            raise TaggerError(f"no task '{task}' to monitor (tasks: {', '.join(report)})")
        report = {task: report[task]}
    return sum(_task_score(r) for r in report.values()) / len(report)


def _task_score(entry: dict) -> float:
    if entry.get("level") == "sentence":
        return entry["micro_f1"] if entry["multi_label"] else entry["accuracy"]
    return entry["f1"] if "f1" in entry else entry["token_accuracy"]


def consistency_modes(recipe: Recipe) -> dict[str, str]:
    """Span task -> its ``heads.N.doc_consistency``."""
    return {h.task: h.doc_consistency for h in recipe.heads if h.span and not is_sentence_head(h)}


def quantized(model: SequenceTagger, quantize: str) -> SequenceTagger:
    """The model with its recurrent and linear layers in dynamic int8 (``quantize="int8"``,
    CPU only), or its recurrent layers in bfloat16 (``quantize="bf16"``: fast where the CPU
    has bfloat16 units, see :mod:`tagger.nn.precision`)."""
    if quantize not in QUANTIZE_CHOICES:
        raise TaggerError(f"unknown quantize '{quantize}' (choose: {', '.join(QUANTIZE_CHOICES)})")
    if quantize == "bf16":
        return recurrent_in_bf16(model).eval()
    if next(model.parameters()).device.type != "cpu":
        raise TaggerError("int8 quantization runs on the CPU: use --device cpu")
    import warnings

    from torch import nn

    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice, on every load
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8).eval()


class Tagger:
    """A loaded model, ready to tag: ``tagger.load(MODEL_DIR).predict([["EU", "rejects", ...]])``."""

    def __init__(self, model: SequenceTagger, batch_size: int = 256):
        self.model = model.eval()
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", quantize: str | None = None) -> "Tagger":
        """``quantize="int8"``: PyTorch's dynamic int8 quantization of the LSTM and linear
        layers (weights int8, activations quantized per batch; CPU only); ``"bf16"``: the
        recurrent layers in bfloat16 (fast on CPUs with AMX or AVX512-BF16)."""
        model = load_model(path, resolve_device(device))
        return cls(quantized(model, quantize) if quantize is not None else model)

    @property
    def tasks(self) -> list[str]:
        return self.model.tasks

    @property
    def sentence_tasks(self) -> list[str]:
        """The tasks with labels per sentence (classification heads)."""
        return self.model.sentence_tasks

    @property
    def info(self) -> ModelInfo:
        """What the model does: its tasks (level, spans, labels, ...) and its tokenizer."""
        return model_info(self.model.recipe, self.model.vocabs)

    def words(self, sentence: Sequence[str] | str) -> list[str]:
        """The words the model reads for ``sentence``: a string is split by the model's
        tokenizer (``recipe.data.tokenizer``); a classifier keeps the first
        ``recipe.data.max_tokens`` of them, as in training."""
        data = self.model.recipe.data
        words = get_tokenizer(data.tokenizer)(sentence) if isinstance(sentence, str) else list(sentence)
        if data.max_tokens and len(self.sentence_tasks) == len(self.tasks):
            words = words[: data.max_tokens]
        return words

    @property
    def reads_documents(self) -> bool:
        """Whether which sentences form a document matters: the model reads document context
        (``data.context_tokens``, or char LMs with ``embed.charlm_context``) or makes its
        mentions consistent within a document (``heads.N.doc_consistency``)."""
        recipe = self.model.recipe
        return bool(recipe.data.context_tokens or (self.model.vocabs.charlm and recipe.embed.charlm_context)
                    or any(mode != "none" for mode in self.doc_consistency.values()))

    @property
    def doc_consistency(self) -> dict[str, str]:
        """Per span task, how its mentions are made consistent within a document after
        decoding (``heads.N.doc_consistency``: none, vote or vote+propagate)."""
        return consistency_modes(self.model.recipe)

    def set_doc_consistency(self, mode: str) -> None:
        """Use ``mode`` (see :mod:`tagger.consistency`) for every span task from now on,
        in place of the recipe's."""
        check_mode(mode)
        for head in self.model.recipe.heads:
            if head.task in self.doc_consistency:
                head.doc_consistency = mode

    def _encode(self, sentences: Iterable[Sequence[str] | str], docs: Sequence[object | None] | None = None
                ) -> list[Encoded | None]:
        return self._prepare(sentences, docs)[2]

    def _prepare(self, sentences: Iterable[Sequence[str] | str], docs: Sequence[object | None] | None = None
                 ) -> tuple[list[list[str]], Sequence[object | None], list[Encoded | None]]:
        """The words, document keys and model input of each sentence (input ``None`` for
        one without words: tagged as empty). A model that reads document context gets it
        from the sentences around each one with the same key in ``docs`` (default: each
        item's ``doc`` attribute; None: alone)."""
        items = list(sentences)
        if docs is None:
            docs = [document_of(item) for item in items]
        words = [self.words(s) for s in items]
        return words, docs, encode_sentences(words, self.model, docs=docs, with_labels=False)

    def _decode(self, sentences: Iterable[Sequence[str] | str], docs: Sequence[object | None] | None,
                probabilities: dict[str, list[list[float]]] | None = None) -> list[dict[str, list[str]]]:
        words, docs, encoded = self._prepare(sentences, docs)
        labels = decode_corpus(self.model, encoded, self.batch_size, probabilities)
        return consistent(labels, words, docs, self.doc_consistency)

    def predict_all(self, sentences: Iterable[Sequence[str] | str], docs: Sequence[object | None] | None = None
                    ) -> list[dict[str, list[str]]]:
        """Every task's labels for each sentence; a string is tokenized first. A token
        task has one label per word; a sentence task the sentence's predicted labels.
        ``docs`` groups the sentences into documents for a model with document context
        or document consistency: a key per sentence, consecutive equal keys one document,
        None a sentence alone (the default for items without a ``doc`` attribute)."""
        return self._decode(sentences, docs)

    def predict_with_proba(
        self, sentences: Iterable[Sequence[str] | str], docs: Sequence[object | None] | None = None
    ) -> tuple[list[dict[str, list[str]]], list[dict[str, dict[str, float]]]]:
        """``predict_all``'s labels and, per sentence task, each sentence's class
        probabilities ``{task: {label: probability}}``, from one pass of the model."""
        probs: dict[str, list[list[float]]] = {}
        labels = self._decode(sentences, docs, probs)
        vocab = self.model.vocabs.labels
        proba = [{task: dict(zip(vocab[task].itos, rows[i])) for task, rows in probs.items()} for i in range(len(labels))]
        return labels, proba

    def predict(self, sentences: Iterable[Sequence[str] | str], task: str | None = None) -> list[list[str]]:
        """One label per word for each sentence (the first task unless ``task`` is given);
        for a sentence task, the sentence's predicted labels (one, unless multi-label)."""
        task = self._task(task)
        return [labels[task] for labels in self.predict_all(sentences)]

    def _task(self, task: str | None, sentence_level: bool = False) -> str:
        pool = self.sentence_tasks if sentence_level else self.tasks
        if task is None:
            if not pool:
                raise TaggerError(f"this model has no sentence classification task (its tasks: {', '.join(self.tasks)})")
            return pool[0]
        if task not in self.tasks:
            raise TaggerError(f"this model has no task '{task}' (it has: {', '.join(self.tasks)})")
        if task not in pool:
            raise TaggerError(f"'{task}' labels words, not sentences; probabilities are for sentence tasks")
        return task

    def predict_proba(self, sentences: Iterable[Sequence[str] | str], task: str | None = None) -> list[dict[str, float]]:
        """Class probabilities for each sentence, ``{label: probability}`` in label order,
        for a sentence task (the first one unless ``task`` is given). They sum to 1
        for a single-label task; each is a sigmoid for a multi-label one."""
        task = self._task(task, sentence_level=True)
        probs: dict[str, list[list[float]]] = {}
        decode_corpus(self.model, self._encode(sentences), self.batch_size, probabilities=probs)
        itos = self.model.vocabs.labels[task].itos
        return [dict(zip(itos, row)) for row in probs[task]]

    def explain(self, sentences: Iterable[Sequence[str] | str], task: str | None = None) -> list[list[tuple[str, float]]]:
        """The attention weight of every word, ``[(word, weight), ...]`` per sentence (the
        weights of a sentence sum to 1), for a sentence task with attention pooling."""
        task = self._task(task, sentence_level=True)
        head = self.model.recipe.heads[self.tasks.index(task)]
        if head.pooling != "attention":
            raise TaggerError(
                f"explain shows attention weights, and the '{task}' head pools with '{head.pooling}' "
                "(train with --set heads.N.pooling=attention)"
            )
        items = list(sentences)
        words = [self.words(s) for s in items]
        encoded = self._encode(items)
        weights = attention_corpus(self.model, encoded, task, self.batch_size)
        return [list(zip(w, ws)) for w, (_, ws) in zip(words, weights)]

    def predict_stream(
        self, sentences: Iterable[Sequence[str] | str], chunk: int = 2048
    ) -> Iterator[dict[str, list[str]]]:
        """Like ``predict_all`` over an iterator, holding only ``chunk`` sentences at a time."""
        for tagged in predict_chunks(self, chunked(sentences, chunk), proba=False):
            yield from tagged.labels

    def evaluate(self, sentences: Sequence[Sentence], detailed: bool = True, seen: dict[str, set] | None = None) -> dict:
        """Scores per task (see :func:`score`; ``detailed`` adds OOV and per-tag numbers,
        ``seen`` the split of entity scores into mentions seen and unseen in training)."""
        encoded = encode_sentences(sentences, self.model)  # documents: each Sentence.doc
        labels = decode_corpus(self.model, encoded, self.batch_size)
        labels = consistent(labels, [s.words for s in sentences], [s.doc for s in sentences], self.doc_consistency)
        return score(sentences, labels, self.model, detailed, seen)


def load(path: str | Path, device: str = "cpu", quantize: str | None = None) -> Tagger:
    """Load a sequence tagger or classifier directory (or a training run directory);
    :func:`tagger.load` takes a model of any family."""
    return Tagger.load(path, device, quantize)
