"""A translation recipe: a TOML file with ``family = "seq2seq"`` that fills these dataclasses.

The ``[train]`` section is the toolkit's own :class:`tagger.config.TrainConfig`;
the best epoch is the one with the highest validation BLEU (lowercased, 13a-tokenized,
the form Multi30k papers report), computed with the ``[decode] eval_beam`` width.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..config import TrainConfig, _build, apply_overrides, load_recipe_dict, raise_first_problem

FAMILY = "seq2seq"
SEQ2SEQ_SOURCES = ("multi30k",)
VOCAB_KINDS = ("bpe", "unigram", "word", "char")
CELLS = ("rnn", "gru", "lstm")
# Kept here (not imported from the model) so a recipe is checked without importing torch.
ATTENTIONS = ("none", "bahdanau", "luong", "dot")
MONITORS = ("bleu", "bleu_cased", "chrf")
DATA_FORMATS = ("auto", "tsv", "jsonl")


@dataclass
class Seq2SeqDataConfig:
    source: str | None = "multi30k"  # a named source; files below, when given, replace it
    data_dir: str | None = None
    source_lang: str = "de"
    target_lang: str = "en"
    # Two aligned plain-text files per split (line N translates line N) ...
    train_src: str | None = None
    train_tgt: str | None = None
    dev_src: str | None = None
    dev_tgt: str | None = None
    # ... or one TSV (two columns) / JSONL (two fields) file per split.
    train: str | None = None
    dev: str | None = None
    format: str = "auto"
    # Training pairs with more subword tokens than this on either side are left out
    # (a few very long pairs would set the padded size of their batch).
    max_train_tokens: int = 100
    # > 0: batches hold about this many target tokens (length-bucketed); else train.batch_size pairs.
    batch_tokens: int = 0


@dataclass
class VocabConfig:
    kind: str = "bpe"  # bpe | unigram (SentencePiece) | word | char
    size: int = 8000  # subword vocabulary size (per side, or of the shared one)
    shared: bool = False  # one vocabulary learned on both languages
    min_freq: int = 1  # word level: rarer words become <unk>
    lowercase: bool = False


@dataclass
class Seq2SeqModelConfig:
    cell: str = "gru"  # rnn | gru | lstm, for the encoder and the decoder
    embed_dim: int = 256
    hidden: int = 256  # encoder state per direction (bidirectional: 2 * hidden per source token)
    layers: int = 1  # encoder layers
    dec_hidden: int = 512
    dec_layers: int = 1
    attention: str = "bahdanau"  # none | bahdanau (MLP) | luong (bilinear) | dot
    attention_dim: int = 256  # the hidden size of the bahdanau MLP
    input_feeding: bool = True  # the previous attentional state is part of the next input
    tie_embeddings: bool = False  # the output layer shares the target embeddings
    dropout: float = 0.3
    label_smoothing: float = 0.1
    # Scheduled sampling (input feeding only): this share of training steps reads the
    # model's own previous prediction instead of the reference token.
    scheduled_sampling: float = 0.0


@dataclass
class DecodeConfig:
    beam: int = 5
    length_penalty: float = 1.0  # hypotheses ranked by score / length ** length_penalty
    max_len_a: float = 1.5  # at most max_len_a * source tokens + max_len_b target tokens ...
    max_len_b: int = 10
    max_len: int = 256  # ... and never more than this
    eval_beam: int = 1  # beam width for the validation BLEU during training (1 = greedy: fast)


@dataclass
class Seq2SeqRecipe:
    family: str = FAMILY
    name: str = "seq2seq"
    description: str = ""
    data: Seq2SeqDataConfig = field(default_factory=Seq2SeqDataConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    model: Seq2SeqModelConfig = field(default_factory=Seq2SeqModelConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(monitor="bleu"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str = "<recipe>") -> Seq2SeqRecipe:
        raw = dict(raw)
        raw.setdefault("train", {})
        if isinstance(raw["train"], dict):
            raw["train"] = {"monitor": "bleu", **raw["train"]}
        recipe = _build(cls, raw, origin, "")
        recipe.check(origin)
        return recipe

    def check(self, origin: str) -> None:
        """Values the types alone do not rule out, refused before any data is read."""
        m, d, v, data = self.model, self.decode, self.vocab, self.data
        problems = [
            (self.family != FAMILY, "family", f"a translation recipe has family = \"{FAMILY}\", got '{self.family}'"),
            (m.cell not in CELLS, "model.cell", f"unknown cell '{m.cell}' (choose: {', '.join(CELLS)})"),
            (m.attention not in ATTENTIONS, "model.attention",
             f"unknown attention '{m.attention}' (choose: {', '.join(ATTENTIONS)})"),
            (m.attention == "dot" and m.dec_hidden != 2 * m.hidden, "model.dec_hidden",
             "dot attention compares decoder and encoder states directly: model.dec_hidden must be 2 * model.hidden"),
            (min(m.embed_dim, m.hidden, m.layers, m.dec_hidden, m.dec_layers, m.attention_dim) < 1, "model.hidden",
             "model sizes and layer counts must be positive"),
            (not 0 <= m.dropout < 1, "model.dropout", "model.dropout must be in [0, 1)"),
            (not 0 <= m.label_smoothing < 1, "model.label_smoothing", "model.label_smoothing must be in [0, 1)"),
            (not 0 <= m.scheduled_sampling < 1, "model.scheduled_sampling", "model.scheduled_sampling must be in [0, 1)"),
            (m.scheduled_sampling > 0 and not m.input_feeding, "model.scheduled_sampling",
             "scheduled sampling needs model.input_feeding = true (the decoder then runs step by step)"),
            (v.kind not in VOCAB_KINDS, "vocab.kind", f"unknown vocabulary kind '{v.kind}' (choose: {', '.join(VOCAB_KINDS)})"),
            (v.size < 8, "vocab.size", "vocab.size must be at least 8"),
            (d.beam < 1 or d.eval_beam < 1, "decode.beam", "beam widths must be at least 1"),
            (d.max_len < 1 or d.max_len_a < 0, "decode.max_len", "decode.max_len must be positive and max_len_a >= 0"),
            (self.train.monitor not in MONITORS, "train.monitor",
             f"unknown monitor '{self.train.monitor}' (choose: {', '.join(MONITORS)})"),
            (data.source not in (None, "", *SEQ2SEQ_SOURCES), "data.source",
             f"unknown translation source '{data.source}' (choose: {', '.join(SEQ2SEQ_SOURCES)}, or data.source = \"\" "
             "with data.train_src/train_tgt/dev_src/dev_tgt or data.train/dev files)"),
            (data.format not in DATA_FORMATS, "data.format", f"data.format must be one of {', '.join(DATA_FORMATS)}"),
            (data.source_lang == data.target_lang, "data.target_lang", "data.source_lang and data.target_lang must differ"),
            (data.max_train_tokens < 1, "data.max_train_tokens", "data.max_train_tokens must be positive"),
            (not 0 <= self.train.average < 1, "train.average", "train.average (a decay) must be in [0, 1)"),
        ]
        raise_first_problem(problems, origin)


def load_seq2seq_recipe(name_or_path: str, overrides: list[str] | None = None) -> Seq2SeqRecipe:
    """A named recipe or a TOML file, with ``--set`` overrides applied; a mistake in
    the file itself is reported with its line."""
    raw, origin = load_recipe_dict(name_or_path, Seq2SeqRecipe)
    return Seq2SeqRecipe.from_dict(apply_overrides(raw, overrides or []), origin)
