"""Knowledge distillation: a tagger learns from a teacher's label distributions on its
training sentences as well as from the gold labels (``[distill]`` in a recipe).

The teacher is any trained tagger directory, most usefully a ``tagger ensemble``: its
distributions are the ones it decodes (for a CRF, the marginals of the CRF with the
members' mean scores), computed once before training and kept with each sentence
(``Encoded.soft``), so an epoch costs what it costs without a teacher. Each head's loss
is then the cross-entropy against ``weight * teacher + (1 - weight) * gold``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .batching import Encoded, eval_batches
from .config import HeadConfig, Recipe
from .data import Sentence
from .errors import TaggerError
from .model import EnsembleTagger, SequenceTagger, load_model
from .modeldir import config_parts, read_parts
from .predict import encode_sentences


def check_teacher(recipe: Recipe) -> None:
    """The teacher's files and heads against the recipe, before any data is read: the
    same tasks, each with the same kind of head (its labels are checked once the
    student's vocabulary exists)."""
    path = recipe.distill.teacher
    directory, config, vocab_json, _ = read_parts(path, weights=False)
    teacher, _ = config_parts(config, vocab_json, directory)
    theirs = {head.task: head for head in teacher.heads}
    for i, head in enumerate(recipe.heads):
        other = theirs.get(head.task)
        if other is None:
            raise TaggerError(f"distill.teacher has no '{head.task}' task (heads.{i}); it has: "
                              f"{', '.join(theirs) or 'none'}", directory)
        if _head_shape(other) != _head_shape(head):
            raise TaggerError(f"distill.teacher's '{head.task}' head is {_describe(other)}, the recipe's "
                              f"(heads.{i}) {_describe(head)}: a student learns the distribution of its own kind of head",
                              directory)


def _head_shape(head: HeadConfig) -> tuple:
    return head.kind, head.span, head.multi_label if head.kind == "classify" else False


def _describe(head: HeadConfig) -> str:
    kind, span, multi = _head_shape(head)
    return f"kind = {kind!r}" + (", span" if span and kind != "classify" else "") + (", multi_label" if multi else "")


def attach_teacher_targets(student: SequenceTagger, data: list[Encoded], sentences: Sequence[Sentence],
                           device: torch.device, batch_size: int, console: Console) -> None:
    """Give each of ``data`` (the student's encoding of ``sentences``) the teacher's
    distributions for every task of the student, in half precision on the CPU."""
    path = student.recipe.distill.teacher
    teacher = load_model(path, device)
    for task in student.tasks:
        check_labels(teacher, student, task, path)
    encoded = encode_sentences(sentences, teacher, with_labels=False)
    sentence_tasks = set(student.sentence_tasks)
    columns = (TextColumn("teacher"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # no_grad, not inference_mode: a CRF's marginals are the gradients of its log Z.
    with torch.no_grad(), Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("teacher", total=len(encoded))
        for batch in eval_batches(encoded, batch_size):
            targets = teacher.soft_targets(batch.to(device))
            lengths = batch.out_lengths.tolist()
            for row, i in enumerate(batch.index):
                data[i].soft = {task: tuple(_cut(x[row], None if task in sentence_tasks else lengths[row])
                                            for x in targets[task]) for task in student.tasks}
            progress.advance(bar, len(batch.index))
    members = len(teacher.members) if isinstance(teacher, EnsembleTagger) else 1
    console.log(f"distillation: the label distributions of {path} ({members} model{'s' * (members > 1)}) "
                f"on {len(data):,} training sentences; teacher weight {student.soft_weight:g}")


def _cut(x: torch.Tensor, length: int | None) -> torch.Tensor:
    """One sentence's distribution: its own words (``length``; None: no time axis)."""
    return (x if length is None else x[:length]).to("cpu", torch.float16).clone()


def check_labels(teacher: SequenceTagger | EnsembleTagger, student: SequenceTagger, task: str, path: str) -> None:
    """The teacher's labels of ``task`` must be the student's (vocabularies are sorted:
    the same labels have the same ids), or a one-line error says what differs."""
    ours, theirs = student.vocabs.labels[task].itos, teacher.vocabs.labels[task].itos
    if ours != theirs:
        lacks, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
        what = (f"it lacks {', '.join(lacks[:5])}" if lacks else f"it has {', '.join(extra[:5])}" if extra
                else "in another order")
        raise TaggerError(f"distill.teacher's '{task}' labels are not the training data's ({what}): "
                          "train the teacher on the same data", path)
