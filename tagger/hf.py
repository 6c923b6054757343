"""Tagging datasets with data engines: Hugging Face ``datasets``, Spark, Ray.

* :func:`map_predict` tags a ``datasets.Dataset`` (or ``DatasetDict``), e.g. one
  saved on disk in Arrow format, through ``Dataset.map(batched=True, num_proc=N)``;
  it returns the dataset with a column of predicted labels per task.
* :func:`predict_batch` is the same on one batch: a pandas DataFrame or a dict of
  columns (what Ray Data's ``map_batches`` hands over).
* :func:`predict_partition` maps an iterator of DataFrames to an iterator of tagged
  DataFrames: a Spark ``mapInPandas`` function.

Each process loads a model once (a cache keyed by the model directory and device),
however many batches it tags. The input is a column of token lists (``tokens``
by default) or of raw text (``text_column``; the model's own tokenizer splits it
and a ``tokens`` column is added). Output columns, ``PREFIX`` + :
``TASK`` (one label per token, or a sentence task's labels) for every task, and
``TASK_proba`` (``{label: probability}``) for sentence tasks. A row without
words gets empty labels.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import TaggerError

_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def cached_model(model: Any, device: str = "cpu") -> Any:
    """A :class:`tagger.Tagger` for ``model`` (a model or run directory, or a Tagger),
    loaded once per process and device; for a ``tagger export`` directory a
    :class:`tagger.runtime.Runtime` (ONNX Runtime, PyTorch never imported)."""
    if not isinstance(model, (str, Path)):  # a Tagger (or Runtime) already loaded
        return model
    if _is_export(model):
        if device not in ("cpu", "auto"):
            raise TaggerError(f"an export directory runs on the CPU (ONNX Runtime), not device '{device}'", model)
        key, load = (str(Path(model).resolve()), "onnx"), _load_export
    else:
        from .modeldir import resolve_model_dir
        from .predict import Tagger

        key, load = (str(resolve_model_dir(model).resolve()), device), Tagger.load
    with _LOCK:
        tagger = _MODELS.get(key)
        if tagger is None:
            tagger = _MODELS[key] = load(key[0], device)
    return tagger


def _is_export(model: Any) -> bool:
    from .runtime import is_export_dir

    return isinstance(model, (str, Path)) and is_export_dir(model)


def _load_export(directory: str, device: str) -> Any:
    from .runtime import load

    return load(directory, threads=_THREADS.get("threads"))


_THREADS: dict[str, int | None] = {}  # the threads asked for: an export's session is made with them


def _set_threads(model: Any, threads: int | None) -> None:
    """PyTorch's threads, or (an export directory) the threads of its ONNX Runtime session."""
    if not threads:
        return
    if _is_export(model):
        _THREADS["threads"] = threads
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _as_words(value: Any) -> list[str]:
    """A row's tokens as a list of str: Arrow gives lists, pandas and Ray numpy arrays."""
    if value is None:
        return []
    if isinstance(value, str):
        raise TaggerError("the tokens column holds strings, not lists of tokens: pass text_column= for raw text")
    return [str(t) for t in value]


def predict_columns(
    values: Sequence[Any], model: Any, *, text: bool = False, prefix: str = "", device: str = "cpu",
    batch_size: int | None = None,
) -> dict[str, list[Any]]:
    """The new columns for one batch of rows: ``values`` are token lists, or raw
    strings when ``text`` is true."""
    from .chunked import predict_chunk

    tagger = cached_model(model, device)
    if batch_size:
        tagger.batch_size = batch_size
    if text:
        words = lambda v: tagger.words(v) if isinstance(v, str) else []
    else:
        words = lambda v: tagger.words(_as_words(v))
    tagged = predict_chunk(tagger, values, words=words)
    sentence_tasks = set(tagger.sentence_tasks)
    columns: dict[str, list[Any]] = {}
    if text:
        columns[f"{prefix}tokens"] = tagged.words
    for task in tagger.tasks:
        columns[prefix + task] = [labels[task] for labels in tagged.labels]
        if task in sentence_tasks:  # a row without words has no probabilities
            columns[f"{prefix}{task}_proba"] = [p[task] if w else None for w, _, p in tagged.records()]
    return columns


def _pick_column(columns: Sequence[str], tokens_column: str | None, text_column: str | None) -> tuple[str, bool]:
    if tokens_column and text_column:
        raise TaggerError("give tokens_column or text_column, not both")
    if tokens_column or text_column:
        name = tokens_column or text_column
        if name not in columns:
            raise TaggerError(f"no column '{name}' (columns: {', '.join(columns)})")
        return name, bool(text_column)
    if "tokens" in columns:
        return "tokens", False
    if "text" in columns:
        return "text", True
    raise TaggerError(f"no 'tokens' or 'text' column (columns: {', '.join(columns)}): "
                      "name the input with tokens_column= or text_column=")


def predict_batch(
    batch: Any, model: Any, *, tokens_column: str | None = None, text_column: str | None = None,
    prefix: str = "", device: str = "cpu", batch_size: int | None = None,
) -> Any:
    """Tag one batch: a pandas DataFrame (returned as a new DataFrame) or a mapping of
    column name to values (returned as a dict), with the prediction columns added.

    Ray Data: ``ds.map_batches(tagger.predict_batch, fn_kwargs={"model": MODEL})``.
    """
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(batch, pandas.DataFrame):
        name, text = _pick_column(list(batch.columns), tokens_column, text_column)
        new = predict_columns(list(batch[name]), model, text=text, prefix=prefix, device=device,
                              batch_size=batch_size)
        out = batch.copy()
        for key, column in new.items():
            out[key] = column
        return out
    if not isinstance(batch, Mapping):
        raise TaggerError(f"expected a pandas DataFrame or a mapping of columns, got {type(batch).__name__}")
    name, text = _pick_column(list(batch), tokens_column, text_column)
    new = predict_columns(list(batch[name]), model, text=text, prefix=prefix, device=device, batch_size=batch_size)
    return {**dict(batch), **new}


def predict_partition(
    frames: Iterable[Any], model: Any, *, tokens_column: str | None = None, text_column: str | None = None,
    prefix: str = "", device: str = "cpu", batch_size: int | None = None, threads: int | None = 1,
) -> Iterator[Any]:
    """Tag a partition given as an iterator of pandas DataFrames: a Spark ``mapInPandas``
    function (``functools.partial(tagger.predict_partition, model=MODEL)``). ``threads``
    sets PyTorch's (or an export's ONNX Runtime) threads in the executor (one by default:
    Spark runs a task per core)."""
    _set_threads(model, threads)
    for frame in frames:
        yield predict_batch(frame, model, tokens_column=tokens_column, text_column=text_column, prefix=prefix,
                            device=device, batch_size=batch_size)


def _map_batch(batch: dict, model: str, name: str, text: bool, prefix: str, device: str, threads: int | None,
               stamp: str) -> dict:
    _set_threads(model, threads)
    return predict_columns(batch[name], model, text=text, prefix=prefix, device=device)


def _model_info(model: Any) -> tuple[str, list[str], dict[str, list[str]], str]:
    """(model directory, tasks, {sentence task: labels}, a stamp of the weights), from the
    model directory's JSON files (``tagger.modeldir``), without loading the weights."""
    if not isinstance(model, (str, Path)):
        raise TaggerError("map_predict takes the model directory (each process loads it once), not a loaded Tagger")
    if _is_export(model):  # an export directory: ONNX Runtime, no PyTorch
        from .runtime import ONNX_FILE, read_info

        info, weights_file = read_info(model), ONNX_FILE
    else:
        from .modeldir import WEIGHTS_FILE, read_model_info

        info, weights_file = read_model_info(model), WEIGHTS_FILE
    directory = info.directory.resolve()
    weights = (directory / weights_file).stat()
    return str(directory), info.task_names, info.sentence_tasks, f"{weights.st_size}:{weights.st_mtime_ns}"


def map_predict(
    dataset: Any, model: str | Path, *, tokens_column: str | None = None, text_column: str | None = None,
    batch_size: int = 1024, num_proc: int | None = None, prefix: str = "", device: str = "cpu",
    threads: int | None = None, **map_kwargs: Any,
) -> Any:
    """Tag a Hugging Face ``Dataset`` (or each split of a ``DatasetDict``) with the model
    in ``model`` (a model directory, or a ``tagger export`` directory: ONNX Runtime, without
    PyTorch); returns the dataset with the prediction columns added (see the module).

    ``batch_size`` rows go to the model at a time (it sorts them by length, so bigger
    batches pad less); ``num_proc`` processes tag shards in parallel, each loading the
    model once and running PyTorch on ``threads`` threads (default: 1 when
    ``num_proc`` > 1). Other keywords go to ``Dataset.map`` (``cache_file_name``,
    ``load_from_cache_file``, ``desc``, ...). Results are cached like any ``map``;
    retraining the model into the same directory changes the cache key.
    """
    import datasets

    directory, tasks, sentence_tasks, stamp = _model_info(model)
    splits = dataset.values() if isinstance(dataset, datasets.DatasetDict) else [dataset]
    first = next(iter(splits), None)
    if first is None:
        return dataset
    name, text = _pick_column(first.column_names, tokens_column, text_column)
    strings = datasets.List(datasets.Value("string")) if hasattr(datasets, "List") else datasets.Sequence(
        datasets.Value("string"))
    new = {}
    if text:
        new[f"{prefix}tokens"] = strings
    for task in tasks:
        new[prefix + task] = strings
        if task in sentence_tasks:
            new[f"{prefix}{task}_proba"] = {label: datasets.Value("float64") for label in sentence_tasks[task]}
    clash = [c for c in new if c in first.column_names and c != name]
    if clash:
        raise TaggerError(f"the dataset already has a column '{clash[0]}': choose another prefix= for the predictions")
    if threads is None and num_proc and num_proc > 1:
        threads = 1
    kwargs = dict(batched=True, batch_size=batch_size, num_proc=num_proc, desc="tagging",
                  fn_kwargs=dict(model=directory, name=name, text=text, prefix=prefix, device=device, threads=threads,
                                 stamp=stamp))
    kwargs.update(map_kwargs)

    def one(split: Any) -> Any:
        features = split.features.copy()
        features.update(new)
        return split.map(_map_batch, features=features, **kwargs)

    if isinstance(dataset, datasets.DatasetDict):
        return datasets.DatasetDict({key: one(split) for key, split in dataset.items()})
    return one(dataset)


__all__ = ["map_predict", "predict_batch", "predict_partition", "predict_columns", "cached_model"]
