"""The translation family's part of training, behind the shared trainer's task
interface: ``batches(rng)``, ``loss(batch)``, ``evaluate()``, ``save(dir)``,
``checkpoint_parts()``, ``describe(report)``."""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..distributed import Dist, split, unsplit
from ..trainer import StepLoss
from .config import Seq2SeqRecipe
from .metrics import bleu_report
from .model import Seq2Seq
from .modeldir import model_parts, save_model
from .subword import BOS_ID, EOS_ID, PAD_ID, Subwords, train_vocab
from .text import Parallel
from .translate import pad, translate


def build_vocabs(recipe: Seq2SeqRecipe, train: Parallel) -> tuple[Subwords, Subwords]:
    """Vocabularies learned on the training split: one shared by both sides, or one each."""
    v = recipe.vocab
    if v.shared:
        shared = train_vocab(train.src + train.tgt, v.kind, v.size, v.min_freq, v.lowercase)
        return shared, shared
    return (train_vocab(train.src, v.kind, v.size, v.min_freq, v.lowercase),
            train_vocab(train.tgt, v.kind, v.size, v.min_freq, v.lowercase))


@dataclass
class PairBatch:
    src: Tensor  # N, S (each source ends with </s>)
    src_len: Tensor
    tgt_in: Tensor  # N, T: <s> y1 ... yn
    tgt_out: Tensor  # N, T: y1 ... yn </s>
    tokens: int  # target tokens (with </s>)


class PairLoss(nn.Module):
    """``forward`` is the mean label-smoothed cross-entropy per target token (``</s>``
    included, padding not): the module that DistributedDataParallel wraps."""

    def __init__(self, model: Seq2Seq, label_smoothing: float):
        super().__init__()
        self.model, self.label_smoothing = model, label_smoothing

    def forward(self, batch: PairBatch) -> Tensor:
        logits = self.model(batch.src, batch.src_len, batch.tgt_in)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch.tgt_out.reshape(-1),
                               ignore_index=PAD_ID, label_smoothing=self.label_smoothing)


class Translation:
    """German -> English (or any pair): one model, its vocabularies and its data.

    On several processes (``torchrun``) every process builds the same global batches of
    ``world`` times the recipe's batch and trains on its share of each (pairs ``rank,
    rank + world, ...``), its loss weighted by its share of the batch's target tokens,
    so that DDP's averaged gradient is the global batch's; dev is translated in shares too."""

    unit = "tok"

    def __init__(self, recipe: Seq2SeqRecipe, model: Seq2Seq, src_vocab: Subwords, tgt_vocab: Subwords,
                 data: dict[str, Parallel], dist: Dist | None = None):
        self.recipe, self.model = recipe, model
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.data = data
        self.dist = dist or Dist(device=next(model.parameters()).device)
        self.net: nn.Module | None = None  # PairLoss, DDP-wrapped on several processes; made on first use
        self.dropped = 0
        self.pairs: list[tuple[list[int], list[int]]] = []
        if "train" in data:
            limit = recipe.data.max_train_tokens
            src_ids = src_vocab.encode_many(data["train"].src)
            tgt_ids = tgt_vocab.encode_many(data["train"].tgt)
            for s, t in zip(src_ids, tgt_ids):
                if len(s) < limit and len(t) < limit:
                    self.pairs.append((s + [EOS_ID], t))
                else:
                    self.dropped += 1

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ training

    def batches(self, rng: random.Random) -> list[list[int]]:
        """One epoch: pairs shuffled, sorted by length within pools (little padding),
        cut by ``data.batch_tokens`` target tokens (or ``train.batch_size`` pairs), batches shuffled."""
        order = list(range(len(self.pairs)))
        rng.shuffle(order)
        world = self.dist.world  # global batches: every process takes its share of each
        size, budget = self.recipe.train.batch_size * world, self.recipe.data.batch_tokens * world
        pool = 100 * (size if budget <= 0 else max(1, budget // 12))
        length = lambda i: (len(self.pairs[i][1]), len(self.pairs[i][0]))
        order = [i for s in range(0, len(order), pool) for i in sorted(order[s : s + pool], key=length)]
        chunks, chunk, longest = [], [], 0
        for i in order:
            n = len(self.pairs[i][1]) + 1
            if chunk and (len(chunk) >= size if budget <= 0 else max(longest, n) * (len(chunk) + 1) > budget):
                chunks.append(chunk)
                chunk, longest = [], 0
            chunk.append(i)
            longest = max(longest, n)
        if chunk:
            chunks.append(chunk)
        rng.shuffle(chunks)
        return chunks

    def make(self, index: list[int]) -> PairBatch:
        src, src_len = pad([self.pairs[i][0] for i in index], self.device)
        tgt, _ = pad([[BOS_ID, *self.pairs[i][1], EOS_ID] for i in index], self.device)
        return PairBatch(src, src_len, tgt[:, :-1], tgt[:, 1:],
                         sum(len(self.pairs[i][1]) + 1 for i in index))

    def loss(self, batch: list[int] | PairBatch) -> StepLoss:
        """Mean label-smoothed cross-entropy per target token (``</s>`` included, padding not)
        of this process's share of the batch, weighted (``scale``) by that share's tokens."""
        weight = 1.0
        if not isinstance(batch, PairBatch):
            batch, weight = self.share(batch)
        if self.net is None:
            self.net = self.dist.ddp(PairLoss(self.model, self.recipe.model.label_smoothing))
        self.model.train()
        loss = self.net(batch)
        return StepLoss(loss, batch.src.shape[0] if weight > 0 else 0, batch.tokens, weight)

    def share(self, index: list[int]) -> tuple[PairBatch, float]:
        """This process's pairs of a global batch and the weight of their mean loss: their
        target tokens' share of the batch's, times the number of processes (DDP averages).
        A process left without pairs runs the first with weight 0, so it still joins the
        gradient all-reduce."""
        if not self.dist.enabled:
            return self.make(index), 1.0
        mine = index[self.dist.rank :: self.dist.world]
        if not mine:
            return self.make(index[:1]), 0.0
        total = sum(len(self.pairs[i][1]) + 1 for i in index)
        batch = self.make(mine)
        return batch, batch.tokens * self.dist.world / total

    # ------------------------------------------------------------------ validation and files

    def translate(self, texts: list[str], beam: int | None = None, want_attention: bool = False) -> list:
        return translate(self.model, self.src_vocab, self.tgt_vocab, texts, self.recipe.decode, beam,
                         self.recipe.train.eval_batch_size, want_attention)

    def evaluate(self) -> tuple[dict | None, float | None]:
        """Validation BLEU (lowercased and cased), chrF, with ``decode.eval_beam``."""
        dev = self.data["valid"]
        mine = [t.text for t in self.translate(split(dev.src, self.dist), beam=self.recipe.decode.eval_beam)]
        shares = self.dist.gather(mine)
        if not self.dist.main:  # rank 0 scores the whole and the trainer hands its report round
            return None, None
        hyps = unsplit(shares, len(dev.src))
        report = bleu_report(hyps, dev.tgt)
        report["example"] = {"source": dev.src[0], "reference": dev.tgt[0], "translation": hyps[0]}
        return report, report[self.recipe.train.monitor or "bleu"]

    def describe(self, report: dict) -> str:
        return f"BLEU {report['bleu']:.2f} (cased {report['bleu_cased']:.2f}) chrF {report['chrf']:.2f}"

    def format_score(self, score: float) -> str:
        return f"{score:.2f}"  # BLEU and chrF are already on a 0-100 scale

    def summary_columns(self, report: dict) -> dict:
        return {"BLEU": f"{report['bleu']:.2f}", "cased": f"{report['bleu_cased']:.2f}", "chrF": f"{report['chrf']:.2f}"}

    def save(self, directory: Path) -> None:
        save_model(Path(directory), self.model, self.recipe, self.src_vocab, self.tgt_vocab)

    def checkpoint_parts(self) -> tuple[dict, str]:
        return model_parts(self.recipe, self.src_vocab, self.tgt_vocab)
