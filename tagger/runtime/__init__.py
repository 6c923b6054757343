"""The torch-free runtime: tags with a ``tagger export`` directory through ONNX Runtime.

``tagger.runtime.load(DIR).predict([["EU", "rejects", "German", "call"]])`` gives the
labels ``tagger.load(MODEL).predict`` gives, importing only NumPy, ONNX Runtime and
the light core modules (vocabularies, tokenizers, errors): never PyTorch
(``lint-imports`` forbids it, and a test checks ``sys.modules``).

An export directory holds ``model.onnx`` (emission scores per token task, class
probabilities per sentence task; see :mod:`tagger.export`), ``vocab.json`` (the
model's vocabularies, the char LMs' included) and ``export.json`` (tokenizer, heads, labels and the
transition scores of the constrained Viterbi decode, which runs here in NumPy).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..consistency import DOC_CONSISTENCY, check_mode, consistent
from ..errors import TaggerError
from ..modelinfo import ModelInfo, TaskInfo
from ..schemes import spans as bio_spans
from ..tokenize import get_tokenizer
from ..vocab import PAD
from .decode import argmax_labels, choose_classes, viterbi
from .inputs import Features, batch_arrays, batch_order, check_lm_length, lm_arrays

ONNX_FILE, EXPORT_FILE, VOCAB_FILE = "model.onnx", "export.json", "vocab.json"
EXPORT_FORMAT = "tagger-onnx"
QUANTIZE_CHOICES = (None, "int8")


def is_export_dir(path: str | Path) -> bool:
    """A ``tagger export`` directory (it has ``export.json``), not a PyTorch model directory."""
    return (Path(path) / EXPORT_FILE).is_file()


def _read_json(path: Path) -> dict:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TaggerError(f"not an export directory: {path.name} is missing", path.parent) from None
    return _parse_json(data, path)


def _parse_json(data: bytes | str, origin: Any) -> dict:
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TaggerError(f"not valid JSON ({err})", origin) from None
    if not isinstance(value, dict):
        raise TaggerError("expected a JSON object", origin)
    return value


def _check_meta(meta: dict, origin: Any) -> dict:
    if meta.get("format") != EXPORT_FORMAT or meta.get("format_version") != 1:
        raise TaggerError(f"not a tagger export (expected format '{EXPORT_FORMAT}', version 1)", origin)
    for i, head in enumerate(meta.get("heads") or []):
        mode = head.get("doc_consistency", "none") if isinstance(head, dict) else "none"
        if mode not in DOC_CONSISTENCY:
            raise TaggerError(f"heads[{i}].doc_consistency is {mode!r}; expected one of: {', '.join(DOC_CONSISTENCY)}", origin)
    return meta


def _info(meta: dict, directory: Path | None, origin: Any) -> ModelInfo:
    """The export's tasks as :class:`tagger.modelinfo.ModelInfo` (as ``Tagger.info`` gives them)."""
    recipe_heads = (meta.get("recipe") or {}).get("heads") or []
    pooling = {h.get("task"): h.get("pooling") for h in recipe_heads if isinstance(h, dict)}
    try:
        tasks = [TaskInfo(name=h["task"], kind=h["kind"], level=h["level"], span=bool(h["span"]) and h["level"] == "token",
                          multi_label=bool(h.get("multi_label")),
                          attention=h["level"] == "sentence" and pooling.get(h["task"]) == "attention",
                          labels=[label for label in h["labels"] if label != PAD]) for h in meta["heads"]]
    except (KeyError, TypeError) as err:
        raise TaggerError(f"malformed export metadata ({err!r})", origin) from None
    return ModelInfo(tasks, meta.get("tokenizer") or "conll", directory)


def read_info(path: str | Path) -> ModelInfo:
    """The tasks and tokenizer of an export directory, from its ``export.json`` alone (no session)."""
    directory = Path(path)
    return _info(_check_meta(_read_json(directory / EXPORT_FILE), directory / EXPORT_FILE), directory, directory / EXPORT_FILE)


def _session(source: Path | bytes, threads: int | None, origin: Any) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise TaggerError("the torch-free runtime needs onnxruntime: pip install 'tagger[export]'") from None
    if isinstance(source, Path) and not source.is_file():
        raise TaggerError(f"not an export directory: {source.name} is missing", source.parent)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about shapes a batch does not fix are noise
    if threads:
        options.intra_op_num_threads = options.inter_op_num_threads = threads
    try:
        return ort.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                    providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own error types: InvalidProtobuf, Fail, ...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TaggerError(f"not a readable ONNX model ({reason[:200]})", origin) from None


class Runtime:
    """A loaded export directory; the prediction methods of :class:`tagger.predict.Tagger`."""

    def __init__(self, directory: str | Path, threads: int | None = None, batch_size: int = 64):
        directory = Path(directory)
        if not directory.is_dir():
            raise TaggerError("export directory does not exist", directory)
        meta, vocab = _read_json(directory / EXPORT_FILE), _read_json(directory / VOCAB_FILE)
        self._setup(meta, vocab, directory / ONNX_FILE, directory, threads, batch_size)
        self._parts: dict[str, bytes] | None = None

    @classmethod
    def from_parts(cls, parts: dict[str, bytes], origin: str = "<export>", threads: int | None = None,
                   batch_size: int = 64) -> Runtime:
        """A runtime from the three files' contents (``to_parts``), e.g. a spaCy pipeline's bytes."""
        missing = [name for name in (EXPORT_FILE, VOCAB_FILE, ONNX_FILE) if not isinstance(parts.get(name), bytes)]
        if missing:
            raise TaggerError(f"not a tagger export: no {missing[0]}", origin)
        self = cls.__new__(cls)
        meta, vocab = _parse_json(parts[EXPORT_FILE], f"{origin} {EXPORT_FILE}"), _parse_json(parts[VOCAB_FILE], origin)
        self._setup(meta, vocab, parts[ONNX_FILE], None, threads, batch_size, origin)
        self._parts = dict(parts)
        return self

    def _setup(self, meta: dict, vocab: dict, source: Path | bytes, directory: Path | None, threads: int | None,
               batch_size: int, origin: Any = None) -> None:
        self.directory, self.meta, self._source = directory, meta, source
        meta_origin = directory / EXPORT_FILE if directory else origin
        _check_meta(meta, meta_origin)
        self.info = _info(meta, directory, meta_origin)
        try:
            self.features = Features(vocab)
            self.heads = {h["task"]: h for h in self.meta["heads"]}
        except (KeyError, TypeError) as err:
            raise TaggerError(f"malformed export metadata ({err!r})", meta_origin) from None
        onnx_origin = directory / ONNX_FILE if directory else origin
        self.session = _session(source, threads, onnx_origin)
        self._inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        wanted = [f"scores.{task}" for task in self.heads]
        known = {"words", "casing", "chars", "char_index", "lengths"}
        known |= {name for d in self.features.lm for name in (f"lm.{d}", f"lm.{d}.positions")}
        if outputs != wanted or not set(self._inputs) <= known:
            raise TaggerError(f"not a tagger graph for this export.json (outputs {', '.join(outputs)}; expected "
                              f"{', '.join(wanted)})", onnx_origin)
        self.batch_size = batch_size
        self.tokenizer = get_tokenizer(self.meta.get("tokenizer") or "conll")
        self.quantize = self.meta.get("quantize")

    def set_threads(self, threads: int | None) -> None:
        """A new ONNX Runtime session on ``threads`` threads (e.g. in a forked worker, whose
        copy of the parent's thread pool is not usable)."""
        self.session = _session(self._source, threads, self.directory or "<export>")

    def to_parts(self) -> dict[str, bytes]:
        """The export's three files by name, as bytes (``from_parts`` reads them back)."""
        if self._parts is not None:
            return dict(self._parts)
        return {name: (self.directory / name).read_bytes() for name in (EXPORT_FILE, VOCAB_FILE, ONNX_FILE)}

    def save(self, directory: str | Path) -> Path:
        """Write the export's three files into ``directory`` (each through a temporary file)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in self.to_parts().items():
            atomic_write(directory / name, lambda tmp, data=data: Path(tmp).write_bytes(data))
        return directory

    @property
    def tasks(self) -> list[str]:
        return list(self.heads)

    @property
    def doc_consistency(self) -> dict[str, str]:
        """Per span task, how its mentions are made consistent within a document (see
        :mod:`tagger.consistency`; exports made before the option: none)."""
        return {t: h.get("doc_consistency", "none") for t, h in self.heads.items() if h["span"] and h["level"] == "token"}

    def set_doc_consistency(self, mode: str) -> None:
        """Use ``mode`` for every span task from now on, in place of the exported one."""
        check_mode(mode)
        for task in self.doc_consistency:
            self.heads[task]["doc_consistency"] = mode

    @property
    def reads_documents(self) -> bool:
        """Whether which sentences form a document matters. The graph takes sentences, never
        documents (tagger export refuses models that read document context); only document
        consistency (``heads.N.doc_consistency``) looks across a document's sentences."""
        return any(mode != "none" for mode in self.doc_consistency.values())

    @property
    def sentence_tasks(self) -> list[str]:
        return [t for t, h in self.heads.items() if h["level"] == "sentence"]

    def words(self, sentence: Sequence[str] | str) -> list[str]:
        """The words the model reads: a string is split by the model's tokenizer; a classifier
        keeps the first ``max_tokens`` of them (as :meth:`tagger.predict.Tagger.words`)."""
        words = self.tokenizer(sentence) if isinstance(sentence, str) else list(sentence)
        max_tokens = self.meta.get("max_tokens")
        if max_tokens and len(self.sentence_tasks) == len(self.tasks):
            words = words[:max_tokens]
        return words

    def scores(self, sentences: Iterable[Sequence[str] | str]) -> list[dict[str, np.ndarray]]:
        """The graph's outputs per sentence, in input order: per token task the scores of its
        words [n, L], per sentence task its class probabilities [C]; ``{}`` for an empty sentence."""
        out: list[dict[str, np.ndarray]] = []
        for batch, positions in self._run(sentences, out):
            lengths = batch["lengths"]
            for task, values in batch["outputs"].items():
                level = self.heads[task]["level"]
                for row, pos in enumerate(positions):
                    out[pos][task] = values[row] if level == "sentence" else values[row, : lengths[row]]
        return out

    def _run(self, sentences: Iterable[Sequence[str] | str], out: list) -> Iterator[tuple[dict, list[int]]]:
        """Run the graph over length-sorted batches; ``out`` gets an empty dict per sentence."""
        words = [self.words(s) for s in sentences]
        encoded = [[self.features(w) for w in ws] for ws in words]
        out.extend({} for _ in encoded)
        present = [i for i, e in enumerate(encoded) if e]
        lm = self.features.lm
        chars = [check_lm_length(words[i]) for i in present] if lm else None
        for chunk in batch_order([len(encoded[i]) for i in present], self.batch_size, chars=chars):
            positions = [present[i] for i in chunk]
            arrays = batch_arrays([encoded[p] for p in positions])
            if lm:
                arrays.update(lm_arrays([words[p] for p in positions], lm))
            values = self.session.run(None, {name: arrays[name] for name in self._inputs})
            yield {"lengths": arrays["lengths"], "outputs": dict(zip(self.heads, values))}, positions

    def _labels(self, sentences: Iterable[Sequence[str] | str], probabilities: dict | None = None) -> list[dict[str, list[str]]]:
        results: list[dict] = []
        labels: list[dict[str, list[str]]] = []
        for batch, positions in self._run(sentences, results):
            while len(labels) < len(results):
                labels.append({task: [] for task in self.heads})
            lengths = batch["lengths"]
            for task, values in batch["outputs"].items():
                head = self.heads[task]
                itos = head["labels"]
                if head["level"] == "sentence":
                    chosen = choose_classes(values, head["multi_label"], head["threshold"])
                    for pos, ids, row in zip(positions, chosen, values.tolist()):
                        labels[pos][task] = [itos[i] for i in ids]
                        if probabilities is not None:
                            probabilities.setdefault(task, {})[pos] = row
                    continue
                ids = self._decode(head, values, lengths)
                for pos, row, n in zip(positions, ids.tolist(), lengths.tolist()):
                    labels[pos][task] = [itos[i] for i in row[:n]]
        labels.extend({task: [] for task in self.heads} for _ in range(len(results) - len(labels)))
        return labels

    @staticmethod
    def _decode(head: dict, values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        if head["decode"] == "argmax":
            return argmax_labels(values, lengths)
        transitions = np.asarray(head["transitions"], dtype=np.float32)
        start, end = np.asarray(head["start"], dtype=np.float32), np.asarray(head["end"], dtype=np.float32)
        return viterbi(values, lengths, transitions, start, end)

    def predict_all(self, sentences: Iterable[Sequence[str] | str], docs: Sequence[object | None] | None = None
                    ) -> list[dict[str, list[str]]]:
        """Every task's labels for each sentence (a string is tokenized first). ``docs``: a
        document key per sentence, for document consistency (as :meth:`tagger.predict.Tagger.predict_all`)."""
        return self._consistent(list(sentences), docs, None)

    def _consistent(self, items: list, docs: Sequence[object | None] | None, probabilities: dict | None) -> list[dict]:
        labels = self._labels(items, probabilities)
        if not self.reads_documents:
            return labels
        docs = [getattr(item, "doc", None) for item in items] if docs is None else docs
        return consistent(labels, [self.words(s) for s in items], docs, self.doc_consistency)

    def predict(self, sentences: Iterable[Sequence[str] | str], task: str | None = None) -> list[list[str]]:
        """One label per word for each sentence (the first task unless ``task`` is given);
        for a sentence task, the sentence's predicted labels."""
        task = self._task(task)
        return [labels[task] for labels in self.predict_all(sentences)]

    def predict_with_proba(self, sentences: Iterable[Sequence[str] | str], docs: Sequence[object | None] | None = None
                           ) -> tuple[list[dict], list[dict]]:
        """``predict_all``'s labels and, per sentence task, ``{task: {label: probability}}``."""
        probs: dict[str, dict[int, list[float]]] = {}
        labels = self._consistent(list(sentences), docs, probs)
        proba = [{task: dict(zip(self.heads[task]["labels"], rows.get(i, []))) for task, rows in probs.items()}
                 for i in range(len(labels))]
        return labels, proba

    def predict_proba(self, sentences: Iterable[Sequence[str] | str], task: str | None = None) -> list[dict[str, float]]:
        """Class probabilities ``{label: probability}`` per sentence for a sentence task."""
        task = self._task(task, sentence_level=True)
        return [p.get(task, {}) for p in self.predict_with_proba(sentences)[1]]

    def predict_spans(self, sentences: Iterable[Sequence[str] | str], task: str | None = None) -> list[list[tuple[str, int, int]]]:
        """The entities of a span task per sentence, ``(type, start, end_exclusive)`` over its words."""
        task = self._task(task)
        if not self.heads[task]["span"]:
            raise TaggerError(f"'{task}' is not a span (BIO) task")
        return [bio_spans(tags) for tags in self.predict(sentences, task)]

    def predict_stream(self, sentences: Iterable[Sequence[str] | str], chunk: int = 2048) -> Iterator[dict[str, list[str]]]:
        """Like ``predict_all`` over an iterator, holding only ``chunk`` sentences at a time."""
        buffer: list[Sequence[str] | str] = []
        for sentence in sentences:
            buffer.append(sentence)
            if len(buffer) >= chunk:
                yield from self.predict_all(buffer)
                buffer = []
        if buffer:
            yield from self.predict_all(buffer)

    def _task(self, task: str | None, sentence_level: bool = False) -> str:
        pool = self.sentence_tasks if sentence_level else self.tasks
        if task is None:
            if not pool:
                raise TaggerError(f"this model has no sentence classification task (its tasks: {', '.join(self.tasks)})")
            return pool[0]
        if task not in self.heads:
            raise TaggerError(f"this model has no task '{task}' (it has: {', '.join(self.tasks)})")
        if task not in pool:
            raise TaggerError(f"'{task}' labels words, not sentences; probabilities are for sentence tasks")
        return task


def command_threads(threads: int | None) -> int | None:
    """``--threads`` of a command, for an ONNX Runtime session: one thread unless told, as
    for PyTorch (and the same labels whatever the machine: a dynamic int8 graph can label
    a rare word differently on another number of threads); 0: ONNX Runtime's own choice."""
    if threads is not None and threads < 0:
        raise TaggerError(f"threads must be 0 (ONNX Runtime's choice) or more, got {threads}")
    return 1 if threads is None else (threads or None)


def load(path: str | Path, threads: int | None = None, batch_size: int = 64) -> Runtime:
    """Load a ``tagger export`` directory; ``threads`` bounds ONNX Runtime's threads (default: its own).
    Batches of 64 sentences: on CoNLL-2003 valid, half the peak memory of 256 (167 vs 334 MB,
    the conll2003 model, int8) at the same speed (bench/peers.py)."""
    return Runtime(path, threads, batch_size)
