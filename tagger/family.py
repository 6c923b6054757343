"""Which model family a recipe, a training run or a model directory belongs to, read
from the file headers alone (no model code imported): the recipe's ``family`` field,
the checkpoint's config, the model directory's ``config.json``. Families without the
field are the sequence tagger's (``"tagger"``), which came first.

The commands and ``tagger.load`` dispatch on these names; a new family adds its branch
where they do (``cli/__init__.py``, ``loading.py``)."""
from __future__ import annotations

import importlib
import json
import struct
from pathlib import Path
from typing import Any

import tomllib

from .registry import families

TAGGER = "tagger"


def recipe_family(name_or_path: str | None) -> str:
    """The ``family`` of a named recipe or a TOML file; ``"tagger"`` when it has none or
    cannot be read (the tagger's recipe reader then reports what is wrong with it)."""
    if not name_or_path:
        return TAGGER
    from .config import recipes_dir

    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.is_file()):
        try:
            path = recipes_dir() / f"{name_or_path}.toml"
        except Exception:  # no recipe folder: the regular path reports it
            return TAGGER
    try:
        family = tomllib.loads(path.read_text(encoding="utf-8")).get("family", TAGGER)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return TAGGER
    return family if isinstance(family, str) else TAGGER


def run_family(run_dir: str | Path | None) -> str:
    """The family of a training run, from its checkpoint's header (eight bytes of length,
    then JSON; the tensors are not read); ``"tagger"`` when there is none to read."""
    if run_dir is None:
        return TAGGER
    try:
        with (Path(run_dir) / "checkpoint.safetensors").open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(min(length, 100_000_000)))
        family = json.loads(header["__metadata__"]["config"]).get("family", TAGGER)
    except (OSError, struct.error, ValueError, KeyError, TypeError, AttributeError):
        return TAGGER
    return family if isinstance(family, str) else TAGGER


def model_family(path: str | Path) -> str:
    """The family of a model directory (or a run directory holding ``best/``): its
    ``config.json``'s ``family``, ``"lm"`` for a language model's ``lm.json``."""
    path = Path(path)
    for folder in (path, path / "best"):
        if (folder / "lm.json").is_file() and not (folder / "config.json").is_file():
            return "lm"
        config = folder / "config.json"
        if config.is_file():
            try:
                family = json.loads(config.read_text(encoding="utf-8")).get("family", TAGGER)
            except (OSError, UnicodeDecodeError, ValueError, AttributeError):
                return TAGGER
            return family if isinstance(family, str) else TAGGER
    return TAGGER


# The model families, registered like every other pluggable kind. Their hooks are named
# as "module:attribute" and imported on use, so naming a family costs no import.
families.register("tagger", {"train": "tagger.train:train", "load": "tagger.predict:Tagger.load"})
families.register("tree", {"train": "tagger.trees.train:train_trees", "load": "tagger.trees:load",
                           "train_command": "tagger.trees.cli:train_command"})
families.register("lm", {"train": "tagger.lm.train:train_lm", "load": "tagger.lm.model:load_lm",
                         "train_command": "tagger.cli.lm:train_command"})
families.register("seq2seq", {"train": "tagger.seq2seq.train:train_seq2seq", "load": "tagger.seq2seq:load",
                              "train_command": "tagger.seq2seq.cli:train_command"})


def family_hook(family: str, hook: str) -> Any:
    """A registered family's hook (``train_command``, ``load``), imported now; an unknown
    family is a one-line error listing the registered ones."""
    target = families[family][hook]  # an unknown family: the registry's one-line error
    module_name, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value
