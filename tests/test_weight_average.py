"""The trainer's moving average of the weights (``train.average``): what dev scores and
the best model saves is the average, computed by hand here; training goes on with the
raw weights; a checkpoint carries the average, so a resumed run ends where an
uninterrupted one does."""
from __future__ import annotations

import random

import pytest
import torch
from rich.console import Console

from tagger.checkpoint import CHECKPOINT_FILE, load_checkpoint
from tagger.config import TrainConfig
from tagger.trainer import StepLoss, Trainer
from tagger.training import WeightAverage

TARGETS = [1.0, 3.0, -2.0, 5.0]  # one batch each: a step pulls w halfway to its target (SGD, lr 0.25)


class PullTask:
    """One weight ``w`` and loss ``(w - target)²``: with SGD at lr 0.25 a step moves w
    halfway to the batch's target, so every weight along the run is known by hand."""

    unit = "items"

    def __init__(self):
        self.model = torch.nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.model.weight.zero_()
        self.saved: list[float] = []  # the weight each time the best model is saved
        self.scored: list[float] = []  # the weight each time dev is scored

    def batches(self, rng: random.Random) -> list[float]:
        return list(TARGETS)

    def loss(self, target: float) -> StepLoss:
        return StepLoss((self.model.weight[0, 0] - target) ** 2, 1, 1)

    def evaluate(self) -> tuple[dict, float]:
        self.scored.append(self.model.weight.item())
        return {}, float(len(self.scored))  # better every time: every evaluation saves

    def save(self, directory) -> None:
        self.saved.append(self.model.weight.item())

    def checkpoint_parts(self) -> tuple[dict, str]:
        return {}, "{}"

    def describe(self, report: dict) -> str:
        return ""


def config(**changes) -> TrainConfig:
    return TrainConfig(optimizer="sgd", momentum=0.0, lr=0.25, schedule="constant", clip=0.0, **changes)


def by_hand(epochs: int, decay: float) -> tuple[list[float], list[float]]:
    """(raw weight, average) after each step, with the trainer's warm-up of the decay."""
    w, avg, raws, avgs = 0.0, 0.0, [], []
    for step in range(1, epochs * len(TARGETS) + 1):
        w += 0.5 * (TARGETS[(step - 1) % len(TARGETS)] - w)
        keep = min(decay, step / (9 + step))  # the trainer counts steps from 0: (1 + s) / (10 + s)
        avg = keep * avg + (1 - keep) * w
        raws.append(w)
        avgs.append(avg)
    return raws, avgs


def quiet() -> Console:
    return Console(file=open("/dev/null", "w"), stderr=False)


def test_dev_and_the_saved_model_see_the_average_and_training_goes_on_raw(tmp_path):
    task = PullTask()
    Trainer(task, config(max_epochs=3, average=0.9), tmp_path, quiet()).run()
    raws, avgs = by_hand(3, 0.9)
    ends = [len(TARGETS) * e - 1 for e in (1, 2, 3)]
    assert task.scored == pytest.approx([avgs[i] for i in ends], abs=1e-6)
    assert task.saved == pytest.approx([avgs[i] for i in ends], abs=1e-6)
    assert task.model.weight.item() == pytest.approx(raws[-1], abs=1e-6)  # the raw weights came back after each
    assert avgs[-1] != pytest.approx(raws[-1], abs=1e-3)  # so the two are told apart


def test_without_average_dev_sees_the_raw_weights(tmp_path):
    task = PullTask()
    Trainer(task, config(max_epochs=2), tmp_path, quiet()).run()
    raws, _ = by_hand(2, 0.9)
    assert task.scored == pytest.approx([raws[3], raws[7]], abs=1e-6)
    assert load_checkpoint(tmp_path / CHECKPOINT_FILE).average_weights == {}


def test_the_checkpoint_carries_the_average_and_resuming_ends_where_a_straight_run_does(tmp_path):
    straight = PullTask()
    Trainer(straight, config(max_epochs=3, average=0.9), tmp_path / "straight", quiet()).run()

    first = PullTask()
    Trainer(first, config(max_epochs=1, average=0.9), tmp_path / "split", quiet()).run()
    ckpt = load_checkpoint(tmp_path / "split" / CHECKPOINT_FILE)
    _, avgs = by_hand(1, 0.9)
    assert ckpt.average_weights["weight"].item() == pytest.approx(avgs[-1], abs=1e-6)

    second = PullTask()
    second.model.load_state_dict(ckpt.model_weights)
    Trainer(second, config(max_epochs=3, average=0.9), tmp_path / "split", quiet()).run(ckpt)
    assert second.scored == pytest.approx(straight.scored[1:], abs=1e-6)
    assert second.saved[-1] == pytest.approx(straight.saved[-1], abs=1e-6)


def test_weight_average_by_hand():
    layer = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(0.0)
    average = WeightAverage(layer, decay=0.5)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    average.update(step=0)  # early on the decay is (1 + 0) / (10 + 0) = 0.1: 0.1 * 0 + 0.9 * 1
    assert next(average.buffers()).item() == pytest.approx(0.9)
    with torch.no_grad():
        layer.weight.fill_(3.0)
    average.update(step=100)  # later it is capped at 0.5: 0.5 * 0.9 + 0.5 * 3
    with average.swapped_in():
        assert layer.weight.item() == pytest.approx(1.95)
    assert layer.weight.item() == 3.0
    assert list(average.state_dict()) == ["weight"]
