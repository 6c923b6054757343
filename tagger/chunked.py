"""One chunked predictor for every way of tagging many sentences: ``tagger predict``
(in this process, in ``--workers`` processes, and from an export directory:
:func:`predict_export`),
``Tagger.predict_stream``, ``map_predict`` and the Spark/Ray functions.

Input items (raw strings, split by the model's own tokenizer, or token lists) are
tagged a chunk at a time, so memory holds one chunk however long the input is; an
item without words gets empty labels, so outputs stay in step with inputs. The
tagger is anything with ``words``, ``sentence_tasks``, ``predict_all`` and
``predict_with_proba`` (:class:`tagger.predict.Tagger`, the torch-free runtime's
model): this module imports neither torch nor a model. Items may carry a document key
(``doc``); a tagger whose ``reads_documents`` is true gets them as ``docs``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

TRIM_EVERY = 8  # chunks between returns of freed heap memory to the OS (see outputs.release_freed_memory)


@dataclass
class Chunk:
    """A chunk's predictions, one entry per input item, in input order."""

    words: list[list[str]]  # the words the model read
    labels: list[dict[str, list[str]]]  # per task: a label per word, or a sentence task's labels
    proba: list[dict[str, dict[str, float]] | None]  # per sentence task {label: probability}; None when not asked

    def records(self) -> Iterator[tuple[list[str], dict[str, list[str]], dict[str, dict[str, float]] | None]]:
        return zip(self.words, self.labels, self.proba)


DOCUMENT_CHUNKS = 8  # a chunk may grow to this many times its size to keep a document whole


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last one shorter), read lazily. Items that
    carry a document key (a ``doc`` attribute: ``tagger predict --input``) are not cut
    from the rest of their document, up to ``DOCUMENT_CHUNKS`` times ``size``, so a model
    with document context sees the same neighbours whatever the chunk size."""
    chunk: list[Any] = []
    for item in items:
        if len(chunk) >= size and not _same_document(chunk[-1], item):  # a full chunk that waited for this item
            yield chunk
            chunk = []
        chunk.append(item)
        # Without a document key a full chunk goes at once; with one, it waits to see the next item's.
        if len(chunk) >= size and (getattr(item, "doc", None) is None or len(chunk) >= DOCUMENT_CHUNKS * size):
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _same_document(a: Any, b: Any) -> bool:
    doc = getattr(a, "doc", None)
    return doc is not None and doc == getattr(b, "doc", None)


def predict_chunk(
    tagger: Any, items: Sequence[Any], *, proba: bool | None = None, words: Callable[[Any], list[str]] | None = None
) -> Chunk:
    """Tag one chunk. ``words`` turns an item into the words the model reads (default
    ``tagger.words``: the model's tokenizer for a string, and for a classifier its
    ``max_tokens``); ``proba`` also gives each sentence task's class probabilities
    (default: when the model has sentence tasks), from the same pass of the model."""
    split = [(words or tagger.words)(item) for item in items]
    if proba is None:
        proba = bool(tagger.sentence_tasks)
    # Document keys go only to a tagger that reads document context (the runtime's never does).
    docs = {"docs": [getattr(item, "doc", None) for item in items]} if getattr(tagger, "reads_documents", False) else {}
    if proba:
        labels, probs = tagger.predict_with_proba(split, **docs)
        return Chunk(split, labels, probs)
    return Chunk(split, tagger.predict_all(split, **docs), [None] * len(split))


def predict_chunks(tagger: Any, chunks: Iterable[Sequence[Any]], *, proba: bool | None = None) -> Iterator[Chunk]:
    """:func:`predict_chunk` over each chunk in turn, as they are asked for; freed heap
    memory goes back to the OS every ``TRIM_EVERY`` chunks, so a long stream stays flat."""
    from .outputs import release_freed_memory

    for n, chunk in enumerate(chunks, 1):
        yield predict_chunk(tagger, chunk, proba=proba)
        if n % TRIM_EVERY == 0:
            release_freed_memory()


def format_chunk(chunk: Chunk, fmt: str, span_tasks: set[str]) -> str:
    """A chunk's output in ``fmt`` (spans, conll, jsonl): one record per input item."""
    from .outputs import OutputFormat, format_prediction

    output_format = OutputFormat(fmt)
    return "".join(format_prediction(w, labels, output_format, span_tasks, p) for w, labels, p in chunk.records())


def predict_export(
    model_dir: Path, texts: Optional[list[str]], input_file: Optional[Path], input_format: Any, output_format: Any,
    output: Optional[Path], batch_size: int, threads: Optional[int], doc_consistency: Optional[str] = None,
) -> None:
    """``tagger predict EXPORT_DIR``: tagging through ONNX Runtime, PyTorch never imported;
    formats spans, conll and jsonl, written chunk by chunk as ``predict`` does."""
    from .errors import TaggerError
    from .outputs import LazyOutput, OutputFormat, read_input
    from .runtime import command_threads, load

    if output_format not in (OutputFormat.spans, OutputFormat.conll, OutputFormat.jsonl):
        raise TaggerError(f"an export directory writes --format spans, conll or jsonl (not {output_format.value})")
    runtime = load(model_dir, threads=command_threads(threads), batch_size=batch_size)
    if doc_consistency is not None:
        runtime.set_doc_consistency(doc_consistency)
    span_tasks = {task for task, head in runtime.heads.items() if head["span"]}
    source = iter(texts) if texts else read_input(input_file, input_format)
    with LazyOutput(output) as out:
        for tagged in predict_chunks(runtime, chunked(source, 4 * batch_size)):
            out.write(format_chunk(tagged, output_format.value, span_tasks))
