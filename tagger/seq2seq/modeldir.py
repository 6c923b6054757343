"""A translation model directory: ``config.json`` (``"family": "seq2seq"`` and the
recipe), ``vocab.json`` (both vocabularies; a SentencePiece model as its base64
protobuf), ``model.safetensors``, and, for subword vocabularies, the SentencePiece
models as plain ``source.spm.model`` / ``target.spm.model`` files for other tools
(loading reads ``vocab.json``). JSON, protobuf and safetensors only: nothing unpickled."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes

from ..errors import TaggerError
from ..files import (
    WEIGHTS_FILE,
    atomic_write,
    atomic_write_text,
    check_weights,
    read_json_object,
    read_weights,
    resolve_dir,
    unshared,
)
from .config import FAMILY, Seq2SeqRecipe
from .model import Seq2Seq, upgrade_weights
from .subword import Subwords, vocab_from_json

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
FORMAT_VERSION = 1


def model_parts(recipe: Seq2SeqRecipe, src_vocab: Subwords, tgt_vocab: Subwords) -> tuple[dict, str]:
    """``config.json`` and ``vocab.json`` contents (also what a checkpoint stores)."""
    config = {"family": FAMILY, "format_version": FORMAT_VERSION, "recipe": recipe.to_dict(),
              "source_vocab_size": len(src_vocab), "target_vocab_size": len(tgt_vocab)}
    shared = src_vocab is tgt_vocab
    vocab = {"shared": shared, "source": src_vocab.to_json(), "target": None if shared else tgt_vocab.to_json()}
    return config, json.dumps(vocab, ensure_ascii=False)


def save_model(directory: Path, model: Seq2Seq, recipe: Seq2SeqRecipe, src_vocab: Subwords, tgt_vocab: Subwords) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config, vocab_json = model_parts(recipe, src_vocab, tgt_vocab)
    weights = unshared({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    # Bytes through atomic_write's temporary file: the usual mode (0644), never a half-written file.
    data = safetensors_bytes(weights, metadata={"format": "pt"})
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: Path(tmp).write_bytes(data))
    atomic_write_text(directory / VOCAB_FILE, vocab_json)
    for side, vocab in (("source", src_vocab), ("target", tgt_vocab)):
        raw = vocab.to_json()
        if "model" in raw:
            proto = base64.b64decode(raw["model"])
            atomic_write(directory / f"{side}.spm.model", lambda tmp, proto=proto: Path(tmp).write_bytes(proto))
    atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=2))
    return directory


def model_from_parts(config: dict, vocab_json: str, weights: dict | None,
                     origin: Path) -> tuple[Seq2Seq, Seq2SeqRecipe, Subwords, Subwords]:
    """The model, its recipe and vocabularies from the files' contents, checked to agree."""
    if config.get("family") != FAMILY or config.get("format_version") != FORMAT_VERSION or "recipe" not in config:
        what = f"a {config['family']} model" if isinstance(config.get("family"), str) else "not a translation model"
        raise TaggerError(f"{what}, not a translation (seq2seq) model of format {FORMAT_VERSION}", origin / CONFIG_FILE)
    recipe = Seq2SeqRecipe.from_dict(config["recipe"], str(origin / CONFIG_FILE))
    try:
        raw = json.loads(vocab_json)
        src_vocab = vocab_from_json(raw["source"], str(origin / VOCAB_FILE))
        tgt_vocab = src_vocab if raw.get("shared") else vocab_from_json(raw["target"], str(origin / VOCAB_FILE))
    except (KeyError, TypeError, ValueError) as err:
        raise TaggerError(f"malformed vocabulary ({err})", origin / VOCAB_FILE) from None
    model = Seq2Seq(recipe.model, len(src_vocab), len(tgt_vocab))
    if weights is not None:
        weights = upgrade_weights(weights)
        check_weights(model.state_dict(), weights, "the model's config.json", origin / WEIGHTS_FILE)
        model.load_state_dict(weights)
    return model, recipe, src_vocab, tgt_vocab


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Seq2Seq, Seq2SeqRecipe, Subwords, Subwords]:
    directory = resolve_dir(path, (CONFIG_FILE, VOCAB_FILE))
    config = read_json_object(directory / CONFIG_FILE)
    if config.get("family") != FAMILY:
        kind = config.get("family") or "sequence tagger"
        raise TaggerError(f"this is a {kind} model directory, not a translation (seq2seq) model", directory)
    vocab_json = (directory / VOCAB_FILE).read_text(encoding="utf-8")
    model, recipe, src, tgt = model_from_parts(config, vocab_json, read_weights(directory / WEIGHTS_FILE), directory)
    return model.to(device).eval(), recipe, src, tgt
