"""The tagger network (embedder -> encoder -> one head per task), built from a recipe.

Its model directory (``config.json``, ``vocab.json``, ``model.safetensors``) is
``tagger.modeldir``'s format; here the three files' contents become a model and back.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from .batching import Batch
from .config import EmbedConfig, EncoderConfig, HeadConfig, Recipe
from .errors import TaggerError
from .files import WEIGHTS_FILE, check_weights, unshared
from .lm.config import LMModelConfig
from .lm.model import LanguageModel
from .modeldir import (  # noqa: F401  (the format's names are re-exported: callers import them from here)
    CONFIG_FILE,
    FORMAT_VERSION,
    VOCAB_FILE,
    Vocabs,
    config_dict,
    config_parts,
    read_parts,
    resolve_model_dir,
    write_parts,
)
from .nn.charlm import DIRECTIONS, CharLMEmbedding
from .nn.embed import Embedder
from .nn.encode import Encoder
from .nn.heads import HEADS
from .vocab import Vocab


class SequenceTagger(nn.Module):
    """Embedder -> encoder -> one head per task, built from a recipe by the builders
    below, the only code that reads the recipe's ``embed``, ``encoder`` and ``heads``
    (the ``nn`` modules take plain sizes and names, as spaCy's ``build_tagger_model``)."""

    def __init__(self, recipe: Recipe, vocabs: Vocabs):
        super().__init__()
        self.recipe = recipe
        self.vocabs = vocabs
        try:
            self.embedder = build_embedder(recipe.embed, vocabs)
            self.encoder = build_encoder(recipe.encoder, self.embedder.out_dim)
        except ValueError as err:  # a recipe value the modules cannot use
            raise TaggerError(f"invalid recipe: {err}") from None
        self.heads = nn.ModuleDict({head.task: build_head(head, recipe.encoder, self.encoder.out_dim, vocabs)
                                    for head in recipe.heads})
        # Auxiliary tasks with large losses (a softmax over 45 POS tags) can crowd out the
        # main task's gradient in the shared encoder; per-head weights rebalance them.
        self.loss_weights = {head.task: float(head.weight) for head in recipe.heads}

    def charlm_features(self, batch: Batch) -> Tensor:
        """[B, T, D]: the char-LM embeddings of a batch (for caching frozen ones)."""
        return self.embedder.charlm(batch.lm, batch.mask, batch.lm_rows)

    @property
    def tasks(self) -> list[str]:
        return list(self.heads)

    @property
    def sentence_tasks(self) -> list[str]:
        """Tasks with a label per sentence (classify heads), in head order."""
        return [t for t, h in self.heads.items() if getattr(h, "level", "token") == "sentence"]

    def states(self, batch: Batch) -> Tensor:
        """[B, T', D]: the encoder's states at each sentence's own words (with document
        context, the context words are encoded and then left out; ``batch.head_mask``)."""
        x = self.embedder(batch.words, batch.casing, batch.chars, batch.mask, batch.lm, batch.lm_feats, batch.lm_rows)
        states = self.encoder(x, batch.lengths)
        if batch.offsets is None:
            return states
        return own_states(states, batch.offsets, batch.head_mask)

    def loss(self, batch: Batch) -> Tensor:
        states, mask = self.states(batch), batch.head_mask
        return sum(
            self.loss_weights[task] * head.loss(states, batch.labels[task], mask)
            for task, head in self.heads.items()
        )

    def decode(self, batch: Batch) -> dict[str, Tensor]:
        """Per task: label ids [B, T] for token heads, class probabilities [B, C] for sentence heads."""
        states, mask = self.states(batch), batch.head_mask
        return {task: head.decode(states, mask) for task, head in self.heads.items()}

    def attention(self, batch: Batch, task: str) -> tuple[Tensor, Tensor]:
        """Class probabilities [B, C] and attention weights [B, T] of an attention-pooling head."""
        states, mask = self.states(batch), batch.head_mask
        head = self.heads[task]
        return head.decode(states, mask), head.attention(states, mask)

    # -- model directory -------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        return write_parts(directory, *model_parts(self))


def own_states(states: Tensor, offsets: Tensor, mask: Tensor) -> Tensor:
    """[B, T', D]: row b's states from ``offsets[b]`` on, zero where ``mask`` [B, T'] is False."""
    steps = offsets[:, None] + torch.arange(mask.shape[1], device=states.device)[None, :]
    index = steps.clamp(max=states.shape[1] - 1)[:, :, None].expand(-1, -1, states.shape[2])
    return states.gather(1, index) * mask[:, :, None].to(states.dtype)


# -- builders: recipe sections -> nn modules with plain arguments -----------------


def build_embedder(embed: EmbedConfig, vocabs: Vocabs) -> Embedder:
    return Embedder(
        len(vocabs.words), embed.word_dim, len(vocabs.chars), casing_dim=embed.casing_dim,
        char_encoder=embed.char_encoder, char_dim=embed.char_dim, char_hidden=embed.char_hidden,
        char_kernel=embed.char_kernel, charlm=_charlm(embed, vocabs), dropout=embed.dropout,
        locked_dropout=embed.locked_dropout,
    )


def build_encoder(encoder: EncoderConfig, input_size: int) -> Encoder:
    return Encoder(
        input_size, encoder.hidden, num_layers=encoder.layers, bidirectional=encoder.bidirectional,
        dropout=encoder.dropout, cell=encoder.cell, locked_dropout=encoder.locked_dropout,
    )


def build_head(head: HeadConfig, encoder: EncoderConfig, input_size: int, vocabs: Vocabs) -> nn.Module:
    """The head of one task: a token head gets its ``span`` flag, a sentence head (which
    vocab.json must list as such) its pooling over the encoder's directions."""
    if not head.weight >= 0:
        raise TaggerError(f"invalid recipe: head '{head.task}' has weight {head.weight}; it must be >= 0")
    if head.kind not in HEADS:
        raise TaggerError(f"unknown head kind '{head.kind}' (choose: {', '.join(sorted(HEADS))})")
    cls = HEADS[head.kind]
    labels = vocabs.labels[head.task].itos
    try:
        if getattr(cls, "level", "token") != "sentence":
            return cls(input_size, labels, span=head.span)
        head.span = False  # a sentence label is never a BIO span
        if head.task not in vocabs.sentence_tasks:
            raise TaggerError(f"vocab.json does not list '{head.task}' as a sentence task")
        if head.multi_label != (head.task in vocabs.multi_label_tasks):
            raise TaggerError(f"config.json and vocab.json disagree on whether '{head.task}' is multi-label")
        return cls(
            input_size, labels, pooling=head.pooling, hidden=encoder.hidden,
            directions=2 if encoder.bidirectional else 1, multi_label=head.multi_label,
            threshold=head.threshold, attention_dim=head.attention_dim,
        )
    except ValueError as err:
        raise TaggerError(f"invalid recipe: head '{head.task}': {err}") from None


def charlm_embedding(fwd: LanguageModel, bwd: LanguageModel, finetune: bool = False) -> CharLMEmbedding:
    """Contextual string embeddings from a forward and a backward character LM, checked."""
    if fwd.cfg.reverse or not bwd.cfg.reverse:
        raise ValueError("--charlm takes a forward LM, then a backward LM (trained with --backward)")
    if fwd.cfg.level != "char" or bwd.cfg.level != "char":
        raise ValueError("--charlm needs character-level language models")
    return CharLMEmbedding(fwd, bwd, finetune)


def _charlm(embed: EmbedConfig, vocabs: Vocabs) -> CharLMEmbedding | None:
    """The char-LM embedding described in vocab.json (weights are loaded with the tagger's)."""
    if not vocabs.charlm:
        return None
    if set(vocabs.charlm) != set(DIRECTIONS):
        raise ValueError(f"vocab.json's charlm needs both directions {DIRECTIONS}, has {sorted(vocabs.charlm)}")
    lms = {}
    for direction in DIRECTIONS:
        desc = vocabs.charlm[direction]
        lms[direction] = LanguageModel(LMModelConfig.from_stored(dict(desc["config"])), Vocab(list(desc["vocab"])))
    return charlm_embedding(lms["fwd"], lms["bwd"], embed.charlm_finetune)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> SequenceTagger:
    directory, config, vocab_json, weights = read_parts(path)
    return model_from_parts(config, vocab_json, weights, directory).to(device).eval()


def model_from_parts(
    config: dict, vocab_json: str, weights: dict[str, Tensor], origin: str | Path = "<model>"
) -> SequenceTagger:
    """Build a model from the contents of its three files, checking that they agree."""
    origin = Path(origin)
    recipe, vocabs = config_parts(config, vocab_json, origin)
    try:
        model = SequenceTagger(recipe, vocabs)
    except (KeyError, ValueError) as err:
        raise TaggerError(f"config.json and vocab.json do not agree ({err})", origin) from None
    check_weights(model.state_dict(), weights, "config.json", origin / WEIGHTS_FILE)
    model.load_state_dict(weights)
    return model.eval()


def model_parts(model: SequenceTagger) -> tuple[dict, str, dict[str, Tensor]]:
    """The contents of a model directory's three files, for in-memory serialisation."""
    config = config_dict(model.recipe)
    weights = unshared({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    return config, model.vocabs.to_json(), weights


def load_charlms(spec: str) -> dict:
    """The forward and backward char LMs named by ``embed.charlm`` ("FWD_DIR,BWD_DIR"), checked."""
    from .lm.model import load_lm

    paths = [p.strip() for p in spec.split(",") if p.strip()]
    if len(paths) != 2:
        raise TaggerError(f"charlm needs two language models, 'FORWARD_DIR,BACKWARD_DIR'; got '{spec}'")
    lms = {"fwd": load_lm(paths[0]), "bwd": load_lm(paths[1])}
    for (direction, lm), path in zip(lms.items(), paths):
        if lm.cfg.level != "char":
            raise TaggerError("charlm needs character-level language models", path)
        if lm.cfg.reverse != (direction == "bwd"):
            raise TaggerError(
                f"the {'second' if direction == 'bwd' else 'first'} charlm model must be "
                f"{'a backward LM (lm train --backward)' if direction == 'bwd' else 'a forward LM'}", path
            )
    return lms
