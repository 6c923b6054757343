"""Tagging big files: worker processes, input order kept, bounded memory, resumable output.

``tagger predict MODEL --input big.jsonl -o out.jsonl --workers N`` reads the input
lazily in chunks of sentences, hands each chunk to one of N worker processes (each
loads the model once and runs PyTorch, or for an export directory ONNX Runtime, on one
thread) and writes the chunks' output
in input order as they come back. At most ``2 * N`` chunks are in flight, so
memory does not grow with the input.

``--resume`` continues a killed run: the output's complete records are counted
(lines for ``jsonl`` and ``spans``, blank-line-terminated blocks for ``conll``), an
incomplete last one is cut off, and that many input sentences are skipped.
"""
from __future__ import annotations

import collections
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .chunked import TRIM_EVERY, chunked, format_chunk, predict_chunk, predict_chunks  # noqa: F401  (chunked: re-exported)
from .errors import TaggerError

FORMATS = ("spans", "conll", "jsonl")


def record_end(fmt: str) -> bytes:
    """What ends one sentence's output: a newline, or (CoNLL) a blank line."""
    if fmt not in FORMATS:
        raise TaggerError(f"--resume and --workers write --format {', '.join(FORMATS)}, not {fmt}")
    return b"\n\n" if fmt == "conll" else b"\n"


def complete_records(path: Path, fmt: str, block: int = 1 << 20) -> tuple[int, int]:
    """(complete records in the output file ``path``, byte offset just after the last one).
    Reads the file in blocks: the output of a big run may be bigger than memory."""
    end = record_end(fmt)
    count = offset = 0
    carry, base = b"", 0  # unread tail of the previous block (a terminator may straddle two), its file offset
    with path.open("rb") as handle:
        while data := handle.read(block):
            buf = carry + data
            last = 0
            found = buf.find(end)
            while found >= 0:
                count += 1
                last = found + len(end)
                offset = base + last
                found = buf.find(end, last)
            keep = max(last, len(buf) - (len(end) - 1))
            carry, base = buf[keep:], base + keep
    return count, offset


def prepare_resume(path: Path, fmt: str) -> int:
    """Cut an incomplete last record off the output and return how many complete ones it
    holds (0 when there is no output yet)."""
    if not path.exists():
        return 0
    records, offset = complete_records(path, fmt)
    if path.stat().st_size > offset:
        with path.open("r+b") as handle:
            handle.truncate(offset)
    return records


def _tag_and_format(tagger: Any, chunk: list[str | list[str]], fmt: str) -> str:
    return format_chunk(predict_chunk(tagger, chunk), fmt, set(tagger.info.span_tasks))


# -- worker processes -------------------------------------------------------

_WORKER: dict[str, Any] = {}


def load_for_tagging(model_dir: str | Path, device: str, batch_size: int, threads: int | None = None) -> Any:
    """What tags the chunks: a :class:`tagger.predict.Tagger`, or for a ``tagger export``
    directory the torch-free runtime (PyTorch never imported)."""
    from .runtime import is_export_dir, load

    if is_export_dir(model_dir):
        return load(model_dir, threads=threads, batch_size=batch_size)
    from .predict import Tagger

    tagger = Tagger.load(model_dir, device)
    tagger.batch_size = batch_size
    return tagger


def _init_worker(model_dir: str, device: str, batch_size: int, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from .runtime import is_export_dir

    if not is_export_dir(model_dir):
        import torch

        torch.set_num_threads(threads)
    try:
        tagger = load_for_tagging(model_dir, device, batch_size, threads)
    except TaggerError as err:  # reported with the first chunk, as one line
        _WORKER["error"] = err
        return
    _WORKER.update(tagger=tagger, chunks=0)


def _tag_in_worker(chunk: list[str | list[str]], fmt: str) -> str:
    if "error" in _WORKER:
        raise _WORKER["error"]
    text = _tag_and_format(_WORKER["tagger"], chunk, fmt)
    _WORKER["chunks"] += 1
    if _WORKER["chunks"] % TRIM_EVERY == 0:
        from .outputs import release_freed_memory

        release_freed_memory()
    return text


def tag_chunks(
    model_dir: str | Path,
    chunks: Iterable[list[str | list[str]]],
    fmt: str,
    *,
    workers: int,
    batch_size: int = 256,
    device: str = "cpu",
    threads: int = 1,
    tagger: Any = None,
) -> Iterator[str]:
    """The formatted output of each chunk, in order. ``workers <= 1`` tags in this
    process (with ``tagger`` if given); more start that many spawned processes, each
    loading the model once, with at most ``2 * workers`` chunks in flight."""
    record_end(fmt)
    if workers <= 1:
        if tagger is None:
            tagger = load_for_tagging(model_dir, device, batch_size)
        span_tasks = set(tagger.info.span_tasks)
        for tagged in predict_chunks(tagger, chunks):
            yield format_chunk(tagged, fmt, span_tasks)
        return
    context = multiprocessing.get_context("spawn")  # no forked copies of a threaded PyTorch
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(str(model_dir), device, batch_size, threads))
    pending: collections.deque[Future] = collections.deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(_tag_in_worker, chunk, fmt))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:
        raise TaggerError(
            "a worker process died (out of memory, or killed); the output holds every sentence before "
            "the chunk it was tagging: continue with --resume"
        ) from None
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)



def skip_done(items: Iterator[Any], output: Path, fmt: str, input_file: Path | None) -> int:
    """``--resume``: cut an incomplete last record off ``output`` and skip as many of
    ``items`` as it holds complete ones; that number."""
    done = prepare_resume(output, fmt)
    for skipped in range(done):
        if next(items, None) is None:
            raise TaggerError(f"--resume: {output} holds {done:,} sentences but the input has only {skipped:,}; "
                              "it is not this input's output", input_file)
    return done


def write_chunked(
    tagger: Any, model_dir: str | Path, items: Iterable[Any], fmt: str, output: Path | None, *,
    input_file: Path | None = None, batch_size: int = 256, device: str = "cpu", workers: int = 1,
    resume: bool = False, log: Callable[[str], None] = lambda message: None,
) -> None:
    """``tagger predict`` in formats spans, conll and jsonl: chunks of ``4 * batch_size``
    items, tagged here (by ``tagger``) or by ``workers`` processes, written to ``output``
    (standard output when None) in input order as they come, so a kill loses at most the
    chunks in flight; ``resume`` first skips what ``output`` already holds."""
    from .outputs import LazyOutput

    items = iter(items)
    done = skip_done(items, output, fmt, input_file) if resume and output is not None else 0
    if done:
        log(f"resuming: {output} already holds {done:,} tagged sentences; tagging the rest of {input_file}")
    chunks = chunked(items, 4 * batch_size)
    with LazyOutput(output, append=resume and output is not None and output.exists()) as out:
        for text in tag_chunks(model_dir, chunks, fmt, workers=workers, batch_size=batch_size, device=device,
                               tagger=None if workers > 1 else tagger):  # workers load their own copies
            out.write(text)
