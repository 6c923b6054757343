"""The tagger's model directory, the one owner of its format.

``config.json`` holds ``format_version`` and the recipe, ``vocab.json`` the string-to-id
tables (:class:`Vocabs`), ``model.safetensors`` the weights: JSON and tensors only, never
a pickle, each written atomically. Every reader goes through here: loading a model
(``tagger.model``), and what ``map_predict`` and ``tagger serve`` tell about a model
(:func:`model_info`, :func:`read_model_info`) without building it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from safetensors.torch import save_file
from torch import Tensor

from .config import Recipe
from .consistency import DOC_CONSISTENCY
from .errors import TaggerError
from .files import WEIGHTS_FILE, atomic_write, atomic_write_text, read_json_object, read_weights, resolve_dir
from .modelinfo import ModelInfo, TaskInfo
from .textfile import read_text
from .vocab import PAD, Vocab, casing, word_key

FORMAT_VERSION = 1
CONFIG_FILE, VOCAB_FILE = "config.json", "vocab.json"


@dataclass
class Vocabs:
    """Every string-to-id table a model needs, saved beside its weights as JSON."""

    words: Vocab
    chars: Vocab
    labels: dict[str, Vocab]
    lowercase: bool = True
    normalize_digits: bool = True
    max_word_len: int = 30
    # Sentence-level tasks (classify heads): their label sets have no <pad> entry.
    sentence_tasks: list[str] = field(default_factory=list)
    multi_label_tasks: list[str] = field(default_factory=list)
    # Contextual char-LM embeddings: direction -> the LM's description (config and
    # character vocabulary, as in its lm.json); the weights live with the tagger's.
    charlm: dict[str, dict] = field(default_factory=dict)

    # word -> (word id, casing id, char ids): words repeat, so each spelling is looked up once.
    _features: dict[str, tuple[int, int, list[int]]] = field(default_factory=dict, repr=False, compare=False)
    _charlm_vocabs: dict[str, tuple[Vocab, bool]] = field(default_factory=dict, repr=False, compare=False)

    def key(self, word: str) -> str:
        return word_key(word, self.lowercase, self.normalize_digits)

    def features(self, word: str) -> tuple[int, int, list[int]]:
        found = self._features.get(word)
        if found is None:
            chars = self.chars.ids(word[: self.max_word_len]) or [self.chars.unk_id]
            found = (self.words.id(self.key(word)), casing(word), chars)
            # Bounded (100,000 spellings of at most 64 characters, about 25 MB): a stream of novel
            # or very long words (a server's hostile input) must not grow memory.
            if len(self._features) < 100_000 and len(word) <= 64:
                self._features[word] = found
        return found

    def to_json(self) -> str:
        return json.dumps(
            {
                "words": self.words.itos,
                "chars": self.chars.itos,
                "labels": {task: v.itos for task, v in self.labels.items()},
                "lowercase": self.lowercase,
                "normalize_digits": self.normalize_digits,
                "max_word_len": self.max_word_len,
                "sentence_tasks": self.sentence_tasks,
                "multi_label_tasks": self.multi_label_tasks,
                **({"charlm": self.charlm} if self.charlm else {}),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> "Vocabs":
        raw = json.loads(text)
        return cls(
            words=Vocab(raw["words"]),
            chars=Vocab(raw["chars"]),
            labels={task: Vocab(itos) for task, itos in raw["labels"].items()},
            lowercase=raw["lowercase"],
            normalize_digits=raw["normalize_digits"],
            max_word_len=raw["max_word_len"],
            sentence_tasks=list(raw.get("sentence_tasks", [])),  # absent from older models
            multi_label_tasks=list(raw.get("multi_label_tasks", [])),
            charlm=dict(raw.get("charlm", {})),
        )

    def charlm_vocab(self, direction: str) -> tuple[Vocab, bool]:
        """(character vocabulary, reads right to left) of the char LM for ``direction``."""
        cached = self._charlm_vocabs.get(direction)
        if cached is None:
            desc = self.charlm[direction]
            cached = self._charlm_vocabs[direction] = (Vocab(desc["vocab"]), bool(desc["config"].get("reverse")))
        return cached


# -- the three files --------------------------------------------------------------


def resolve_model_dir(path: str | Path) -> Path:
    """Accept a model directory or a training run directory (whose best model is ``best/``)."""
    return resolve_dir(path, (CONFIG_FILE, VOCAB_FILE))


def write_parts(directory: str | Path, config: dict, vocab_json: str, weights: dict[str, Tensor]) -> Path:
    """Write a model directory's three files (weights first: a directory whose
    ``config.json`` exists is complete)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(weights, tmp, metadata={"format": "pt"}))
    atomic_write_text(directory / VOCAB_FILE, vocab_json)
    atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=2))
    return directory


def read_parts(path: str | Path, weights: bool = True) -> tuple[Path, dict, str, dict[str, Tensor] | None]:
    """(the directory, ``config.json`` as a dict, ``vocab.json``'s text, the weights or
    None without ``weights``) of a model or run directory."""
    directory = resolve_model_dir(path)
    config = read_json_object(directory / CONFIG_FILE)
    vocab_json = read_text(directory / VOCAB_FILE)
    return directory, config, vocab_json, read_weights(directory / WEIGHTS_FILE) if weights else None


def config_parts(config: dict, vocab_json: str, origin: str | Path = "<model>") -> tuple[Recipe, Vocabs]:
    """The recipe and the vocabularies of a model directory's files, checked."""
    origin = Path(origin)
    if config.get("format_version") != FORMAT_VERSION or "recipe" not in config:
        raise TaggerError(f"unsupported model format (expected format_version {FORMAT_VERSION})", origin / CONFIG_FILE)
    recipe = checked_recipe(config["recipe"], origin / CONFIG_FILE)
    try:
        vocabs = Vocabs.from_json(vocab_json)
    except (KeyError, TypeError, ValueError) as err:
        raise TaggerError(f"malformed vocabulary ({err})", origin / VOCAB_FILE) from None
    return recipe, vocabs


def checked_recipe(raw: object, origin: Path, where: str = "") -> Recipe:
    """A stored recipe (``config.json``'s, or an ensemble member's: ``where``), with the
    fields prediction reads without building anything checked."""
    if not isinstance(raw, dict):
        raise TaggerError(f"{where or 'recipe'} is not a JSON object", origin)
    recipe = Recipe.from_dict(raw, f"{origin}{f' ({where})' if where else ''}")
    for i, head in enumerate(recipe.heads):
        if head.doc_consistency not in DOC_CONSISTENCY:
            raise TaggerError(f"{where + ': ' if where else ''}heads[{i}].doc_consistency is {head.doc_consistency!r}; "
                              f"expected one of: {', '.join(DOC_CONSISTENCY)}", origin)
    return recipe


def config_dict(recipe: Recipe) -> dict:
    """``config.json``'s contents for a model built from ``recipe``."""
    return {"format_version": FORMAT_VERSION, "recipe": recipe.to_dict()}


# -- what a model does, without building it ---------------------------------------


def model_info(recipe: Recipe, vocabs: Vocabs, directory: Path | None = None) -> ModelInfo:
    """The tasks (one per head, in order) and tokenizer of a model with this recipe and
    these vocabularies; a task is a sentence task when ``vocab.json`` lists it as one."""
    tasks = []
    for head in recipe.heads:
        sentence = head.task in vocabs.sentence_tasks
        tasks.append(TaskInfo(
            name=head.task, kind=head.kind, level="sentence" if sentence else "token",
            span=bool(head.span and not sentence), multi_label=bool(sentence and head.multi_label),
            attention=sentence and head.pooling == "attention",
            labels=[label for label in vocabs.labels[head.task].itos if label != PAD],
        ))
    return ModelInfo(tasks, recipe.data.tokenizer, directory)


def read_model_info(path: str | Path) -> ModelInfo:
    """:func:`model_info` of a model or run directory, read from its JSON files alone."""
    directory, config, vocab_json, _ = read_parts(path, weights=False)
    recipe, vocabs = config_parts(config, vocab_json, directory)
    try:
        return model_info(recipe, vocabs, directory)
    except KeyError as err:
        raise TaggerError(f"config.json and vocab.json do not agree (no labels for task {err})", directory) from None
