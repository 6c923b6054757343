import json

import pytest

from tagger.config import (
    DataConfig,
    EmbedConfig,
    EncoderConfig,
    HeadConfig,
    Recipe,
    TrainConfig,
    available_recipes,
    load_recipe,
    parse_override,
    recipes_dir,
)
from tagger.errors import TaggerError


def test_named_recipes_are_listed():
    assert {"conll2003", "demo"} <= set(available_recipes())


def test_conll2003_recipe_is_typed():
    r = load_recipe("conll2003")
    assert isinstance(r, Recipe)
    assert r.name == "conll2003"
    assert isinstance(r.data, DataConfig) and r.data.source == "conll2003"
    assert isinstance(r.embed, EmbedConfig)
    assert isinstance(r.encoder, EncoderConfig)
    assert isinstance(r.train, TrainConfig)
    assert r.embed.word_dim == 100 and r.embed.char_hidden == 64
    assert r.encoder.cell == "lstm" and r.encoder.hidden == 200 and r.encoder.layers == 2
    assert r.encoder.bidirectional is True
    assert len(r.heads) == 1 and isinstance(r.heads[0], HeadConfig)
    assert (r.heads[0].task, r.heads[0].kind, r.heads[0].span) == ("ner", "crf", True)
    assert r.train.lr == 0.002 and r.train.batch_size == 32
    # ``max_minutes = 42`` is an int in the TOML, for a ``float | None`` field
    assert r.train.max_minutes == 42.0 and type(r.train.max_minutes) is float
    # fields the recipe leaves out keep their defaults
    assert r.train.device == "auto" and r.embed.vectors is None


def test_demo_recipe_is_typed():
    r = load_recipe("demo")
    assert r.name == "demo"
    assert r.data.source == "demo"
    assert r.embed.word_dim == 32 and r.embed.casing_dim == 8 and r.embed.char_hidden == 32
    assert r.encoder.hidden == 64 and r.encoder.layers == 1
    assert r.heads[0].kind == "crf"
    assert r.train.lr == 0.01 and type(r.train.lr) is float
    assert r.train.schedule == "constant" and r.train.max_epochs == 25


def test_overrides_set_values_with_right_types():
    r = load_recipe(
        "demo", ["encoder.hidden=64", "heads.0.kind=softmax", "embed.vectors=/x/y.txt", "train.lr=0.01"]
    )
    assert r.encoder.hidden == 64 and type(r.encoder.hidden) is int
    assert r.heads[0].kind == "softmax"
    assert r.embed.vectors == "/x/y.txt"
    assert r.train.lr == 0.01


def test_override_changes_value_and_leaves_rest():
    base = load_recipe("demo")
    r = load_recipe("demo", ["encoder.hidden=7", "encoder.cell=gru", "encoder.bidirectional=false"])
    assert (r.encoder.hidden, r.encoder.cell, r.encoder.bidirectional) == (7, "gru", False)
    assert r.embed == base.embed and r.train == base.train and r.heads == base.heads


def test_int_override_for_float_field_becomes_float():
    r = load_recipe("demo", ["train.lr=1"])
    assert r.train.lr == 1.0 and type(r.train.lr) is float
    r = load_recipe("demo", ["train.max_minutes=5"])
    assert r.train.max_minutes == 5.0 and type(r.train.max_minutes) is float


def test_optional_field_accepts_quoted_string_and_int():
    r = load_recipe("demo", ['embed.vectors="/a b/c.vec"', "train.threads=3"])
    assert r.embed.vectors == "/a b/c.vec"
    assert r.train.threads == 3


def test_parse_override_values():
    assert parse_override("encoder.hidden=128") == (["encoder", "hidden"], 128)
    assert parse_override("train.lr=0.5") == (["train", "lr"], 0.5)
    assert parse_override("encoder.cell=gru") == (["encoder", "cell"], "gru")
    assert parse_override("encoder.bidirectional=true") == (["encoder", "bidirectional"], True)
    with pytest.raises(TaggerError, match="must look like"):
        parse_override("encoder.hidden")


@pytest.mark.parametrize(
    "override, field",
    [("encoder.hiden=3", "encoder.hiden"), ("colour=3", "colour"), ("heads.0.knd=crf", "heads[0].knd")],
)
def test_unknown_field_names_field_and_recipe_path(override, field):
    with pytest.raises(TaggerError) as info:
        load_recipe("demo", [override])
    msg = str(info.value)
    assert f"unknown field '{field}'" in msg
    assert str(recipes_dir() / "demo.toml") in msg
    assert info.value.path == str(recipes_dir() / "demo.toml")


def test_unknown_nested_field_lists_known_fields():
    with pytest.raises(TaggerError) as info:
        load_recipe("demo", ["encoder.hiden=3"])
    assert "hidden" in str(info.value) and "bidirectional" in str(info.value)


@pytest.mark.parametrize(
    "override, key",
    [
        ('encoder.hidden="big"', "encoder.hidden"),
        ("encoder.hidden=1.5", "encoder.hidden"),
        ("encoder.hidden=true", "encoder.hidden"),  # a bool is not an int here
        ("train.lr=true", "train.lr"),
        ("train.lr=fast", "train.lr"),
        ("encoder.bidirectional=1", "encoder.bidirectional"),
        ("embed.vectors=3", "embed.vectors"),
        ("heads=3", "heads"),
    ],
)
def test_wrong_type_is_a_tagger_error(override, key):
    with pytest.raises(TaggerError) as info:
        load_recipe("demo", [override])
    assert f"'{key}'" in str(info.value)
    assert "demo.toml" in str(info.value)


def test_override_into_a_missing_list_item():
    with pytest.raises(TaggerError, match="no list item 1"):
        load_recipe("demo", ["heads.1.kind=softmax"])
    with pytest.raises(TaggerError, match="inside the list item"):
        load_recipe("demo", ["heads.0=3"])


def test_override_below_a_scalar_is_a_tagger_error():
    with pytest.raises(TaggerError):
        load_recipe("demo", ["encoder.hidden.x=3"])


def test_unknown_recipe_name_lists_named_recipes():
    with pytest.raises(TaggerError) as info:
        load_recipe("no-such-recipe")
    msg = str(info.value)
    assert "unknown recipe 'no-such-recipe'" in msg
    assert "conll2003" in msg and "demo" in msg


def test_recipe_toml_path_loads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'description = "tiny"\n'
        "[encoder]\ncell = \"gru\"\nhidden = 12\n"
        "[[heads]]\ntask = \"pos\"\nkind = \"softmax\"\nspan = false\n"
        "[[heads]]\ntask = \"ner\"\n"
        "[train]\nlr = 2\n",
        encoding="utf-8",
    )
    r = load_recipe(str(path), ["encoder.layers=2"])
    assert r.name == "mine"  # the file stem when the recipe gives no name
    assert r.description == "tiny"
    assert (r.encoder.cell, r.encoder.hidden, r.encoder.layers) == ("gru", 12, 2)
    assert [(h.task, h.kind, h.span) for h in r.heads] == [("pos", "softmax", False), ("ner", "crf", True)]
    assert r.train.lr == 2.0 and type(r.train.lr) is float
    assert r.embed == EmbedConfig()


def test_error_in_path_recipe_names_that_path(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[encoder]\nhiden = 3\n", encoding="utf-8")
    with pytest.raises(TaggerError) as info:
        load_recipe(str(path))
    assert info.value.path == str(path)
    assert "encoder.hiden" in str(info.value)


def test_invalid_toml_is_a_tagger_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[encoder\nhidden = = 3\n", encoding="utf-8")
    with pytest.raises(TaggerError) as info:
        load_recipe(str(path))
    assert "not a valid TOML recipe" in str(info.value)
    assert info.value.path == str(path)


def test_non_utf8_recipe_is_a_tagger_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('description = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(TaggerError, match=r"not valid UTF-8 \(byte 0xe9 at column 19\)") as info:
        load_recipe(str(path))
    assert info.value.line == 1


def test_section_that_is_not_a_table(tmp_path):
    path = tmp_path / "flat.toml"
    path.write_text("encoder = 3\n", encoding="utf-8")
    with pytest.raises(TaggerError, match="'encoder' must be a table"):
        load_recipe(str(path))


@pytest.mark.parametrize("name", ["demo", "conll2003"])
def test_to_dict_from_dict_round_trip(name):
    r = load_recipe(name, ["heads.0.kind=softmax", "embed.vectors=/v.txt"])
    d = r.to_dict()
    assert d["encoder"]["hidden"] == r.encoder.hidden
    assert len(d["heads"]) == 1
    assert {k: d["heads"][0][k] for k in ("task", "kind", "span")} == {"task": "ner", "kind": "softmax", "span": True}
    again = Recipe.from_dict(d)
    assert again == r
    # through JSON too, as model directories store it
    assert Recipe.from_dict(json.loads(json.dumps(d))) == r


def test_from_dict_defaults_and_origin():
    assert Recipe.from_dict({}) == Recipe()
    with pytest.raises(TaggerError) as info:
        Recipe.from_dict({"train": {"lr": "x"}}, origin="somewhere.json")
    assert info.value.path == "somewhere.json"
    with pytest.raises(TaggerError, match="non-empty list"):
        Recipe.from_dict({"heads": []})


def test_sentence_head_kinds_match_the_head_classes():
    """config declares which head kinds label sentences (readers need it before any model
    exists); every registered head class must agree."""
    from tagger.config import SENTENCE_HEAD_KINDS
    from tagger.nn.heads import HEADS

    assert {kind for kind, cls in HEADS.items() if cls.level == "sentence"} == set(SENTENCE_HEAD_KINDS)
