"""The models a server holds: loaded once at start, each under a name. A request picks
one by that name; nothing a client sends ever becomes a path. A model directory runs
on PyTorch; a ``tagger export`` directory on ONNX Runtime (``backend`` says which),
and a server of exports alone never imports PyTorch."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TaggerError
from ..modelinfo import ModelInfo
from ..runtime import command_threads, is_export_dir

# Names travel in URLs: keep them to characters that need no escaping.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class ServedModel:
    name: str
    tagger: Any  # a tagger.predict.Tagger, or a tagger.runtime.Runtime for an export
    span_tasks: list[str]
    attention_tasks: list[str]  # the tasks ``explain`` can show (none for an export)
    info: dict = field(default_factory=dict)  # what GET /v1/models says about it
    backend: str = "torch"  # or "onnx"


def parse_spec(spec: str) -> tuple[str, Path]:
    """``NAME=PATH``, or ``PATH`` named after its folder (a run's ``best/`` after the run)."""
    rules = "up to 64 letters, digits, '_', '.', '-'"
    name, sep, path = spec.partition("=")
    if sep and path and not Path(spec).exists():
        if not _NAME.match(name):
            raise TaggerError(f"'{name}' cannot be a model name ({rules})")
        return name, Path(path)
    folder = Path(spec).resolve()
    name = folder.parent.name if folder.name == "best" else folder.name
    if not _NAME.match(name):
        raise TaggerError(f"the folder name '{name}' cannot be a model name ({rules}): serve it as NAME={spec}")
    return name, Path(spec)


def load_models(specs: list[str], device: str = "cpu", threads: int | None = None) -> dict[str, ServedModel]:
    """Every model on the command line, by name; two models with one name are an error.
    ``threads`` is for ONNX Runtime sessions (PyTorch's are set once per process)."""
    if not specs:
        raise TaggerError("give at least one model directory to serve")
    models: dict[str, ServedModel] = {}
    for spec in specs:
        name, path = parse_spec(spec)
        if name in models:
            raise TaggerError(f"two models are named '{name}': name them with NAME=PATH")
        models[name] = load_model(name, path, device, threads)
    return models


def load_model(name: str, path: Path, device: str = "cpu", threads: int | None = None) -> ServedModel:
    if is_export_dir(path):
        return load_export(name, path, device, threads)
    from ..lm.model import LM_FILE
    from ..modeldir import CONFIG_FILE, resolve_model_dir
    from ..predict import Tagger

    for folder in (path, path / "best"):
        if (folder / LM_FILE).exists() and not (folder / CONFIG_FILE).exists():
            raise TaggerError("a language model: tagger serve serves taggers and classifiers "
                              "(sample text with 'tagger lm generate')", path)
    directory = resolve_model_dir(path)
    tagger = Tagger.load(directory, device)
    info = tagger.info
    served = ServedModel(name, tagger, info.span_tasks, info.attention_tasks)
    served.info = describe(served, info, directory)
    return served


def load_export(name: str, path: Path, device: str, threads: int | None) -> ServedModel:
    """An export directory on ONNX Runtime, on ``threads`` threads (one unless told, as
    ``tagger predict`` runs it). Its graph gives no attention weights: no ``explain``."""
    from ..runtime import load as load_runtime

    if device not in ("cpu", "auto"):
        raise TaggerError(f"an ONNX export runs on the CPU (ONNX Runtime), not on --device {device}", path)
    runtime = load_runtime(path, command_threads(threads))
    info = runtime.info
    served = ServedModel(name, runtime, info.span_tasks, [], backend="onnx")
    served.info = describe(served, info, Path(path))
    return served


def describe(served: ServedModel, info: ModelInfo, directory: Path) -> dict:
    """Name, tasks with their labels, tokenizer and training metrics; never the path."""
    tasks = [{"name": t.name, "kind": t.kind, "level": t.level, "span": t.span, "multi_label": t.multi_label,
              "attention": t.attention, "labels": t.labels} for t in info.tasks]
    backend = "pytorch" if served.backend == "torch" else " ".join(filter(None, ["onnxruntime", served.tagger.quantize]))
    return {"name": served.name, "backend": backend, "tasks": tasks,
            "tokenizer": info.tokenizer, "training": training_summary(directory)}


def training_summary(directory: Path) -> dict | None:
    """The best epoch of the model's ``metrics.jsonl`` (its own, else its run's), or None."""
    for candidate in (directory / "metrics.jsonl", directory.parent / "metrics.jsonl"):
        epochs = _read_jsonl(candidate)
        if epochs:
            break
    else:
        return None
    scored = [e for e in epochs if isinstance(e.get("dev_score"), (int, float))]
    best = max(scored, key=lambda e: e["dev_score"]) if scored else epochs[-1]
    return {"epochs": len(epochs), "best_epoch": best.get("epoch"), "dev_score": best.get("dev_score"),
            "dev": best.get("dev")}


def _read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a file, skipping lines that are not (a run killed mid-write)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in lines:
        try:  # NaN and Infinity (a diverged epoch) become null: JSON has no such numbers
            item = json.loads(line, parse_constant=lambda _: None)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out
