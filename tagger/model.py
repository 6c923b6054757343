"""The tagger network (embedder -> encoder -> one head per task), built from a recipe.

Its model directory (``config.json``, ``vocab.json``, ``model.safetensors``) is
``tagger.modeldir``'s format; here the three files' contents become a model and back.
"""
from __future__ import annotations

import dataclasses
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
    checked_recipe,
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
        self.soft_weight = float(recipe.distill.weight)  # the teacher's share, when a batch has its targets

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
        states, mask, soft = self.states(batch), batch.head_mask, batch.soft or {}
        return sum(
            self.loss_weights[task] * head.loss(states, batch.labels[task], mask, soft.get(task), self.soft_weight)
            for task, head in self.heads.items()
        )

    def soft_targets(self, batch: Batch) -> dict[str, tuple[Tensor, ...]]:
        """Per task, the label distributions a student learns from (each head's ``soft_targets``)."""
        states, mask = self.states(batch), batch.head_mask
        return {task: head.soft_targets([head], [states], mask) for task, head in self.heads.items()}

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


class EnsembleTagger(nn.Module):
    """Several taggers of one training data, run as one: each task's scores are averaged
    (:meth:`decode_mean` of its heads: for a CRF, Viterbi over the mean emissions and
    transitions, the path with the highest product of the models' probabilities).

    The members share one vocabulary (``vocab.json``), so one batch feeds them all, and
    their tasks, labels and document context must be the same; frozen char LMs that are
    the same weights in every member (one LM pair trained once, as the recipes do) run
    once per batch. ``recipe`` is the first member's, with the ensemble's own
    ``heads.N.doc_consistency``. Prediction only: an ensemble is not trained further.
    """

    def __init__(self, members: list[SequenceTagger], recipe: Recipe | None = None):
        super().__init__()
        if not members:
            raise TaggerError("an ensemble needs at least one model")
        _check_members(members)
        self.members = nn.ModuleList(members)
        self.recipe = recipe or members[0].recipe
        self.vocabs = members[0].vocabs
        self.shared_lms = self.lms_are_shared()

    def lms_are_shared(self) -> bool:
        """Whether every member's char LMs are frozen and the same weights as the first's
        (checked again once loaded weights replace the built ones)."""
        members = list(self.members)
        if any(m.recipe.embed.charlm_finetune or m.embedder.charlm is None for m in members):
            return False
        first = members[0].embedder.charlm.state_dict()
        return all(
            set(sd) == set(first) and all(torch.equal(sd[k], first[k]) for k in first)
            for sd in (m.embedder.charlm.state_dict() for m in members[1:])
        )

    @property
    def heads(self) -> nn.ModuleDict:
        return self.members[0].heads

    @property
    def tasks(self) -> list[str]:
        return self.members[0].tasks

    @property
    def sentence_tasks(self) -> list[str]:
        return self.members[0].sentence_tasks

    def member_states(self, batch: Batch) -> list[Tensor]:
        if self.shared_lms and batch.lm_feats is None:
            batch = dataclasses.replace(batch, lm_feats=self.members[0].charlm_features(batch))
        return [member.states(batch) for member in self.members]

    def decode(self, batch: Batch) -> dict[str, Tensor]:
        states, mask = self.member_states(batch), batch.head_mask
        return {task: head.decode_mean([m.heads[task] for m in self.members], states, mask)
                for task, head in self.heads.items()}

    def soft_targets(self, batch: Batch) -> dict[str, tuple[Tensor, ...]]:
        """Per task, the distribution the ensemble decodes, for a student to learn from."""
        states, mask = self.member_states(batch), batch.head_mask
        return {task: head.soft_targets([m.heads[task] for m in self.members], states, mask)
                for task, head in self.heads.items()}

    def attention(self, batch: Batch, task: str) -> tuple[Tensor, Tensor]:
        """The mean class probabilities [B, C] and the mean attention weights [B, T]."""
        states, mask = self.member_states(batch), batch.head_mask
        heads = [m.heads[task] for m in self.members]
        weights = torch.stack([h.attention(s, mask) for h, s in zip(heads, states)]).mean(0)
        return heads[0].decode_mean(heads, states, mask), weights

    def loss(self, batch: Batch) -> Tensor:
        raise TaggerError("an ensemble predicts; train its members (tagger train), then tagger ensemble")

    def save(self, directory: str | Path) -> Path:
        return write_parts(directory, *model_parts(self))


def _check_members(members: list[SequenceTagger]) -> None:
    """One line naming the first way a member differs from the first one."""
    first = members[0]
    vocab_json = first.vocabs.to_json()
    for i, member in enumerate(members[1:], 2):
        data, other = member.recipe.data, first.recipe.data
        problem = (
            "is not a tagger" if not isinstance(member, SequenceTagger) else
            "has other vocabularies (members must be trained on the same data)" if member.vocabs.to_json() != vocab_json else
            "has other tasks or head kinds" if [(h.task, h.kind, h.span) for h in member.recipe.heads]
            != [(h.task, h.kind, h.span) for h in first.recipe.heads] else
            "reads other document context" if (data.context_tokens, member.recipe.embed.charlm_context)
            != (other.context_tokens, first.recipe.embed.charlm_context) else ""
        )
        if problem:
            raise TaggerError(f"ensemble member {i} {problem} than member 1")


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
        if "members" in config:  # tagger ensemble: each member's recipe, one vocabulary
            if not isinstance(config["members"], list) or not config["members"]:
                raise TaggerError("members is not a list of recipes", origin / CONFIG_FILE)
            members = [SequenceTagger(checked_recipe(raw, origin / CONFIG_FILE, f"members[{i}]"), vocabs)
                       for i, raw in enumerate(config["members"])]
            model = EnsembleTagger(members, recipe)
        else:
            model = SequenceTagger(recipe, vocabs)
    except (KeyError, ValueError) as err:
        raise TaggerError(f"config.json and vocab.json do not agree ({err})", origin) from None
    check_weights(model.state_dict(), weights, "config.json", origin / WEIGHTS_FILE)
    model.load_state_dict(weights)
    if isinstance(model, EnsembleTagger):
        model.shared_lms = model.lms_are_shared()
    return model.eval()


def build_ensemble(paths: list[str | Path], device: str | torch.device = "cpu") -> EnsembleTagger:
    """The models at ``paths`` (an ensemble's members count one by one) as one ensemble,
    with a copy of the first one's recipe."""
    import copy

    members: list[SequenceTagger] = []
    for path in paths:
        model = load_model(path, device)
        members.extend(model.members if isinstance(model, EnsembleTagger) else [model])
    return EnsembleTagger(members, copy.deepcopy(members[0].recipe)).eval()


def model_parts(model: SequenceTagger | EnsembleTagger) -> tuple[dict, str, dict[str, Tensor]]:
    """The contents of a model directory's three files, for in-memory serialisation."""
    config = config_dict(model.recipe)
    if isinstance(model, EnsembleTagger):
        config["members"] = [member.recipe.to_dict() for member in model.members]
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
