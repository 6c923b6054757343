"""From sentences to padded tensors: encoding once, then length-bucketed batches.

Sentences are encoded to id tensors a single time; a batch only pads and stacks
them, so per-token Python work happens once per corpus, not once per epoch.
"""
from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .charlm_text import lm_inputs
from .config import EmbedConfig, HeadConfig, is_sentence_head
from .data import Sentence, document_spans
from .errors import TaggerError
from .modeldir import Vocabs  # the format owns it; still importable from here
from .vocab import PAD, UNK, Vocab, word_key


def _span_label_set(labels: set[str]) -> list[str]:
    # Every entity type gets both its B- and I- label, so the decoder can always
    # continue an entity it began even when the training data never showed it.
    types = sorted({lab[2:] for lab in labels if lab[:2] in ("B-", "I-")})
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def build_vocabs(
    train: Sequence[Sentence],
    heads: Sequence[HeadConfig],
    embed: EmbedConfig,
    extra_label_sources: Sequence[Sequence[Sentence]] = (),
) -> Vocabs:
    """Words and characters come from training data only; the label sets may also
    see the dev data, which only tells us which labels exist."""
    word_counts: Counter[str] = Counter()
    char_counts: Counter[str] = Counter()
    for sent in train:
        for w in sent.words:
            word_counts[word_key(w, embed.lowercase, embed.normalize_digits)] += 1
            char_counts.update(w)
    labels: dict[str, Vocab] = {}
    sentence_tasks: list[str] = []
    for head in heads:
        if is_sentence_head(head):
            labels[head.task] = _sentence_label_vocab(head, (train, *extra_label_sources))
            sentence_tasks.append(head.task)
            continue
        seen: set[str] = set()
        for corpus in (train, *extra_label_sources):
            for sent in corpus:
                if head.task not in sent.tags:
                    raise TaggerError(f"a sentence has no '{head.task}' labels: {' '.join(sent.words[:8])}")
                seen.update(sent.tags[head.task])
        itos = _span_label_set(seen) if head.span else sorted(seen)
        labels[head.task] = Vocab([PAD] + itos)
    return Vocabs(
        words=Vocab.build(word_counts, embed.min_freq),
        chars=Vocab.build(char_counts, 1),
        labels=labels,
        lowercase=embed.lowercase,
        normalize_digits=embed.normalize_digits,
        max_word_len=embed.max_word_len,
        sentence_tasks=sentence_tasks,
        multi_label_tasks=[h.task for h in heads if h.task in sentence_tasks and h.multi_label],
    )


def _sentence_label_vocab(head: HeadConfig, corpora: Sequence[Sequence[Sentence]]) -> Vocab:
    """The sorted labels of a sentence task over train and dev; no <pad> entry."""
    seen: set[str] = set()
    for corpus in corpora:
        for sent in corpus:
            if head.task not in sent.cats:
                raise TaggerError(
                    f"a sentence has no '{head.task}' label: {' '.join(sent.words[:8])}", line=sent.line
                )
            labels = sent.cats[head.task]
            if not head.multi_label and len(labels) != 1:
                raise TaggerError(
                    f"a sentence has {len(labels)} '{head.task}' labels ({', '.join(labels) or 'none'}) but the "
                    f"task is single-label (use --multi-label): {' '.join(sent.words[:8])}",
                    line=sent.line,
                )
            seen.update(labels)
    if not seen:
        raise TaggerError(f"no '{head.task}' labels in the training data")
    return Vocab(sorted(seen))


@dataclass
class Encoded:
    """One sentence as tensors; ``chars`` is [n_words, longest word] padded with 0."""

    words: Tensor
    casing: Tensor
    chars: Tensor
    labels: dict[str, Tensor] = field(default_factory=dict)
    # Sentence tasks: a LongTensor [1] (the class id) or, multi-label, a multi-hot FloatTensor [C].
    cats: dict[str, Tensor] = field(default_factory=dict)
    # Char-LM embeddings: direction -> (char ids [L], read positions [n_words]); and,
    # for frozen LMs during training, their features [n_words, D], computed once.
    lm: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    lm_feats: Tensor | None = None
    # Document context: the inputs start with ``offset`` context words, then the sentence's
    # ``own`` words (the ones labelled and predicted), then context again. ``own`` is None
    # for a sentence encoded alone.
    offset: int = 0
    own: int | None = None
    # Distillation: task -> a teacher's label distribution for this sentence (the head's
    # ``soft_targets``: tensors over its own words, or without a time axis for a sentence task).
    soft: dict[str, tuple[Tensor, ...]] | None = None

    def __len__(self) -> int:
        return self.words.shape[0]


@dataclass
class Context:
    """A sentence's document context: the words the encoder reads before (``left``) and
    after (``right``) it, and the further words only the char LMs read (``lm_left``
    before ``left``, ``lm_right`` after ``right``)."""

    left: list[str] = field(default_factory=list)
    right: list[str] = field(default_factory=list)
    lm_left: list[str] = field(default_factory=list)
    lm_right: list[str] = field(default_factory=list)


def encode(
    sent: Sentence | Sequence[str], vocabs: Vocabs, with_labels: bool = True, context: Context | None = None,
    shared_lm: dict | None = None,
) -> Encoded:
    """A sentence as tensors; with a ``context``, the inputs cover its context words too
    (``offset`` says where the sentence starts) while the labels cover its own words.
    ``shared_lm`` (see :func:`_lm_inputs`) lets sentences that give the char LMs the same
    words share one tensor of their characters."""
    own = sent.words if isinstance(sent, Sentence) else list(sent)
    if not own:
        raise TaggerError("cannot tag an empty sentence")
    ctx = context or Context()
    words = [*ctx.left, *own, *ctx.right]
    word_ids, casing_ids, char_rows = zip(*map(vocabs.features, words))
    lens = torch.tensor([len(r) for r in char_rows])
    # One scatter instead of a tensor per word: this runs for every sentence we tag.
    rows = torch.repeat_interleave(torch.arange(len(words)), lens)
    cols = torch.arange(int(lens.sum())) - torch.repeat_interleave(lens.cumsum(0) - lens, lens)
    chars = torch.zeros(len(words), int(lens.max()), dtype=torch.long)
    chars[rows, cols] = torch.tensor([c for r in char_rows for c in r])
    labels = {}
    if with_labels and isinstance(sent, Sentence):
        for task, vocab in vocabs.labels.items():
            tags = sent.tags.get(task)
            if tags is None:
                continue
            bad = next((i for i, t in enumerate(tags) if t not in vocab), None)
            if bad is not None:
                # The reader's line of the first word, where it knows it; the caller adds the file.
                raise TaggerError(
                    f"unknown {task} label '{tags[bad]}' for the word '{own[bad]}' "
                    f"(the model knows: {', '.join(vocab.itos[1:])})",
                    line=None if sent.line is None else sent.line + bad,
                )
            labels[task] = torch.tensor(vocab.ids(tags))
    cats = _encode_cats(sent, vocabs) if with_labels and isinstance(sent, Sentence) and sent.cats else {}
    return Encoded(
        words=torch.tensor(word_ids),
        casing=torch.tensor(casing_ids),
        chars=chars,
        labels=labels,
        cats=cats,
        lm=_lm_inputs(words, ctx, vocabs, shared_lm),
        offset=len(ctx.left),
        own=len(own) if context is not None else None,
    )


def _lm_inputs(words: list[str], ctx: Context, vocabs: Vocabs,
               shared_lm: dict | None = None) -> dict[str, tuple[Tensor, Tensor]]:
    """Per char-LM direction: the characters of ``words`` with the LM-only context
    around them, and the positions read for ``words`` alone. ``shared_lm`` maps the
    LMs' words to the inputs already built for them: with ``embed.charlm_context = -1``
    every sentence of a document reads the whole document, and its characters are then
    built and held once, not once per sentence (``collate`` runs them through the LMs once)."""
    if not vocabs.charlm:
        return {}
    text = (*ctx.lm_left, *words, *ctx.lm_right)
    full = None if shared_lm is None else shared_lm.get(text)
    if full is None:
        full = {d: tuple(map(torch.tensor, lm_inputs(text, *vocabs.charlm_vocab(d)))) for d in vocabs.charlm}
        if shared_lm is not None:
            shared_lm[text] = full
    first = len(ctx.lm_left)
    return {d: (ids, positions[first : first + len(words)].clone()) for d, (ids, positions) in full.items()}


def contexts(docs: Sequence[object | None], words: Sequence[Sequence[str]], tokens: int,
             lm_tokens: int = 0) -> list[Context]:
    """Each sentence's context within its document (``data.document_spans`` of ``docs``):
    up to ``tokens`` words of the sentences before and after it, and ``lm_tokens``
    (-1: the whole document) more for the char LMs; less where the document ends."""
    out = []
    for start, end in document_spans(docs):
        flat = [w for i in range(start, end) for w in words[i]]
        at = 0
        for i in range(start, end):
            n = len(words[i])
            left, right = max(0, at - tokens), min(len(flat), at + n + tokens)
            lm_left = 0 if lm_tokens < 0 else max(0, left - lm_tokens)
            lm_right = len(flat) if lm_tokens < 0 else min(len(flat), right + lm_tokens)
            out.append(Context(flat[left:at], flat[at + n : right], flat[lm_left:left], flat[right:lm_right]))
            at += n
    return out


def encode_all(sentences: Sequence[Sentence | Sequence[str] | None], vocabs: Vocabs, *,
               context_tokens: int = 0, lm_tokens: int = 0, docs: Sequence[object | None] | None = None,
               with_labels: bool = True) -> list[Encoded | None]:
    """Every sentence encoded (None for None or a sentence without words), with its
    document context when ``context_tokens`` or ``lm_tokens`` asks for it. Documents
    are ``docs`` (a key per sentence) or else each ``Sentence.doc``; a sentence whose
    key is None is a document of its own. Without context: ``encode`` of each."""
    if not context_tokens and not lm_tokens:
        return [encode(s, vocabs, with_labels) if s else None for s in sentences]
    words = [[] if s is None else (s.words if isinstance(s, Sentence) else list(s)) for s in sentences]
    if docs is None:
        docs = [s.doc if isinstance(s, Sentence) else None for s in sentences]
    ctxs = contexts(docs, words, context_tokens, lm_tokens)
    shared_lm: dict = {}  # the sentences of a document often give the LMs the same words
    return [encode(s, vocabs, with_labels, c, shared_lm) if w else None for s, w, c in zip(sentences, words, ctxs)]


def _encode_cats(sent: Sentence, vocabs: Vocabs) -> dict[str, Tensor]:
    cats = {}
    for task in vocabs.sentence_tasks:
        gold = sent.cats.get(task)
        if gold is None:
            continue
        vocab = vocabs.labels[task]
        unknown = [label for label in gold if label not in vocab]
        if unknown:
            raise TaggerError(
                f"unknown {task} label '{unknown[0]}' (the model knows: {', '.join(vocab.itos)})", line=sent.line
            )
        if task in vocabs.multi_label_tasks:
            hot = torch.zeros(len(vocab))
            hot[vocab.ids(gold)] = 1.0
            cats[task] = hot
        elif len(gold) != 1:
            raise TaggerError(f"{len(gold)} {task} labels for a single-label task", line=sent.line)
        else:
            cats[task] = torch.tensor([vocab.id(gold[0])])
    return cats


@dataclass
class Batch:
    words: Tensor  # [B, T]
    casing: Tensor  # [B, T]
    chars: Tensor  # [N, W]: the real tokens of the batch in row-major order
    mask: Tensor  # [B, T] bool
    lengths: Tensor  # [B], on the CPU (packing wants it there)
    labels: dict[str, Tensor]  # task -> [B, T]; a sentence task -> [B] class ids or [B, C] multi-hot
    index: list[int]  # positions of these sentences in the input list
    lm: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)  # direction -> ([U, L], [B, T])
    # [B]: the row of ``lm``'s char ids each sentence reads; sentences whose LM strings are
    # identical share one row, so the LMs read it once. None: row b for sentence b (U = B).
    lm_rows: Tensor | None = None
    lm_feats: Tensor | None = None  # [B, T, D], precomputed frozen char-LM features
    # Document context (None without): where each row's own words start in the input [B],
    # and how many there are [B]; the heads see only those (``head_mask``, ``out_lengths``).
    offsets: Tensor | None = None
    own_lengths: Tensor | None = None
    soft: dict[str, tuple[Tensor, ...]] | None = None  # task -> a teacher's distributions, padded

    @property
    def out_lengths(self) -> Tensor:
        """[B] (CPU): the words each row is labelled for: its own words, without context."""
        return self.lengths if self.own_lengths is None else self.own_lengths

    @property
    def head_mask(self) -> Tensor:
        """[B, T'] bool: the positions the heads score (``mask`` without context)."""
        if self.own_lengths is None:
            return self.mask
        own = self.own_lengths.to(self.mask.device)
        return torch.arange(int(own.max()), device=own.device)[None, :] < own[:, None]

    def to(self, device: torch.device) -> "Batch":
        if device.type == "cpu":
            return self
        return Batch(
            words=self.words.to(device),
            casing=self.casing.to(device),
            chars=self.chars.to(device),
            mask=self.mask.to(device),
            lengths=self.lengths,
            labels={k: v.to(device) for k, v in self.labels.items()},
            index=self.index,
            lm={k: (ids.to(device), pos.to(device)) for k, (ids, pos) in self.lm.items()},
            lm_rows=None if self.lm_rows is None else self.lm_rows.to(device),
            lm_feats=None if self.lm_feats is None else self.lm_feats.to(device),
            offsets=None if self.offsets is None else self.offsets.to(device),
            own_lengths=self.own_lengths,
            soft=None if self.soft is None else {t: tuple(x.to(device) for x in v) for t, v in self.soft.items()},
        )

    @property
    def num_tokens(self) -> int:
        """The words labelled (context words are read, not counted)."""
        return int(self.out_lengths.sum())


def collate(items: Sequence[Encoded], index: list[int]) -> Batch:
    lengths = torch.tensor([len(e) for e in items])
    pad = torch.nn.utils.rnn.pad_sequence
    width = max(e.chars.shape[1] for e in items)
    chars = torch.cat([torch.nn.functional.pad(e.chars, (0, width - e.chars.shape[1])) for e in items])
    tasks = set.intersection(*(set(e.labels) for e in items)) if items[0].labels else set()
    cat_tasks = set.intersection(*(set(e.cats) for e in items)) if items[0].cats else set()
    labels = {t: pad([e.labels[t] for e in items], batch_first=True) for t in sorted(tasks)}
    # Sentence labels have no time axis: stacked, never padded.
    labels.update({t: _stack_cats([e.cats[t] for e in items]) for t in sorted(cat_tasks)})
    lm, lm_rows = _collate_lm(items)
    cached = all(e.lm_feats is not None for e in items)
    in_context = any(e.own is not None for e in items)
    return Batch(
        words=pad([e.words for e in items], batch_first=True),
        casing=pad([e.casing for e in items], batch_first=True),
        chars=chars,
        mask=torch.arange(int(lengths.max()))[None, :] < lengths[:, None],
        lengths=lengths,
        labels=labels,
        index=index,
        lm=lm,
        lm_rows=lm_rows,
        lm_feats=pad([e.lm_feats for e in items], batch_first=True) if cached else None,
        offsets=torch.tensor([e.offset for e in items]) if in_context else None,
        own_lengths=torch.tensor([len(e) if e.own is None else e.own for e in items]) if in_context else None,
        soft=_collate_soft(items),
    )


def _collate_soft(items: Sequence[Encoded]) -> dict[str, tuple[Tensor, ...]] | None:
    """The teacher's distributions of a batch, padded with zeros along the words (a
    sentence task's have the same shape in every sentence: stacked)."""
    if any(e.soft is None for e in items):
        return None
    pad = torch.nn.utils.rnn.pad_sequence
    return {task: tuple(pad([e.soft[task][k] for e in items], batch_first=True) for k in range(len(parts)))
            for task, parts in items[0].soft.items()}


def _collate_lm(items: Sequence[Encoded]) -> tuple[dict[str, tuple[Tensor, Tensor]], Tensor | None]:
    """The batch's char-LM inputs: each distinct string once (a row of ids), every
    sentence's read positions, and which row each sentence reads (None when none repeats)."""
    if not items[0].lm:
        return {}, None
    strings = lm_string_numbers(items)
    first: dict[int, int] = {}  # string number -> the first item reading it
    for i, string in enumerate(strings):
        first.setdefault(string, i)
    pad = torch.nn.utils.rnn.pad_sequence
    lm = {d: (pad([items[i].lm[d][0] for i in first.values()], batch_first=True),
              pad([e.lm[d][1] for e in items], batch_first=True)) for d in items[0].lm}
    return lm, None if len(first) == len(items) else torch.tensor(strings)


def lm_string_numbers(items: Sequence[Encoded]) -> list[int]:
    """A number per item naming its char-LM strings (all directions), 0, 1, ... in order
    of first appearance: items with one number read identical strings. ``encode_all``
    shares one tensor among the sentences reading one string, so each tensor is hashed
    once; equal strings in different tensors get one number too."""
    by_tensor: dict[tuple, int] = {}
    by_text: dict[tuple, int] = {}
    out = []
    for e in items:
        tensors = tuple((ids.data_ptr(), ids.numel(), ids.stride(0)) for ids, _ in e.lm.values())
        if tensors not in by_tensor:
            text = tuple((ids.numel(), hashlib.blake2b(ids.cpu().contiguous().numpy(), digest_size=16).digest())
                         for ids, _ in e.lm.values())
            by_tensor[tensors] = by_text.setdefault(text, len(by_text))
        out.append(by_tensor[tensors])
    return out


def _stack_cats(values: Sequence[Tensor]) -> Tensor:
    # Class ids [1] each -> [B]; multi-hot rows [C] each -> [B, C].
    return torch.cat(list(values)) if values[0].dtype == torch.long else torch.stack(list(values))


LM_CHARS = 200_000  # characters per eval batch through the char LMs (a document each, with embed.charlm_context)


def eval_batches(data: Sequence[Encoded], batch_size: int, max_tokens: int = 20_000) -> Iterator[Batch]:
    """Longest first, so a batch pads little and one huge sentence is a batch of its own.
    With char LMs, the sentences that read one LM string (with ``embed.charlm_context =
    -1``, a whole document) go into one batch, where the LMs read that string once
    (``collate``), unless they are more than one batch holds; and a batch holds at most
    ``LM_CHARS`` characters of distinct LM strings."""
    batch: list[int] = []
    longest = lm_longest = strings = 0
    for unit in _eval_units(data, batch_size, max_tokens):
        unit_longest = max(len(data[i]) for i in unit)
        unit_chars = _lm_chars(data[unit[0]])
        fits = (len(batch) + len(unit) <= batch_size
                and (len(batch) + len(unit)) * max(longest, unit_longest) <= max_tokens
                and (strings + 1) * max(lm_longest, unit_chars) <= LM_CHARS)
        if batch and not fits:
            yield collate([data[i] for i in batch], batch)
            batch, longest, lm_longest, strings = [], 0, 0, 0
        batch += unit
        longest, lm_longest, strings = max(longest, unit_longest), max(lm_longest, unit_chars), strings + 1
    if batch:
        yield collate([data[i] for i in batch], batch)


def _eval_units(data: Sequence[Encoded], batch_size: int, max_tokens: int) -> list[list[int]]:
    """The sentences that read one LM string (each sentence alone without char LMs),
    longest first within a unit and units by their longest sentence (with char LMs, by
    their LM string's characters: the LMs' steps are most of the work, so padding them
    costs most); a unit that one batch cannot hold is cut into pieces that fill a batch each."""
    groups: dict[int, list[int]] = {}
    keys = lm_string_numbers(data) if data and data[0].lm else range(len(data))
    for i in sorted(range(len(data)), key=lambda i: -len(data[i])):
        groups.setdefault(keys[i], []).append(i)
    units = []
    for group in sorted(groups.values(), key=lambda g: (-_lm_chars(data[g[0]]), -len(data[g[0]]))):
        size = max(1, min(batch_size, max_tokens // max(len(data[group[0]]), 1)))
        units += [group[start : start + size] for start in range(0, len(group), size)]
    return units


def _lm_chars(item: Encoded) -> int:
    """The characters of the LM string the sentence reads (0 without char LMs)."""
    return next(iter(item.lm.values()))[0].shape[0] if item.lm else 0


LONG_SENTENCE = 1000  # tokens; longer training sentences get a batch of their own


def train_batches(
    data: Sequence[Encoded], batch_size: int, rng: random.Random, pool: int = 50
) -> list[Batch]:
    """Shuffle, sort within pools of ``pool`` batches, then shuffle the batches:
    random enough for SGD, and little padding."""
    order = list(range(len(data)))
    rng.shuffle(order)
    batches = []
    step = batch_size * pool
    for start in range(0, len(order), step):
        chunk = sorted(order[start : start + step], key=lambda i: len(data[i]))
        # A very long sentence trains alone: PyTorch's CPU backward through a packed
        # RNN batch of unequal lengths takes time quadratic in the longest one.
        n_long = sum(1 for i in chunk if len(data[i]) > LONG_SENTENCE)
        short, long = chunk[: len(chunk) - n_long], chunk[len(chunk) - n_long :]
        for b in range(0, len(short), batch_size):
            idx = short[b : b + batch_size]
            batches.append(collate([data[i] for i in idx], idx))
        batches.extend(collate([data[i]], [i]) for i in long)
    rng.shuffle(batches)
    return batches


def singleton_mask(train: Sequence[Sentence], vocabs: Vocabs) -> Tensor:
    """Which word ids occur once in training: the ones word dropout swaps for <unk>."""
    counts = Counter(vocabs.key(w) for s in train for w in s.words)
    mask = torch.zeros(len(vocabs.words), dtype=torch.bool)
    for key, c in counts.items():
        if c == 1 and key in vocabs.words:
            mask[vocabs.words.id(key)] = True
    return mask


__all__ = [
    "Vocabs",
    "build_vocabs",
    "Encoded",
    "encode",
    "encode_all",
    "Context",
    "contexts",
    "Batch",
    "collate",
    "eval_batches",
    "train_batches",
    "singleton_mask",
    "UNK",
]
