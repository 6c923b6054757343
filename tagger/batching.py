"""From sentences to padded tensors: encoding once, then length-bucketed batches.

Sentences are encoded to id tensors a single time; a batch only pads and stacks
them, so per-token Python work happens once per corpus, not once per epoch.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .config import EmbedConfig, HeadConfig, is_sentence_head
from .data import Sentence, document_spans
from .errors import TaggerError
from .modeldir import Vocabs  # the format owns it; still importable from here
from .nn.charlm import lm_inputs
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
    sent: Sentence | Sequence[str], vocabs: Vocabs, with_labels: bool = True, context: Context | None = None
) -> Encoded:
    """A sentence as tensors; with a ``context``, the inputs cover its context words too
    (``offset`` says where the sentence starts) while the labels cover its own words."""
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
        lm=_lm_inputs(words, ctx, vocabs),
        offset=len(ctx.left),
        own=len(own) if context is not None else None,
    )


def _lm_inputs(words: list[str], ctx: Context, vocabs: Vocabs) -> dict[str, tuple[Tensor, Tensor]]:
    """Per char-LM direction: the characters of ``words`` with the LM-only context
    around them, and the positions read for ``words`` alone."""
    lm = {}
    first = len(ctx.lm_left)
    for direction in vocabs.charlm:
        ids, positions = lm_inputs([*ctx.lm_left, *words, *ctx.lm_right], *vocabs.charlm_vocab(direction))
        lm[direction] = (torch.tensor(ids), torch.tensor(positions[first : first + len(words)]))
    return lm


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
    return [encode(s, vocabs, with_labels, c) if w else None for s, w, c in zip(sentences, words, ctxs)]


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
    lm: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)  # direction -> ([B, L], [B, T])
    lm_feats: Tensor | None = None  # [B, T, D], precomputed frozen char-LM features
    # Document context (None without): where each row's own words start in the input [B],
    # and how many there are [B]; the heads see only those (``head_mask``, ``out_lengths``).
    offsets: Tensor | None = None
    own_lengths: Tensor | None = None

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
            lm_feats=None if self.lm_feats is None else self.lm_feats.to(device),
            offsets=None if self.offsets is None else self.offsets.to(device),
            own_lengths=self.own_lengths,
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
    lm = {
        d: (pad([e.lm[d][0] for e in items], batch_first=True), pad([e.lm[d][1] for e in items], batch_first=True))
        for d in items[0].lm
    }
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
        lm_feats=pad([e.lm_feats for e in items], batch_first=True) if cached else None,
        offsets=torch.tensor([e.offset for e in items]) if in_context else None,
        own_lengths=torch.tensor([len(e) if e.own is None else e.own for e in items]) if in_context else None,
    )


def _stack_cats(values: Sequence[Tensor]) -> Tensor:
    # Class ids [1] each -> [B]; multi-hot rows [C] each -> [B, C].
    return torch.cat(list(values)) if values[0].dtype == torch.long else torch.stack(list(values))


LM_CHARS = 200_000  # characters per eval batch through the char LMs (a document each, with embed.charlm_context)


def eval_batches(data: Sequence[Encoded], batch_size: int, max_tokens: int = 20_000) -> Iterator[Batch]:
    """Longest first, so a batch pads little and one huge sentence is a batch of its own;
    with char LMs, a batch also holds at most ``LM_CHARS`` characters of LM input."""
    order = sorted(range(len(data)), key=lambda i: -len(data[i]))
    start = 0
    while start < len(order):
        longest = len(data[order[start]])
        size = max(1, min(batch_size, max_tokens // max(longest, 1)))
        if data[order[start]].lm:
            chars = max(next(iter(data[i].lm.values()))[0].shape[0] for i in order[start : start + size])
            size = max(1, min(size, LM_CHARS // chars))
        chunk = order[start : start + size]
        yield collate([data[i] for i in chunk], chunk)
        start += size


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
