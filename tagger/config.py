"""Typed configuration: a recipe is data (TOML) that fills these dataclasses.

Every field can be overridden from the CLI with ``--set section.field=value``;
unknown fields and wrong types are user errors, reported with the recipe path.
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from .errors import TaggerError
from .textfile import read_text


@dataclass
class DataConfig:
    source: str | None = "conll2003"  # a named source, or None to read the files below
    data_dir: str | None = None
    format: str = "conll2003"  # conll2003 | column | conllu | spacy | tsv | csv | jsonl (text classification)
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    word_col: int = 0
    tag_col: int = -1
    scheme: str = "auto"  # tag scheme of the files: auto | iob1 | bio | bioes
    field: str = "upos"  # conllu: the column to tag (upos | xpos); the head's task is named after it
    text_field: str = "sentence"  # tsv/csv/jsonl: the column (header name or JSON key) holding the text
    label_field: str = "label"  # tsv/csv/jsonl: the column holding the label(s)
    tokenizer: str = "conll"  # how raw text becomes words, at training and prediction: conll | whitespace | ptb
    max_tokens: int | None = None  # sentence classification: keep the first N tokens of a text (None: all)
    # Document context (FLERT, Schweter & Akbik 2020): encode each sentence with up to N words of
    # the sentences before and after it in its document; only its own words are scored and tagged.
    # 0 (the default): sentences alone. Stored in the model, so prediction reads the same context.
    context_tokens: int = 0


@dataclass
class EmbedConfig:
    word_dim: int = 100
    min_freq: int = 1
    lowercase: bool = True  # case is carried by the casing feature and the char encoder
    normalize_digits: bool = True
    word_dropout: float = 0.05  # probability of replacing a singleton training word by <unk>
    # Probability of replacing a training word inside a gold span (a B-/I- label of any span
    # head: the entities of NER, and the chunks too if a chunking head is trained alongside) by
    # <unk>, however often it was seen: the model learns to find names it has never seen from
    # characters, casing and context, as it must on new text. 0: off.
    entity_dropout: float = 0.0
    casing_dim: int = 16
    char_encoder: str = "cnn"  # cnn | lstm | none
    char_dim: int = 30
    char_hidden: int = 50  # CNN filters, or LSTM units per direction
    char_kernel: int = 3
    max_word_len: int = 30
    vectors: str | None = None  # GloVe / word2vec / fastText text file
    vectors_max: int = 200_000
    freeze_vectors: bool = False
    dropout: float = 0.5
    locked_dropout: bool = False  # one dropout mask per sentence instead of per token
    # Contextual character-LM embeddings: "FWD_DIR,BWD_DIR", two `tagger lm train` models
    # (the second trained with --backward). They are copied into the tagger's model files.
    charlm: str | None = None
    # Or an LM recipe (a name such as "charlm-conll2003", or a .toml): `tagger train` trains its
    # forward and backward LMs the first time and reuses them from the cache afterwards
    # (keyed by the LM recipe's settings and training text), and fills in charlm with them.
    charlm_recipe: str | None = None
    charlm_finetune: bool = False  # train the LMs with the tagger (slower) instead of freezing them
    # Words of document context the char LMs read on each side (beyond data.context_tokens, which
    # they always read): -1 the whole document, 0 only the encoder's input.
    charlm_context: int = 0


@dataclass
class EncoderConfig:
    cell: str = "lstm"  # rnn | gru | lstm
    hidden: int = 256  # units per direction
    layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.5  # between stacked layers and on the encoder output
    locked_dropout: bool = False


@dataclass
class HeadConfig:
    task: str = "ner"
    kind: str = "crf"  # crf | softmax (a label per token) | classify (a label per sentence)
    span: bool = True  # BIO span labels: constrained decoding and seqeval scoring (token heads only)
    pooling: str = "mean"  # classify: mean | max | last | attention
    attention_dim: int = 128  # classify with attention pooling: size of the scoring layer
    multi_label: bool = False  # classify: any number of labels per sentence (sigmoid) instead of one (softmax)
    threshold: float = 0.5  # classify, multi_label: the probability above which a label is predicted
    weight: float = 1.0  # this head's share of a multitask loss (sum of weight * head loss)
    # span heads: none | vote | vote+propagate: mentions made consistent within each
    # document after decoding (tagger.consistency); dev scores and predictions alike.
    doc_consistency: str = "none"


# Head kinds that label whole sentences (the others label each word). Data readers and
# batching need this before any model exists; tests check it against the head classes.
SENTENCE_HEAD_KINDS = frozenset({"classify"})


def is_sentence_head(head: HeadConfig) -> bool:
    """A head with labels per sentence (a classifier), not per word."""
    return head.kind in SENTENCE_HEAD_KINDS


@dataclass
class TrainConfig:
    optimizer: str = "adam"  # adam | adamw | nadam | sgd | adagrad (registry.optimizers)
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "plateau"  # constant | plateau | linear | exponential
    lr_decay: float = 0.5
    schedule_patience: int = 2
    batch_size: int = 32
    eval_batch_size: int = 256
    max_epochs: int = 50
    patience: int = 6
    max_minutes: float | None = None  # checked after every batch: the run stops, scored and saved, when it is spent
    eval_every: int = 0  # also score dev every N batches within an epoch (0: at epoch ends only)
    monitor: str | None = None  # task whose dev score picks the best epoch; None = mean over tasks
    clip: float = 5.0
    # > 0: an exponential moving average of the weights with this decay (e.g. 0.998: about the
    # last 500 steps) is what dev scores, and what the best model saves (Polyak averaging;
    # the training weights go on unaveraged). 0: off.
    average: float = 0.0
    fused: bool = False  # adam/adamw: one fused optimizer kernel (faster on a CPU with big embeddings; not bit-identical)
    seed: int = 1
    device: str = "auto"
    threads: int | None = None


@dataclass
class DistillConfig:
    # A trained model directory (one model, or a `tagger ensemble` of several) whose label
    # distributions on the training sentences the model learns from, beside the gold labels
    # (knowledge distillation): every head's loss is the cross-entropy against
    # weight * teacher + (1 - weight) * gold. The teacher needs the same tasks, head kinds
    # and labels. None: gold labels only.
    teacher: str | None = None
    weight: float = 0.5


@dataclass
class Recipe:
    name: str = "custom"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    heads: list[HeadConfig] = field(default_factory=lambda: [HeadConfig()])
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str = "<recipe>") -> "Recipe":
        return _build(cls, raw, origin, "")


def _check_type(value: Any, hint: Any, origin: str, key: str) -> Any:
    """Accept a TOML/JSON value for a dataclass field, or raise a TaggerError naming it."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, origin, key)
            except TaggerError as err:
                errors.append(err)
        raise errors[0]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
            return value
        raise _field_error(f"'{key}' must be {hint.__name__}, got {value!r}", origin, key)
    raise _field_error(f"'{key}' has an unsupported type", origin, key)


def _field_error(message: str, origin: str, key: str) -> TaggerError:
    """A recipe error about ``key`` (``train.lr``, ``heads[0].kind``); ``load_recipe_dict``
    uses the key to find the line in the recipe file."""
    err = TaggerError(message, origin)
    err.key = key  # type: ignore[attr-defined]
    return err


def raise_first_problem(problems: list[tuple[bool, str, str]], origin: str) -> None:
    """Raise the first ``(bad, key, message)`` whose ``bad`` holds, as a recipe error about
    ``key`` (so ``load_recipe_dict`` can give its line): how every family's recipe checks
    the values that types alone do not rule out."""
    for bad, key, message in problems:
        if bad:
            raise _field_error(message, origin, key)


_TABLE = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(#.*)?")
_KEY = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*=")


def _line_of(text: str, key: str | None) -> int | None:
    """Best effort: the 1-based line of a recipe key (``train.lr``, ``heads[1].kind``,
    or a table name) in TOML text; None when it cannot be told (inline tables, quoted keys)."""
    if not key:
        return None
    table = ""
    arrays: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        header = _TABLE.fullmatch(line)
        if header:
            name = header.group(2)
            if header.group(1) == "[[":
                arrays[name] = arrays.get(name, -1) + 1
                name = f"{name}[{arrays[name]}]"
            table = name
            if key in (table, table.split("[")[0]):
                return lineno
            continue
        match = _KEY.match(line)
        if match:
            full = f"{table}.{match.group(1)}" if table else match.group(1)
            if full == key or key.startswith(full + "."):
                return lineno
    return None


def _build(cls: type, raw: Any, origin: str, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise _field_error(f"'{prefix.rstrip('.') or 'recipe'}' must be a table", origin, prefix.rstrip("."))
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise _field_error(
            f"unknown field '{prefix}{unknown[0]}' (known: {', '.join(sorted(names))})", origin, prefix + unknown[0]
        )
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        key = prefix + name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, origin, key + ".")
        elif typing.get_origin(hint) is list:
            (item,) = typing.get_args(hint)
            if not isinstance(value, list) or not value:
                raise _field_error(f"'{key}' must be a non-empty list", origin, key)
            kwargs[name] = [_build(item, v, origin, f"{key}[{i}].") for i, v in enumerate(value)]
        else:
            kwargs[name] = _check_type(value, hint, origin, key)
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``encoder.hidden=128`` -> (["encoder","hidden"], 128); values parse as TOML scalars."""
    if "=" not in text:
        raise TaggerError(f"override '{text}' must look like section.field=value")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word such as gru or /path/to/file
    return key.strip().split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set nested keys in a raw recipe dict; ``heads.0.kind=softmax`` indexes lists."""
    raw = json.loads(json.dumps(raw))
    for text in overrides:
        path, value = parse_override(text)
        node: Any = raw
        for part in path[:-1]:
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise TaggerError(f"override '{text}': no list item {part}")
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise TaggerError(f"override '{text}': '{part}' is a value, not a section")
        last = path[-1]
        if isinstance(node, list):
            raise TaggerError(f"override '{text}' must name a field inside the list item")
        node[last] = value
    return raw


def recipes_dir() -> Path:
    """Recipes ship inside the wheel as ``tagger/_recipes``; a source checkout has ``recipes/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_recipes", here.parent / "recipes"):
        if candidate.is_dir():
            return candidate
    raise TaggerError("recipe folder not found; reinstall tagger")


def available_recipes() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.toml"))


def read_recipe_toml(path: Path) -> tuple[dict[str, Any], str]:
    """A recipe file's table and its text (for finding a key's line), or a one-line error
    with the line of a TOML mistake. Every model family's recipes are read through this."""
    text = read_text(path, "recipe file")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        at = re.search(r"\(at line (\d+), column \d+\)", str(err))
        raise TaggerError(f"not a valid TOML recipe: {err}", path, int(at.group(1)) if at else None) from None
    return raw, text


def load_recipe_dict(name_or_path: str, recipe_class: Any = None) -> tuple[dict[str, Any], str]:
    """The raw recipe and where it came from: a named recipe or a path to a TOML file,
    checked as a ``recipe_class`` (the tagger's :class:`Recipe` unless another family's)."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.exists()):
        path = recipes_dir() / f"{name_or_path}.toml"
        if not path.exists():
            raise TaggerError(
                f"unknown recipe '{name_or_path}' (named recipes: {', '.join(available_recipes())};"
                " or give a path to a .toml file)"
            )
    raw, text = read_recipe_toml(path)
    raw.setdefault("name", path.stem)
    try:  # check the file on its own first, so its mistakes are reported with their line
        (recipe_class or Recipe).from_dict(raw, str(path))
    except TaggerError as err:
        err.line = _line_of(text, getattr(err, "key", None))
        raise
    return raw, str(path)


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> Recipe:
    raw, origin = load_recipe_dict(name_or_path)
    return Recipe.from_dict(apply_overrides(raw, overrides or []), origin)
