"""Named dataset sources: where a corpus comes from when the user names it instead of a file.

``load_source("conll2003")`` looks, in order, in

1. ``data_dir`` when one is given (``--data-dir``): that folder or its
   ``conll2003/`` subfolder. An explicit folder is final: if the data is not
   there, that is an error, with no download behind the user's back;
2. ``$TAGGER_DATA_DIR/conll2003``;
3. the cache folder ``cache_dir()/conll2003`` (``$TAGGER_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/tagger``, else ``~/.cache/tagger``);
4. the Hugging Face hub through ``datasets`` (parquet copies, see
   ``HUB_CANDIDATES``); a download is then written to the cache folder so the
   next run is local.

When nothing works, one :class:`TaggerError` lists every place looked at and
how to provide the files.
"""
from __future__ import annotations

import functools
import logging
import os
import random
import re
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tagger.data import Sentence
from tagger.errors import TaggerError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")

# Accepted file names per split, in order of preference.
CONLL2003_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.txt", "eng.train"),
    "valid": ("valid.txt", "dev.txt", "eng.testa"),
    "test": ("test.txt", "eng.testb"),
}

# (dataset path, keyword arguments for datasets.load_dataset). Current `datasets`
# cannot run loading scripts, so only parquet copies are usable.
HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("eriktks/conll2003", {"revision": "refs/convert/parquet"}),
    ("lhoestq/conll2003", {}),
)

# Hugging Face split name -> ours.
HF_SPLITS = {"train": "train", "validation": "valid", "test": "test"}
# Hugging Face column -> our task name.
HF_TAG_COLUMNS = {"pos_tags": "pos", "chunk_tags": "chunk", "ner_tags": "ner"}
SPAN_TASKS = frozenset({"ner", "chunk"})

HUB_CONNECT_TIMEOUT_S = 3.0

Loader = Callable[..., dict[str, list[Sentence]]]
SOURCES: dict[str, Loader] = {}
# Sources of raw text (sentence classification): their loaders also take the
# recipe's ``tokenizer`` and ``max_tokens`` as keyword arguments.
TEXT_SOURCES: set[str] = set()


def register_source(name: str, text: bool = False) -> Callable[[Loader], Loader]:
    """Decorator registering ``fn(data_dir, splits) -> {split: sentences}`` under ``name``;
    ``text=True`` for a source of raw text, called as ``fn(data_dir, splits, tokenizer=..., max_tokens=...)``."""

    def register(fn: Loader) -> Loader:
        SOURCES[name] = fn
        if text:
            TEXT_SOURCES.add(name)
        return fn

    return register


def load_source(
    name: str, data_dir: str | Path | None = None, splits: Sequence[str] = SPLITS
) -> dict[str, list[Sentence]]:
    """Load the named dataset's ``splits``; an unknown name is a :class:`TaggerError`."""
    if name not in SOURCES:
        raise TaggerError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(SOURCES))}")
    return SOURCES[name](Path(data_dir).expanduser() if data_dir is not None else None, tuple(splits))


# --------------------------------------------------------------------------- places


def cache_dir() -> Path:
    """The toolkit's cache folder: ``$TAGGER_CACHE_DIR``, ``$XDG_CACHE_HOME/tagger`` or ``~/.cache/tagger``."""
    if os.environ.get("TAGGER_CACHE_DIR"):
        return Path(os.environ["TAGGER_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "tagger"
    return Path.home() / ".cache" / "tagger"


def _check_splits(splits: Sequence[str]) -> tuple[str, ...]:
    splits = tuple(splits)
    unknown = [s for s in splits if s not in CONLL2003_FILES]
    if unknown:
        raise TaggerError(f"unknown split {unknown[0]!r}; expected some of {', '.join(SPLITS)}")
    if not splits:
        raise TaggerError("no splits requested")
    return splits


def _files_in(
    folder: Path, splits: Sequence[str], names: dict[str, tuple[str, ...]] = CONLL2003_FILES
) -> tuple[dict[str, Path], list[str]]:
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


def _describe_missing(missing: Sequence[str], names: dict[str, tuple[str, ...]] = CONLL2003_FILES) -> str:
    return "; ".join(f"no {split} file ({' or '.join(names[split])})" for split in missing)


def _search_local(
    data_dir: Path | None,
    splits: Sequence[str],
    subfolder: str = "conll2003",
    names: dict[str, tuple[str, ...]] = CONLL2003_FILES,
) -> tuple[dict[str, Path] | None, list[str]]:
    """Look through the local places; return the files of the first complete one and notes on each place."""
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
            found, missing = _files_in(folder, splits, names)
            if not missing:
                return found, notes
            notes.append(f"{label} {folder}: {_describe_missing(missing, names)}")
    if data_dir is None and not os.environ.get("TAGGER_DATA_DIR"):
        notes.insert(0, "$TAGGER_DATA_DIR: not set")
    return None, notes


def _how_to_provide(data_dir: Path | None) -> str:
    where = data_dir if data_dir is not None else cache_dir() / "conll2003"
    return (
        f"To provide the data, put train.txt/valid.txt/test.txt (CoNLL-2003 format; eng.train/eng.testa/"
        f"eng.testb also work) in {where}"
        + ("" if data_dir is not None else ", or pass --data-dir DIR, or set TAGGER_DATA_DIR=DIR with the files in DIR/conll2003")
        + "."
    )


def find_conll2003(
    data_dir: str | Path | None = None, splits: Sequence[str] = SPLITS
) -> dict[str, Path]:
    """Paths of the requested CoNLL-2003 split files in the first local place that has them all.

    Only local places are searched (no hub); when none has every requested
    split, a :class:`TaggerError` lists where it looked.
    """
    splits = _check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    found, notes = _search_local(folder, splits)
    if found is None:
        raise TaggerError(f"CoNLL-2003 {'/'.join(splits)} not found. Looked in: {'; '.join(notes)}. {_how_to_provide(folder)}")
    return found


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


def load_from_hub(candidates: Sequence[tuple[str, dict[str, Any]]] | None = None) -> tuple[str, Any]:
    """Load the first candidate that works with ``datasets.load_dataset``.

    Returns ``(path, DatasetDict)``. Raises :class:`TaggerError` whose message
    summarises why each candidate failed (never a traceback).
    """
    candidates = HUB_CANDIDATES if candidates is None else candidates
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


def _label_names(feature: Any) -> list[str] | None:
    inner = getattr(feature, "feature", None)
    names = getattr(inner, "names", None)
    return list(names) if names else None


def sentences_from_hf(dataset_split: Any) -> list[Sentence]:
    """Convert one split of a Hugging Face CoNLL-2003-style dataset (``tokens`` plus
    ``pos_tags``/``chunk_tags``/``ner_tags``) into sentences.

    Label names are read from the dataset's own ClassLabel features; span tasks are
    converted to BIO (scheme detected over the split).
    """
    from tagger.schemes import detect_scheme, to_bio

    features = dataset_split.features
    if "tokens" not in features:
        raise TaggerError(f"dataset has no 'tokens' column (columns: {', '.join(features)})")
    present = [(col, task) for col, task in HF_TAG_COLUMNS.items() if col in features]
    if not present:
        raise TaggerError(f"dataset has none of the tag columns {', '.join(HF_TAG_COLUMNS)}")
    data = dataset_split.to_dict() if hasattr(dataset_split, "to_dict") else dataset_split
    keep = [i for i, toks in enumerate(data["tokens"]) if toks and toks[0] != "-DOCSTART-"]
    columns: dict[str, list[list[str]]] = {}
    for col, task in present:
        table = _label_names(features[col])
        rows = [data[col][i] for i in keep]
        columns[task] = [[str(v) for v in row] for row in rows] if table is None else [[table[v] for v in row] for row in rows]
        if task in SPAN_TASKS:
            try:
                scheme = detect_scheme(columns[task])
                columns[task] = [to_bio(tags, scheme) for tags in columns[task]]
            except ValueError as err:
                raise TaggerError(f"dataset column {col}: {err}") from None
    return [
        Sentence(words=list(data["tokens"][i]), tags={task: columns[task][n] for task in columns})
        for n, i in enumerate(keep)
    ]


def _write_cache(folder: Path, corpus: dict[str, list[Sentence]]) -> None:
    """Write a downloaded corpus as CoNLL-2003 text files; failures only log a warning."""
    from tagger.io.conll import write_conll

    tasks = ("pos", "chunk", "ner")
    if not all(all(t in s.tags for t in tasks) for sents in corpus.values() for s in sents):
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for split, sentences in corpus.items():
            target = folder / CONLL2003_FILES[split][0]
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            write_conll(sentences, tmp, tasks=tasks, docstart=True)
            os.replace(tmp, target)
    except OSError as err:
        log.warning("could not cache CoNLL-2003 in %s: %s", folder, err)


# --------------------------------------------------------------------------- loaders


def _from_hub(
    what: str, notes: list[str], folder: Path | None, how: Callable[[Path | None], str],
    candidates: Sequence[tuple[str, dict[str, Any]]],
) -> tuple[str, Any]:
    """The step every source takes when no local files were found: an explicit folder is
    final (one error listing where we looked), else the hub, whose failure joins the list."""
    if folder is not None:
        raise TaggerError(f"{what} Looked in: {'; '.join(notes)}. {how(folder)}")
    try:
        return load_from_hub(candidates)
    except TaggerError as err:
        notes.append(err.message)
        raise TaggerError(f"{what} Looked in: {'; '.join(notes)}. {how(None)}") from None


def _require_splits(
    source: str, dataset: Any, have: Sequence[str], need: Sequence[str], how: Callable[[Path | None], str],
    kind: str = "",
) -> None:
    missing = [s for s in need if s not in have]
    if missing:
        raise TaggerError(
            f"Hugging Face dataset {source} has no {kind}{'/'.join(missing)} split (it has {', '.join(dataset)}). "
            + how(None)
        )


def _read_split_files(files: dict[str, Path]) -> dict[str, list[Sentence]]:
    from tagger.io.conll import read_conll2003

    return {split: read_conll2003(path) for split, path in files.items()}


def load_conll2003(
    data_dir: str | Path | None = None, splits: Sequence[str] = SPLITS
) -> dict[str, list[Sentence]]:
    """CoNLL-2003 as ``{split: sentences}`` (tasks pos, chunk, ner; BIO) for the requested splits."""
    splits = _check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    found, notes = _search_local(folder, splits)
    if found is not None:
        return _read_split_files(found)
    source, dataset = _from_hub(f"CoNLL-2003 {'/'.join(splits)} not found.", notes, folder, _how_to_provide,
                                HUB_CANDIDATES)
    corpus = {split: sentences_from_hf(dataset[hf]) for hf, split in HF_SPLITS.items() if hf in dataset}
    _require_splits(source, dataset, corpus, splits, _how_to_provide)
    _write_cache(cache_dir() / "conll2003", corpus)
    return {split: corpus[split] for split in splits}


def demo_dir() -> Path:
    """The demo corpus folder: packaged copy (``tagger/_data/demo``) first, then the source checkout's ``data/demo``."""
    here = Path(__file__).resolve()
    for folder in (here.parent / "_data" / "demo", here.parents[1] / "data" / "demo"):
        if folder.is_dir():
            return folder
    raise TaggerError(f"demo corpus not found (looked in {here.parent / '_data' / 'demo'} and {here.parents[1] / 'data' / 'demo'})")


@register_source("conll2003")
def _conll2003_source(data_dir: Path | None, splits: Sequence[str]) -> dict[str, list[Sentence]]:
    return load_conll2003(data_dir, splits)


@register_source("demo")
def load_demo(data_dir: Path | None = None, splits: Sequence[str] = SPLITS) -> dict[str, list[Sentence]]:
    """The small invented demo corpus shipped with the toolkit (CoNLL-2003 format)."""
    splits = _check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else demo_dir()
    found, missing = _files_in(folder, splits)
    if missing:
        raise TaggerError(f"demo corpus in {folder}: {_describe_missing(missing)}")
    return _read_split_files(found)


# --------------------------------------------------------------------------- UD English EWT

# The treebank's own file names (https://github.com/UniversalDependencies/UD_English-EWT).
UD_EWT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("en_ewt-ud-train.conllu",),
    "valid": ("en_ewt-ud-dev.conllu",),
    "test": ("en_ewt-ud-test.conllu",),
}
# The hub's `universal_dependencies` dataset is a loading script, which current
# `datasets` cannot run; its automatic parquet export (one folder per treebank on
# the refs/convert/parquet branch: en_ewt/train/0000.parquet, ...) loads without one.
UD_EWT_HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("universal-dependencies/universal_dependencies", {"revision": "refs/convert/parquet", "data_dir": "en_ewt"}),
    ("albertvillanova/universal_dependencies", {"revision": "refs/convert/parquet", "data_dir": "en_ewt"}),
)
UD_TAG_FIELDS = ("upos", "xpos")


def _how_to_provide_ud(data_dir: Path | None) -> str:
    where = data_dir if data_dir is not None else cache_dir() / "ud-ewt"
    names = "/".join(n for split in SPLITS for n in UD_EWT_FILES[split])
    return (
        f"To provide the data, put {names} (from github.com/UniversalDependencies/UD_English-EWT) in {where}"
        + ("" if data_dir is not None else ", or pass --data-dir DIR, or set TAGGER_DATA_DIR=DIR with the files in DIR/ud-ewt")
        + "."
    )


def sentences_from_hf_ud(dataset_split: Any) -> list[Sentence]:
    """Convert one split of a Hugging Face ``universal_dependencies`` treebank into
    sentences with tasks ``upos`` and ``xpos``.

    The hub copy lists every CoNLL-U line of a sentence, multiword tokens and empty
    nodes included, with no IDs; the syntactic words are the rows whose ``head`` is
    a number (multiword tokens and empty nodes have none). Without a ``head``
    column, rows whose UPOS is ``_`` (multiword tokens) are dropped. UPOS names come
    from the dataset's ClassLabel feature; a missing XPOS becomes ``_``. ``meta``
    keeps ``sent_id`` (the ``idx`` column) and ``text``.
    """
    features = dataset_split.features
    for column in ("tokens", "upos"):
        if column not in features:
            raise TaggerError(f"dataset has no '{column}' column (columns: {', '.join(features)})")
    upos_names = _label_names(features["upos"])
    xpos_names = _label_names(features["xpos"]) if "xpos" in features else None
    data = dataset_split.to_dict() if hasattr(dataset_split, "to_dict") else dataset_split
    id_column = next((c for c in ("idx", "sent_id", "id") if c in data), None)

    def label(value: Any, names: list[str] | None) -> str:
        if value is None:
            return "_"
        return names[value] if names is not None and isinstance(value, int) else str(value)

    sentences: list[Sentence] = []
    for n, tokens in enumerate(data["tokens"]):
        upos = [label(v, upos_names) for v in data["upos"][n]]
        xpos = [label(v, xpos_names) for v in data["xpos"][n]] if "xpos" in data else ["_"] * len(tokens)
        heads = data["head"][n] if "head" in data else None
        if heads is not None and any(str(h).isdigit() for h in heads):
            keep = [i for i, h in enumerate(heads) if str(h).isdigit()]
        else:
            keep = [i for i, tag in enumerate(upos) if tag != "_"]
        if not keep:
            continue
        meta: dict[str, str] = {}
        if id_column is not None and data[id_column][n] is not None:
            meta["sent_id"] = str(data[id_column][n])
        if "text" in data and data["text"][n]:
            meta["text"] = str(data["text"][n])
        sentences.append(
            Sentence(
                words=[str(tokens[i]) for i in keep],
                tags={"upos": [upos[i] for i in keep], "xpos": [xpos[i] for i in keep]},
                meta=meta,
            )
        )
    if not sentences:
        raise TaggerError("dataset split holds no sentences with words")
    return sentences


def _write_ud_cache(folder: Path, corpus: dict[str, list[Sentence]]) -> None:
    """Write a downloaded treebank as CoNLL-U (words, UPOS, XPOS); failures only log a warning."""
    from tagger.io.conllu import write_conllu

    try:
        folder.mkdir(parents=True, exist_ok=True)
        for split, sentences in corpus.items():
            target = folder / UD_EWT_FILES[split][0]
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            write_conllu(sentences, None, tmp)
            os.replace(tmp, target)
    except OSError as err:
        log.warning("could not cache UD English EWT in %s: %s", folder, err)


def load_ud_ewt(data_dir: str | Path | None = None, splits: Sequence[str] = SPLITS) -> dict[str, list[Sentence]]:
    """UD English EWT as ``{split: sentences}`` with tasks ``upos`` and ``xpos``.

    Looked for as ``en_ewt-ud-{train,dev,test}.conllu`` in ``data_dir`` (or its
    ``ud-ewt/`` subfolder; an explicit folder is final), ``$TAGGER_DATA_DIR/ud-ewt``
    and ``cache_dir()/ud-ewt``; then on the Hugging Face hub through ``datasets``
    (``UD_EWT_HUB_CANDIDATES``), and a download is cached as CoNLL-U.
    """
    from tagger.io.conllu import read_conllu

    splits = _check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    found, notes = _search_local(folder, splits, "ud-ewt", UD_EWT_FILES)
    if found is not None:
        return {split: read_conllu(path, UD_TAG_FIELDS) for split, path in found.items()}
    source, dataset = _from_hub(f"UD English EWT {'/'.join(splits)} not found.", notes, folder, _how_to_provide_ud,
                                UD_EWT_HUB_CANDIDATES)
    corpus = {split: sentences_from_hf_ud(dataset[hf]) for hf, split in HF_SPLITS.items() if hf in dataset}
    _require_splits(source, dataset, corpus, splits, _how_to_provide_ud)
    _write_ud_cache(cache_dir() / "ud-ewt", corpus)
    return {split: corpus[split] for split in splits}


@register_source("ud-ewt")
def _ud_ewt_source(data_dir: Path | None, splits: Sequence[str]) -> dict[str, list[Sentence]]:
    return load_ud_ewt(data_dir, splits)



# --------------------------------------------------------------------------- sentence classification

SENTIMENT_TASK = "sentiment"
SENTIMENT_LABELS = {"0": "negative", "1": "positive", "neg": "negative", "pos": "positive"}

# GLUE's file names; test.tsv (no labels in GLUE) is only read when asked for.
SST2_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.tsv",),
    "valid": ("dev.tsv", "validation.tsv", "valid.tsv"),
    "test": ("test.tsv",),
}
# Parquet datasets with columns sentence and label (a ClassLabel: negative, positive).
SST2_HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("stanfordnlp/sst2", {}),
    ("nyu-mll/glue", {"name": "sst2"}),
)


def _text_rows_from_hf(dataset_split: Any, text_column: str) -> list[tuple[str, str]]:
    """(text, label name) rows of a Hugging Face text classification split; rows
    without a label (GLUE test sets use -1) are left out."""
    features = dataset_split.features
    for column in (text_column, "label"):
        if column not in features:
            raise TaggerError(f"dataset has no '{column}' column (columns: {', '.join(features)})")
    names = getattr(features["label"], "names", None)
    data = dataset_split.to_dict() if hasattr(dataset_split, "to_dict") else dataset_split
    rows = []
    for text, label in zip(data[text_column], data["label"]):
        if label is None or (isinstance(label, int) and label < 0):
            continue
        name = names[label] if names and isinstance(label, int) else str(label)
        rows.append((text, SENTIMENT_LABELS.get(name, name)))
    return rows


def _sentences_from_rows(
    rows: Sequence[tuple[str, str]], tokenizer: str, max_tokens: int | None, clean: Callable[[str], str] | None = None
) -> list[Sentence]:
    from tagger.tokenize import get_tokenizer

    split = get_tokenizer(tokenizer)
    out = []
    for text, label in rows:
        words = split(clean(text) if clean else text)
        if words:
            out.append(Sentence(words=words[:max_tokens] if max_tokens else words, cats={SENTIMENT_TASK: [label]}))
    return out


def _how_to_provide_text(name: str, files: str, data_dir: Path | None) -> str:
    where = data_dir if data_dir is not None else cache_dir() / name
    return (
        f"To provide the data, put {files} in {where}"
        + ("" if data_dir is not None else f", or pass --data-dir DIR, or set TAGGER_DATA_DIR=DIR with the files in DIR/{name}")
        + "."
    )


def _write_text_cache(folder: Path, files: dict[str, list[tuple[str, str]]], fmt: str) -> None:
    """Write downloaded (text, label) rows as TSV or JSONL; failures only log a warning."""
    from tagger.io.text_classification import write_jsonl, write_tsv

    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in files.items():
            target = folder / name
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            (write_tsv if fmt == "tsv" else write_jsonl)(rows, tmp)
            os.replace(tmp, target)
    except OSError as err:
        log.warning("could not cache %s in %s: %s", folder.name, folder, err)


def load_sst2(
    data_dir: str | Path | None = None,
    splits: Sequence[str] = ("train", "valid"),
    tokenizer: str = "ptb",
    max_tokens: int | None = None,
) -> dict[str, list[Sentence]]:
    """SST-2 (GLUE) as ``{split: sentences}`` with the sentence task ``sentiment``
    (``negative``/``positive``; the files' 0/1 are renamed).

    Looked for as ``train.tsv``/``dev.tsv`` (header ``sentence<TAB>label``) in
    ``data_dir`` or its ``sst2/`` subfolder (an explicit folder is final),
    ``$TAGGER_DATA_DIR/sst2`` and ``cache_dir()/sst2``; then on the Hugging Face hub
    through ``datasets`` (``SST2_HUB_CANDIDATES``), and a download is cached as TSV.
    """
    from tagger.io.text_classification import read_text_classification

    splits = _check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    found, notes = _search_local(folder, splits, "sst2", SST2_FILES)
    if found is not None:
        return {
            split: read_text_classification(
                path, "tsv", SENTIMENT_TASK, "sentence", "label", tokenizer=tokenizer,
                max_tokens=max_tokens, label_names=SENTIMENT_LABELS,
            )
            for split, path in found.items()
        }
    files = "train.tsv and dev.tsv (GLUE SST-2: header sentence<TAB>label)"
    how = functools.partial(_how_to_provide_text, "sst2", files)
    source, dataset = _from_hub(f"SST-2 {'/'.join(splits)} not found.", notes, folder, how, SST2_HUB_CANDIDATES)
    rows = {split: _text_rows_from_hf(dataset[hf], "sentence") for hf, split in HF_SPLITS.items() if hf in dataset}
    rows = {split: r for split, r in rows.items() if r}  # GLUE's test split has no labels
    _require_splits(source, dataset, rows, splits, how, kind="labelled ")
    _write_text_cache(cache_dir() / "sst2", {SST2_FILES[split][0]: r for split, r in rows.items()}, "tsv")
    return {split: _sentences_from_rows(rows[split], tokenizer, max_tokens) for split in splits}


@register_source("sst2", text=True)
def _sst2_source(data_dir: Path | None, splits: Sequence[str], tokenizer: str = "ptb", max_tokens: int | None = None):
    return load_sst2(data_dir, splits, tokenizer, max_tokens)


IMDB_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.jsonl", "train.csv", "train.tsv"),
    "valid": ("dev.jsonl", "dev.csv", "dev.tsv", "valid.jsonl", "valid.csv", "valid.tsv"),
    "test": ("test.jsonl", "test.csv", "test.tsv"),
}
IMDB_HUB_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (("stanfordnlp/imdb", {}),)
IMDB_DEV_FRACTION = 0.1
IMDB_DEV_SEED = 2011  # the held-out dev set must be the same in every run
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_imdb(text: str) -> str:
    """IMDB reviews hold HTML line breaks (``<br /><br />``): make them spaces."""
    return _BREAK.sub(" ", text)


def hold_out(items: Sequence[Any], fraction: float = IMDB_DEV_FRACTION, seed: int = IMDB_DEV_SEED) -> tuple[list, list]:
    """Split ``items`` into (rest, held out) with a fixed seed; both keep the input order."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    held = set(order[: int(len(items) * fraction)])
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


def load_imdb(
    data_dir: str | Path | None = None,
    splits: Sequence[str] = ("train", "valid"),
    tokenizer: str = "ptb",
    max_tokens: int | None = None,
) -> dict[str, list[Sentence]]:
    """IMDB movie reviews as ``{split: sentences}`` with the sentence task ``sentiment``.

    Local files (``train.jsonl``/``test.jsonl`` with ``text`` and ``label`` keys, or
    ``train.csv``/``train.tsv`` with those columns; labels 0/1, neg/pos or
    negative/positive) are looked for in ``data_dir`` or its ``imdb/`` subfolder,
    ``$TAGGER_DATA_DIR/imdb`` and ``cache_dir()/imdb``; then the hub's
    ``stanfordnlp/imdb`` parquet files, cached as JSONL. Without a dev file, dev is
    a fixed 10% of train held out (``hold_out``), and train is the other 90%.
    HTML line breaks become spaces; ``max_tokens`` keeps a review's first words.
    """
    from tagger.io.text_classification import read_text_classification

    splits = _check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    need = tuple(s for s in ("train", "test") if s in splits or (s == "train" and "valid" in splits))
    found, notes = _search_local(folder, need, "imdb", IMDB_FILES)

    def read(path: Path) -> list[Sentence]:
        return read_text_classification(
            path, path.suffix.lstrip("."), SENTIMENT_TASK, "text", "label", tokenizer=tokenizer,
            max_tokens=max_tokens, label_names=SENTIMENT_LABELS, clean=clean_imdb,
        )

    if found is not None:
        place = next(iter(found.values())).parent
        dev_file = next((place / n for n in IMDB_FILES["valid"] if (place / n).is_file()), None)
        corpus: dict[str, list[Sentence]] = {}
        if "test" in splits:
            corpus["test"] = read(found["test"])
        if "train" in found:
            train = read(found["train"])
            if dev_file is not None:
                corpus["train"], dev = train, (read(dev_file) if "valid" in splits else [])
            else:
                corpus["train"], dev = hold_out(train)
            if "valid" in splits:
                corpus["valid"] = dev
        return {split: corpus[split] for split in splits}
    files = "train.jsonl and test.jsonl (one {\"text\": ..., \"label\": ...} a line; or train.csv/test.csv)"
    how = functools.partial(_how_to_provide_text, "imdb", files)
    source, dataset = _from_hub(f"IMDB {'/'.join(splits)} not found.", notes, folder, how, IMDB_HUB_CANDIDATES)
    rows = {split: _text_rows_from_hf(dataset[split], "text") for split in ("train", "test") if split in dataset}
    _require_splits(source, dataset, rows, need, how)
    _write_text_cache(cache_dir() / "imdb", {f"{split}.jsonl": r for split, r in rows.items()}, "jsonl")
    corpus = {}
    if "train" in rows:
        corpus["train"], corpus["valid"] = hold_out(rows["train"])
    if "test" in rows:
        corpus["test"] = rows["test"]
    return {split: _sentences_from_rows(corpus[split], tokenizer, max_tokens, clean_imdb) for split in splits}


@register_source("imdb", text=True)
def _imdb_source(data_dir: Path | None, splits: Sequence[str], tokenizer: str = "ptb", max_tokens: int | None = None):
    return load_imdb(data_dir, splits, tokenizer, max_tokens)


def sentiment_demo_dir() -> Path:
    """The invented sentiment sample: packaged copy (``tagger/_data/sentiment``) first, then ``data/sentiment``."""
    here = Path(__file__).resolve()
    for folder in (here.parent / "_data" / "sentiment", here.parents[1] / "data" / "sentiment"):
        if folder.is_dir():
            return folder
    raise TaggerError("sentiment sample not found "
                      f"(looked in {here.parent / '_data' / 'sentiment'} and {here.parents[1] / 'data' / 'sentiment'})")


@register_source("sentiment-demo", text=True)
def load_sentiment_demo(
    data_dir: Path | None = None, splits: Sequence[str] = ("train", "valid"), tokenizer: str = "ptb",
    max_tokens: int | None = None,
) -> dict[str, list[Sentence]]:
    """The small invented sentiment sample shipped with the toolkit (``train.tsv``/``dev.tsv``)."""
    from tagger.io.text_classification import read_text_classification

    splits = _check_splits(splits)
    folder = Path(data_dir).expanduser() if data_dir is not None else sentiment_demo_dir()
    found, missing = _files_in(folder, splits, SST2_FILES)
    if missing:
        raise TaggerError(f"sentiment sample in {folder}: {_describe_missing(missing, SST2_FILES)}")
    return {
        split: read_text_classification(path, "tsv", SENTIMENT_TASK, "sentence", "label", tokenizer=tokenizer,
                                        max_tokens=max_tokens)
        for split, path in found.items()
    }
