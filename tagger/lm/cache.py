"""Char LMs for a tagger, trained once and then reused: ``embed.charlm_recipe``.

A tagger recipe may name a language-model recipe (``charlm_recipe = "charlm-conll2003"``)
instead of two trained LM directories. ``tagger train`` then trains its forward LM and
its backward LM (the same recipe with ``model.reverse = true``) the first time, and
reuses them afterwards from ``cache_dir()/charlm/NAME-KEY/{fwd,bwd}``. KEY hashes
everything that decides what the LMs learn: the LM recipe's settings (all but
``train.threads`` and ``train.device``) and its training and held-out text. A changed
setting or text gets new LMs, never stale ones. Each LM is trained in a temporary
folder and moved into place only when its training has finished, so a killed run
leaves nothing that looks finished (its partial folder is removed by the next run).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from pathlib import Path

from rich.console import Console

from ..errors import TaggerError
from ..sources.hub import cache_dir
from .config import LMRecipe
from .text import load_lm_text
from .train import train_lm

UNLEARNT = ("threads", "device")  # train fields that do not change the weights' meaning


def load_charlm_recipe(name_or_path: str) -> LMRecipe:
    """The LM recipe ``embed.charlm_recipe`` names, checked: a char-level forward LM."""
    from ..config import load_recipe_dict

    raw, origin = load_recipe_dict(name_or_path, LMRecipe)
    recipe = LMRecipe.from_dict(raw, origin)
    if recipe.model.level != "char":
        raise TaggerError(f"embed.charlm_recipe: '{name_or_path}' trains a {recipe.model.level}-level model; "
                          "the tagger's char-LM embeddings need model.level = \"char\"")
    if recipe.model.reverse:
        raise TaggerError(f"embed.charlm_recipe: '{name_or_path}' is a backward LM; name the forward recipe "
                          "(the backward LM is trained from it with model.reverse = true)")
    return recipe


def directional(recipe: LMRecipe) -> dict[str, LMRecipe]:
    """The forward recipe and its backward twin."""
    backward = copy.deepcopy(recipe)
    backward.model.reverse = True
    return {"fwd": recipe, "bwd": backward}


def cache_key(recipe: LMRecipe, train_text: str, valid_text: str | None) -> str:
    """A hash of what the LMs learn from: the settings that matter and the text."""
    settings = recipe.to_dict()
    settings["model"].pop("reverse", None)  # both directions share a folder
    settings["data"].pop("data_dir", None)  # where the text was found; the text itself is hashed below
    for name in UNLEARNT:
        settings["train"].pop(name, None)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8"))
    for text in (train_text, valid_text or ""):
        digest.update(b"\0" + hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()[:16]


def ensure_charlms(name_or_path: str, console: Console, *, threads: int | None = None, data_dir: str | None = None,
                   distributed: bool = False) -> str:
    """``"FWD_DIR,BWD_DIR"`` (for ``embed.charlm``): the cached LMs of the recipe, after
    training whichever of them is not cached yet on ``threads`` threads. ``data_dir`` (the
    tagger's ``--data-dir``) is where a named source's text is looked for first."""
    recipe = load_charlm_recipe(name_or_path)
    if data_dir and not recipe.data.data_dir:
        recipe.data.data_dir = data_dir
    train_text, valid_text, described = load_lm_text(recipe.data)
    folder = cache_dir() / "charlm" / f"{recipe.name}-{cache_key(recipe, train_text, valid_text)}"
    paths = []
    for direction, lm_recipe in directional(recipe).items():
        done = folder / direction
        if not (done / "best").is_dir():
            if distributed:
                raise TaggerError(f"the {direction} char LM of '{recipe.name}' is not trained yet: train the tagger once "
                                  "in a single process (it trains and caches the LMs), then start torchrun", done)
            _train_one(lm_recipe, direction, done, train_text, valid_text, described, console, threads)
        else:
            console.log(f"char LM ({direction}) of '{recipe.name}' from the cache: {done / 'best'}")
        paths.append(str(done / "best"))
    return ",".join(paths)


def _alive(pid: str) -> bool:
    """Whether a process of this number runs (one training the same LM right now)."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _train_one(recipe: LMRecipe, direction: str, done: Path, train_text: str, valid_text: str | None,
               described: str, console: Console, threads: int | None) -> None:
    if threads:
        recipe.train.threads = threads
    for stale in done.parent.glob(f"{direction}.partial-*"):  # left by a killed run
        if not _alive(stale.name.rsplit("-", 1)[-1]):
            shutil.rmtree(stale, ignore_errors=True)
    work = done.parent / f"{direction}.partial-{os.getpid()}"
    console.log(f"training the {'forward' if direction == 'fwd' else 'backward'} char LM of '{recipe.name}' on "
                f"{described} (cached in {done.parent} for later runs)")
    result = train_lm(recipe, work, console, train_text=train_text, valid_text=valid_text)
    if result.stopped_because == "interrupted":  # half-trained: never cached as done
        raise TaggerError(f"stopped while training the {direction} char LM; the next run starts it again", work)
    if done.exists():  # another run finished the same LM meanwhile: keep that one
        shutil.rmtree(work, ignore_errors=True)
        return
    os.replace(work, done)
