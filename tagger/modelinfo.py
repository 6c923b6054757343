"""What a model predicts, without the model: its tasks (name, head kind, level, labels)
and tokenizer. Read from a model directory's JSON files (:func:`tagger.modeldir.read_model_info`)
or an export's ``export.json`` (:func:`tagger.runtime.read_info`); no PyTorch here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TaskInfo:
    name: str
    kind: str  # the head: crf, softmax, classify, ...
    level: str  # "token" (a label per word) or "sentence" (labels per sentence)
    span: bool  # BIO spans (token tasks only)
    multi_label: bool  # any number of labels per sentence (sentence tasks only)
    attention: bool  # a sentence task pooled by attention: it has weights to explain
    labels: list[str]  # the label set, without the padding entry


@dataclass(frozen=True)
class ModelInfo:
    tasks: list[TaskInfo]
    tokenizer: str
    directory: Path | None = None

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def sentence_tasks(self) -> dict[str, list[str]]:
        """{sentence task: its labels}, in head order."""
        return {t.name: t.labels for t in self.tasks if t.level == "sentence"}

    @property
    def span_tasks(self) -> list[str]:
        return [t.name for t in self.tasks if t.span]

    @property
    def attention_tasks(self) -> list[str]:
        return [t.name for t in self.tasks if t.attention]
