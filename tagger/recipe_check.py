"""The whole recipe checked before any data is read or any directory is made: every
name against what exists, every number against its range. A mistake is one line
naming the field, the value and what is allowed."""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from typing import Any

from .config import Recipe, is_sentence_head
from .errors import TaggerError

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _at_least(low: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= low else f"must be at least {low:g}"


def _fraction(v: Any) -> str | None:  # a dropout-style probability
    return None if 0 <= v < 1 else "must be in [0, 1)"


def _unit(v: Any) -> str | None:  # a share that may be all
    return None if 0 <= v <= 1 else "must be in [0, 1]"


def _positive(v: Any) -> str | None:
    return None if v > 0 and math.isfinite(v) else "must be a positive number"


def _open_unit(v: Any) -> str | None:
    return None if 0 < v < 1 else "must be between 0 and 1 (exclusive)"


def _decay(v: Any) -> str | None:
    return None if 0 < v <= 1 else "must be in (0, 1]"


def _odd(v: Any) -> str | None:  # so each convolution output sits on a character
    return None if v >= 1 and v % 2 == 1 else "must be an odd number (1, 3, 5, ...)"


def _finite_at_least_zero(v: Any) -> str | None:
    return None if v >= 0 and math.isfinite(v) else "must be 0 or more"


# field -> rule; None values are allowed wherever the recipe's type allows None.
RANGES: dict[str, Callable[[Any], str | None]] = {
    "data.max_tokens": _at_least(1), "data.context_tokens": _at_least(0), "embed.charlm_context": _at_least(-1),
    "embed.word_dim": _at_least(1), "embed.min_freq": _at_least(1), "embed.word_dropout": _fraction,
    "embed.entity_dropout": _fraction,
    "embed.casing_dim": _at_least(0), "embed.char_dim": _at_least(1), "embed.char_hidden": _at_least(1),
    "embed.char_kernel": _odd, "embed.max_word_len": _at_least(1), "embed.vectors_max": _at_least(1),
    "embed.dropout": _fraction,
    "encoder.hidden": _at_least(1), "encoder.layers": _at_least(1), "encoder.dropout": _fraction,
    "heads.attention_dim": _at_least(1), "heads.threshold": _open_unit, "heads.weight": _finite_at_least_zero,
    "train.lr": _positive, "train.momentum": _fraction, "train.weight_decay": _finite_at_least_zero,
    "train.lr_decay": _decay, "train.schedule_patience": _at_least(0), "train.batch_size": _at_least(1),
    "train.eval_batch_size": _at_least(1), "train.max_epochs": _at_least(1), "train.patience": _at_least(1),
    "train.max_minutes": _positive, "train.clip": _finite_at_least_zero, "train.threads": _at_least(0),
    "train.average": _fraction, "distill.weight": _unit,
}


def _names() -> dict[str, Collection[str]]:
    """field -> the registry of the names it may take. Importing the modules that
    register the built-in entries fills the registries (they live in ``registry``)."""
    from . import corpus, sources, tokenize, training  # noqa: F401 - they fill the registries
    from . import registry as reg
    from .consistency import DOC_CONSISTENCY
    from .nn import embed, encode, heads, pooling  # noqa: F401
    from .schemes import SCHEMES

    return {
        "data.source": reg.sources, "data.format": reg.data_formats, "data.scheme": SCHEMES,
        "data.tokenizer": reg.tokenizers, "embed.char_encoder": reg.char_encoders, "encoder.cell": reg.cells,
        "heads.kind": reg.heads, "heads.pooling": reg.poolings,
        "heads.doc_consistency": DOC_CONSISTENCY,
        "train.optimizer": reg.optimizers, "train.schedule": reg.schedules,
    }


def _fields(recipe: Recipe) -> list[tuple[str, str, Any]]:
    """(rule key, field as the user writes it, value) for every scalar field."""
    out = []
    for section in ("data", "embed", "encoder", "train", "distill"):
        for name, value in vars(getattr(recipe, section)).items():
            out.append((f"{section}.{name}", f"{section}.{name}", value))
    for i, head in enumerate(recipe.heads):
        for name, value in vars(head).items():
            out.append((f"heads.{name}", f"heads.{i}.{name}", value))
    return out


def check_recipe(recipe: Recipe) -> None:
    """Raise a :class:`TaggerError` for the first field out of range or naming nothing that exists."""
    names = _names()
    for rule, where, value in _fields(recipe):
        if value is None or (rule == "data.source" and value == ""):  # no named source: files only
            continue
        if rule in names and value not in names[rule]:
            raise _error(recipe, where, value, f"choose one of: {', '.join(sorted(names[rule]))}")
        check = RANGES.get(rule)
        problem = check(value) if check is not None else None
        if problem:
            raise _error(recipe, where, value, problem)
    if recipe.train.device is not None and not _DEVICE.fullmatch(recipe.train.device):
        raise _error(recipe, "train.device", recipe.train.device, "use cpu, cuda, cuda:N or auto")
    _check_heads(recipe)
    _check_files(recipe)


def _check_files(recipe: Recipe) -> None:
    """Models and files the recipe names (not the data: its readers report it by line)."""
    from pathlib import Path

    if recipe.embed.vectors and not Path(recipe.embed.vectors).is_file():
        raise TaggerError("word vectors file not found (embed.vectors)", recipe.embed.vectors)
    if recipe.embed.charlm_recipe:  # its LMs are trained (or found in the cache) by tagger.train
        from .lm.cache import load_charlm_recipe

        load_charlm_recipe(recipe.embed.charlm_recipe)
    elif recipe.embed.charlm:
        from .model import load_charlms

        load_charlms(recipe.embed.charlm)
    if recipe.distill.teacher:
        from .distill import check_teacher

        check_teacher(recipe)


def _check_heads(recipe: Recipe) -> None:
    tasks = [head.task for head in recipe.heads]
    for i, task in enumerate(tasks):
        if not task.strip():
            raise _error(recipe, f"heads.{i}.task", task, "a head needs a task name")
        if task in tasks[:i]:
            raise _error(recipe, f"heads.{i}.task", task, "two heads cannot have the same task")
    for i, head in enumerate(recipe.heads):
        if head.doc_consistency != "none" and (is_sentence_head(head) or not head.span):
            raise _error(recipe, f"heads.{i}.doc_consistency", head.doc_consistency,
                         "only a span head (a token head with span = true) has mentions to make consistent")
    from .corpus import text_formats

    if recipe.data.format in text_formats() and not any(h.kind == "classify" for h in recipe.heads):
        raise _error(recipe, "data.format", recipe.data.format, "text classification files need a classify head")


def _error(recipe: Recipe, where: str, value: Any, allowed: str) -> TaggerError:
    return TaggerError(f"invalid recipe '{recipe.name}': {where} = {value!r}: {allowed}")
