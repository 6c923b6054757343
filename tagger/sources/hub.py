"""Where a named dataset's files are: the local places in order, then the Hugging Face hub.

Every dataset (``tagger/sources/*.py``, and the other families' sources such as
``trees/source.py``) takes the same steps:

1. ``check_splits``: the requested splits, some of ``train``, ``valid``, ``test``;
2. ``search_local``: ``data_dir`` when given (that folder or its ``SUBFOLDER/``; an
   explicit folder is final), else ``$TAGGER_DATA_DIR/SUBFOLDER`` and then
   ``cache_dir()/SUBFOLDER``; the first place with a file for every split wins;
3. ``from_hub``: nothing local, so the hub through ``datasets`` (the first of the
   dataset's candidates that loads), and ``require_splits`` of what came back;
4. ``write_cache``: the download written, each file atomically, to
   ``cache_dir()/SUBFOLDER`` so that the next run is local.

``locate`` does steps 1-3 at once. When nothing works, one :class:`TaggerError`
lists every place looked at and how to provide the files (``how_to_provide``).
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse

from ..errors import TaggerError
from ..files import atomic_write

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
# Hugging Face split name -> ours.
HF_SPLITS = {"train": "train", "validation": "valid", "test": "test"}
HUB_CONNECT_TIMEOUT_S = 3.0

# split -> the file names it may have in a folder, in order of preference.
SplitFiles = Mapping[str, Sequence[str]]
# (dataset path, keyword arguments for datasets.load_dataset)
Candidates = Sequence[tuple[str, dict[str, Any]]]
# data_dir (None: the default places) -> the sentence telling the user how to provide the files
HowTo = Callable[[Path | None], str]


# --------------------------------------------------------------------------- local places


def cache_dir() -> Path:
    """The toolkit's cache folder: ``$TAGGER_CACHE_DIR``, ``$XDG_CACHE_HOME/tagger`` or ``~/.cache/tagger``."""
    if os.environ.get("TAGGER_CACHE_DIR"):
        return Path(os.environ["TAGGER_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "tagger"
    return Path.home() / ".cache" / "tagger"


def as_folder(data_dir: str | Path | None) -> Path | None:
    """``data_dir`` as a path (``~`` expanded), or None for the default places."""
    return Path(data_dir).expanduser() if data_dir is not None else None


def check_splits(splits: Sequence[str]) -> tuple[str, ...]:
    """The requested splits as a tuple; an unknown or empty request is a :class:`TaggerError`."""
    splits = tuple(splits)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise TaggerError(f"unknown split {unknown[0]!r}; expected some of {', '.join(SPLITS)}")
    if not splits:
        raise TaggerError("no splits requested")
    return splits


def files_in(folder: Path, splits: Sequence[str], names: SplitFiles) -> tuple[dict[str, Path], list[str]]:
    """The split files present in ``folder`` and the requested splits missing there."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for split in splits:
        for name in names[split]:
            if (folder / name).is_file():
                found[split] = folder / name
                break
        else:
            missing.append(split)
    return found, missing


def describe_missing(missing: Sequence[str], names: SplitFiles) -> str:
    return "; ".join(f"no {split} file ({' or '.join(names[split])})" for split in missing)


def search_local(
    data_dir: Path | None, splits: Sequence[str], subfolder: str, names: SplitFiles
) -> tuple[dict[str, Path] | None, list[str]]:
    """Look through the local places; return the files of the first complete one (or
    None) and a note on each place that was not (for the error when nothing is found)."""
    places: list[tuple[str, list[Path]]] = []
    if data_dir is not None:
        places.append(("data_dir", [data_dir, data_dir / subfolder]))
    else:
        env = os.environ.get("TAGGER_DATA_DIR")
        if env:
            places.append(("$TAGGER_DATA_DIR", [Path(env).expanduser() / subfolder]))
        places.append(("cache", [cache_dir() / subfolder]))
    notes: list[str] = []
    for label, folders in places:
        for folder in folders:
            if not folder.is_dir():
                notes.append(f"{label} {folder}: no such folder")
                continue
            found, missing = files_in(folder, splits, names)
            if not missing:
                return found, notes
            notes.append(f"{label} {folder}: {describe_missing(missing, names)}")
    if data_dir is None and not os.environ.get("TAGGER_DATA_DIR"):
        notes.insert(0, "$TAGGER_DATA_DIR: not set")
    return None, notes


def how_to_provide(files: str, subfolder: str) -> HowTo:
    """The closing sentence of a not-found error: which ``files`` to put where."""

    def how(data_dir: Path | None) -> str:
        where = data_dir if data_dir is not None else cache_dir() / subfolder
        return (
            f"To provide the data, put {files} in {where}"
            + ("" if data_dir is not None else f", or pass --data-dir DIR, or set TAGGER_DATA_DIR=DIR with the files in DIR/{subfolder}")
            + "."
        )

    return how


# --------------------------------------------------------------------------- hub


def _offline() -> bool:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return True
    return False


def _is_local(path: str) -> bool:
    return path.startswith(("/", ".", "~")) or os.path.exists(path) or "\\" in path


def _hub_unreachable() -> str | None:
    """Why the hub (or the proxy in front of it) cannot be reached, or None if a connection opens.

    ``datasets`` retries for tens of seconds without a network; one short
    connection attempt first makes the offline case fail fast.
    """
    target = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        if os.environ.get(var):
            target = os.environ[var]
            break
    url = urlparse(target if "://" in target else "http://" + target)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=HUB_CONNECT_TIMEOUT_S):
            return None
    except OSError as err:
        return f"cannot reach {host}:{port} ({err.strerror or err.__class__.__name__})"


def _summarise(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def load_from_hub(candidates: Candidates) -> tuple[str, Any]:
    """Load the first candidate that works with ``datasets.load_dataset``.

    Returns ``(path, DatasetDict)``. Raises :class:`TaggerError` whose message
    summarises why each candidate failed (never a traceback).
    """
    try:
        import datasets
    except ImportError:
        raise TaggerError("Hugging Face hub: the 'datasets' package is not installed (pip install datasets)") from None
    problems: list[str] = []
    unreachable: str | None = None
    checked = False
    offline = _offline() or bool(getattr(datasets.config, "HF_HUB_OFFLINE", False))
    for path, kwargs in candidates:
        if not _is_local(path) and not offline:
            if not checked:
                unreachable, checked = _hub_unreachable(), True
            if unreachable:
                problems.append(f"{path}: {unreachable}")
                continue
        try:
            return path, datasets.load_dataset(path, **kwargs)
        except Exception as err:  # noqa: BLE001 - any failure is summarised for the user
            problems.append(f"{path}: {_summarise(err)}")
    if offline:
        problems.append("(offline mode: HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set)")
    raise TaggerError("Hugging Face hub: " + "; ".join(problems or ["no candidates"]))


def from_hub(what: str, notes: list[str], folder: Path | None, how: HowTo, candidates: Candidates) -> tuple[str, Any]:
    """The step every source takes when no local files were found: an explicit folder is
    final (one error listing where we looked), else the hub, whose failure joins the list.

    ``what`` opens the error (``"SST-2 train/valid not found."``); returns ``(path, DatasetDict)``.
    """
    if folder is not None:
        raise TaggerError(f"{what} Looked in: {'; '.join(notes)}. {how(folder)}")
    try:
        return load_from_hub(candidates)
    except TaggerError as err:
        notes.append(err.message)
        raise TaggerError(f"{what} Looked in: {'; '.join(notes)}. {how(None)}") from None


def require_splits(source: str, dataset: Any, have: Sequence[str], need: Sequence[str], how: HowTo, kind: str = "") -> None:
    """A :class:`TaggerError` when the hub dataset ``source`` lacks a needed split (``kind``: "labelled ")."""
    missing = [s for s in need if s not in have]
    if missing:
        raise TaggerError(
            f"Hugging Face dataset {source} has no {kind}{'/'.join(missing)} split (it has {', '.join(dataset)}). "
            + how(None)
        )


class Located(NamedTuple):
    """Where ``locate`` found a dataset: local ``files`` (one per split), or else the hub
    dataset ``source`` and its ``DatasetDict``."""

    files: dict[str, Path] | None
    source: str | None = None
    dataset: Any = None


def locate(
    what: str, data_dir: Path | None, splits: Sequence[str], subfolder: str, names: SplitFiles, how: HowTo,
    candidates: Candidates,
) -> Located:
    """Steps 2 and 3 of the module's list: the first local place with every split, else the hub."""
    found, notes = search_local(data_dir, splits, subfolder, names)
    if found is not None:
        return Located(found)
    source, dataset = from_hub(what, notes, data_dir, how, candidates)
    return Located(None, source, dataset)


def write_cache(folder: Path, writers: Mapping[str, Callable[[str], None]], what: str) -> None:
    """Write a download to ``folder``: ``writers`` maps a file name to a function writing
    that file at the path it is given. Each file is written atomically (``files.atomic_write``),
    so a crash never leaves a half file that a later run would read as the data; a failure
    only logs a warning, since the data itself is in hand."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, write in writers.items():
            atomic_write(folder / name, write)
    except OSError as err:
        log.warning("could not cache %s in %s: %s", what, folder, err)


def label_names(feature: Any) -> list[str] | None:
    """The names of a Hugging Face ``Sequence(ClassLabel)`` feature, or None if it has none."""
    inner = getattr(feature, "feature", None)
    names = getattr(inner, "names", None)
    return list(names) if names else None


def columns_of(dataset_split: Any) -> Any:
    """A split's columns as a dict of lists (one conversion instead of a row-by-row read)."""
    return dataset_split.to_dict() if hasattr(dataset_split, "to_dict") else dataset_split
