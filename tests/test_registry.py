"""The registries (tagger/registry.py): one mechanism for every pluggable kind, what each
lists, one-line errors for unknown names, and new entries usable from a recipe."""
from __future__ import annotations

import io
from dataclasses import replace

import pytest
import torch
from rich.console import Console
from torch import Tensor

from tagger import registry
from tagger.config import load_recipe
from tagger.errors import TaggerError
from tagger.nn.pooling import Pooling
from tagger.recipe_check import _names, check_recipe
from tagger.registry import Registry, UnknownName

# Every built-in entry, in registration order.
BUILT_IN = {
    "heads": ["softmax", "crf", "classify"],
    "poolings": ["mean", "max", "last", "attention"],
    "char_encoders": ["cnn", "lstm", "none"],
    "cells": ["rnn", "gru", "lstm"],
    "optimizers": ["adam", "adamw", "nadam", "sgd", "adagrad"],
    "schedules": ["constant", "plateau", "linear", "exponential"],
    "data_formats": ["conll2003", "column", "conllu", "spacy", "tsv", "csv", "jsonl"],
    "sources": ["conll2003", "demo", "imdb", "sst2", "sentiment-demo", "ud-ewt"],
    "tokenizers": ["conll", "whitespace", "ptb"],
}
# The recipe field each registry checks.
FIELDS = {
    "data.source": "sources", "data.format": "data_formats", "data.tokenizer": "tokenizers",
    "embed.char_encoder": "char_encoders", "encoder.cell": "cells", "heads.kind": "heads",
    "heads.pooling": "poolings", "train.optimizer": "optimizers", "train.schedule": "schedules",
}


@pytest.fixture(scope="module", autouse=True)
def filled():
    _names()  # imports every module that registers built-in entries


@pytest.mark.parametrize("kind", list(BUILT_IN))
def test_each_registry_lists_its_built_in_names_in_order(kind):
    reg = registry.REGISTRIES[kind]
    assert [name for name in reg if name in BUILT_IN[kind]] == BUILT_IN[kind]
    assert all(name in reg and reg[name] is reg.get(name) for name in BUILT_IN[kind])


def test_the_modules_names_are_the_registries():
    from tagger import corpus, sources, tokenize, training
    from tagger.nn import embed, encode, heads, pooling

    assert heads.HEADS is registry.heads and pooling.POOLINGS is registry.poolings
    assert embed.CHAR_ENCODERS is registry.char_encoders and encode.CELLS is registry.cells
    assert training.OPTIMIZERS is registry.optimizers and training.Schedule.NAMES is registry.schedules
    assert corpus.DATA_FORMATS is registry.data_formats and sources.SOURCES is registry.sources
    assert tokenize.TOKENIZERS is registry.tokenizers
    assert corpus.text_formats() == ("tsv", "csv", "jsonl")


@pytest.mark.parametrize("kind", list(BUILT_IN))
def test_an_unknown_name_is_one_line_listing_the_choices(kind):
    reg = registry.REGISTRIES[kind]
    with pytest.raises(TaggerError) as info:
        reg["no-such-thing"]
    assert str(info.value) == f"unknown {reg.kind} 'no-such-thing' (choose: {', '.join(sorted(reg))})"
    assert isinstance(info.value, KeyError)  # so dict-style .get() and `except KeyError` still work
    assert reg.get("no-such-thing") is None and "no-such-thing" not in reg
    assert [] not in reg and reg.get(["unhashable"]) is None  # a list from a TOML file is not a crash


def test_register_unregister_info_and_clashes():
    reg: Registry = Registry("widget")

    @reg.register("b", colour="red")
    def make_b():
        return "b"

    assert reg.register("a", str.upper) is str.upper
    reg["c"] = len
    assert list(reg) == ["b", "a", "c"] and len(reg) == 3 and reg.names() == ("b", "a", "c")
    assert reg["b"] is make_b and reg.info("b") == {"colour": "red"} and reg.info("a") == {}
    reg.register("a", str.upper)  # the same item again: harmless (a module imported twice)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a", str.lower)
    with pytest.raises(ValueError, match="non-empty name"):
        reg.register("", str.lower)
    assert reg.unregister("a") is str.upper
    del reg["c"]
    assert list(reg) == ["b"] and "a" not in reg
    with pytest.raises(UnknownName, match=r"unknown widget 'a' \(choose: b\)"):
        reg.info("a")
    with pytest.raises(UnknownName, match=r"\(choose: none registered\)"):
        Registry("gadget")["x"]


def test_the_tree_familys_adagrad_is_the_shared_optimizer():
    from tagger.config import TrainConfig

    weight = torch.nn.Parameter(torch.ones(2))
    optimizer = registry.optimizers["adagrad"]([weight], TrainConfig(lr=0.5, weight_decay=0.0))
    assert isinstance(optimizer, torch.optim.Adagrad) and optimizer.param_groups[0]["lr"] == 0.5
    weight.sum().backward()
    optimizer.step()  # Adagrad's first step moves each weight by lr (gradient / sqrt(gradient^2))
    assert torch.allclose(weight.detach(), torch.tensor([0.5, 0.5]), atol=1e-6)


@pytest.mark.parametrize("field", list(FIELDS))
def test_check_recipe_refuses_a_bad_name_in_every_registered_field(field, tmp_path):
    # the data files do not exist: were they read first, that would be the error
    recipe = load_recipe("demo", [f"data.train={tmp_path / 'nowhere.txt'}", f"data.dev={tmp_path / 'nowhere.txt'}"])
    section, name = field.split(".")
    if section == "heads":
        recipe.heads[0] = replace(recipe.heads[0], **{name: "bogus"})
        where = f"heads.0.{name}"
    else:
        setattr(recipe, section, replace(getattr(recipe, section), **{name: "bogus"}))
        where = field
    with pytest.raises(TaggerError) as info:
        check_recipe(recipe)
    choices = ", ".join(sorted(registry.REGISTRIES[FIELDS[field]]))
    assert str(info.value) == f"invalid recipe 'demo': {where} = 'bogus': choose one of: {choices}"


def test_every_registry_a_tagger_recipe_names_is_checked():
    assert {registry.REGISTRIES[kind] for kind in FIELDS.values()} == {
        reg for kind, reg in registry.REGISTRIES.items() if kind != "families"
    }
    names = _names()
    assert all(names[field] is registry.REGISTRIES[kind] for field, kind in FIELDS.items())


# --------------------------------------------------------------------------- a new entry, used by a recipe


class SumPooling(Pooling):
    """The sum of the real tokens' states."""

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, None]:
        return (states * mask.unsqueeze(-1).to(states.dtype)).sum(1), None


@pytest.fixture
def plugins():
    calls = []

    def half_sgd(params, cfg):
        calls.append(cfg.lr)
        return torch.optim.SGD(params, lr=cfg.lr / 2)

    registry.poolings.register("test-sum", SumPooling)
    registry.optimizers.register("test-half-sgd", half_sgd)
    try:
        yield calls
    finally:
        registry.poolings.unregister("test-sum")
        registry.optimizers.unregister("test-half-sgd")


def test_a_registered_pooling_and_optimizer_train_through_a_recipe(plugins, tmp_path):
    from tagger.predict import Tagger
    from tagger.train import train

    states = torch.tensor([[[5.0, 4.0], [3.0, 6.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False]])
    assert SumPooling(2, 1, 2)(states, mask)[0].tolist() == [[8.0, 10.0]]  # padding left out

    recipe = load_recipe("sentiment-demo", [
        "heads.0.pooling=test-sum", "train.optimizer=test-half-sgd", "train.lr=0.2", "train.max_epochs=1",
        "embed.word_dim=8", "embed.char_encoder=none", "encoder.hidden=8", "train.threads=1",
    ])
    check_recipe(recipe)
    result = train(recipe, tmp_path / "run", Console(file=io.StringIO()))
    assert plugins == [0.2]  # the recipe's optimizer built the run's optimizer, once
    tagger = Tagger.load(result.model_dir)
    head = tagger.model.heads["sentiment"]
    assert type(head.pool) is SumPooling
    assert tagger.predict(["a charming film"])[0] in (["negative"], ["positive"])

    registry.poolings.unregister("test-sum")
    with pytest.raises(TaggerError, match=r"heads.0.pooling = 'test-sum': choose one of: attention, last, max, mean"):
        check_recipe(recipe)
    registry.poolings.register("test-sum", SumPooling)  # for the fixture's clean-up
