"""Reading bracketed sentiment trees, every bad input named by file:line:column, and
the ``sst-trees`` source (local folders, then the hub through ``datasets``, offline)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tagger.errors import TaggerError
from tagger.trees import source as tree_source
from tagger.trees.metrics import bracket_f1, brackets
from tagger.trees.source import load_sst_trees
from tagger.trees.tree import (
    Tree,
    TreeSyntaxError,
    balanced_tree,
    parse_tree,
    read_trees,
    tree_from_merges,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "trees"


def test_parse_flat_layout_labels_spans_and_heights():
    tree = parse_tree("(3 (2 (2 The) (2 Rock)) (4 (2 is) (4 great)))")
    assert tree.words == ["The", "Rock", "is", "great"]
    # words 0-3, then internal nodes bottom-up: (The Rock)=4, (is great)=5, root=6
    assert tree.children == [(0, 1), (2, 3), (4, 5)]
    assert tree.labels == [2, 2, 2, 4, 2, 4, 3]
    assert tree.root == 6 and tree.root_label == 3
    assert tree.spans() == [(0, 1), (1, 2), (2, 3), (3, 4), (0, 2), (2, 4), (0, 4)]
    assert tree.heights() == [0, 0, 0, 0, 1, 1, 2]


def test_round_trip_and_a_single_word_tree():
    text = "(1 (2 (2 not) (3 good)) (2 .))"
    assert parse_tree(text).to_string() == text
    single = parse_tree("(4 wonderful)")
    assert (single.words, single.children, single.labels, single.root) == (["wonderful"], [], [4], 0)


def test_left_branching_tree_numbering():
    tree = parse_tree("(0 (1 (2 a) (2 b)) (2 c))")
    assert tree.children == [(0, 1), (3, 2)]
    assert tree.spans()[-1] == (0, 3)


def test_words_keep_no_break_spaces_and_escapes():
    tree = parse_tree("(2 (2 8\u00a01\\/2) (2 -LRB-))")
    assert tree.words == ["8\u00a01\\/2", "-LRB-"]


def test_deep_tree_has_no_recursion_limit():
    words = [f"w{i}" for i in range(3000)]
    text = "".join(f"(2 (2 {w}) " for w in words[:-1]) + f"(2 {words[-1]})" + ")" * (len(words) - 1)
    tree = parse_tree(text)
    assert tree.words == words and tree.heights()[-1] == 2999


def test_prediction_trees_accept_any_label_token():
    tree = parse_tree("(S (NP (DT the) (NN film)) (VP stinks))", gold_labels=False)
    assert tree.words == ["the", "film", "stinks"] and tree.labels == [None] * 5
    assert tree.to_string() == "(_ (_ (_ the) (_ film)) (_ stinks))"


def test_balanced_tree_and_merges():
    tree = balanced_tree(["a", "b", "c", "d", "e"])
    assert tree.to_string() == "(_ (_ (_ (_ a) (_ b)) (_ c)) (_ (_ d) (_ e)))"
    merged = tree_from_merges(["a", "b", "c"], [(1, 2), (0, 3)])
    assert merged.spans()[-2:] == [(1, 3), (0, 3)]


BAD = [
    # (line content, error message part, line, column)
    ("(3 (2 a) (2 b)", "'(' is never closed", 2, 1),
    ("(3 (2 a) (2 b)))", "')' closes nothing", 2, 16),
    ("(3 (2 a) (x b))", "label 'x' is not an integer", 2, 11),
    ("(3 (2 a) (7 b))", "label 7 is out of range", 2, 11),
    ("(3 (2 a) (-1 b))", "label -1 is out of range", 2, 11),
    ("()", "empty tree", 2, 1),
    ("(2)", "empty tree", 2, 1),
    ("   (3 (2 a) (2 b) (2 c))", "a node with 3 children", 2, 4),
    ("(3 (2 a))", "a node with 1 child;", 2, 1),
    ("(3 (2 a b) (2 c))", "unexpected word 'b'", 2, 9),
    ("(3 (2 a) (2 b)) (2 c)", "text after the end of the tree", 2, 17),
    ("the film", "expected '(' to start a tree", 2, 1),
]


@pytest.mark.parametrize("line, message, line_no, column", BAD)
def test_bad_trees_name_file_line_and_column(tmp_path, line, message, line_no, column):
    path = tmp_path / "bad.txt"
    path.write_text("(2 (2 fine) (2 tree))\n" + line + "\n", encoding="utf-8")
    with pytest.raises(TreeSyntaxError) as info:
        read_trees(path)
    err = info.value
    assert isinstance(err, TaggerError)
    assert (err.path, err.line, err.column) == (str(path), line_no, column)
    assert str(err).startswith(f"{path}:{line_no}:{column}: ") and message in str(err)
    assert "\n" not in str(err)


def test_not_utf8_names_line_and_character_column(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("(2 (2 fine) (2 tree))\n(2 (2 café) (2 x))\n".encode() + "(2 (2 caf\xe9) (2 x))\n".encode("latin-1"))
    with pytest.raises(TaggerError) as info:  # the same error as every other reader's (tagger.textfile)
        read_trees(path)
    assert info.value.line == 3
    assert "not valid UTF-8 (byte 0xe9 at column 10)" in str(info.value)


def test_blank_lines_and_bom_are_skipped(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("\ufeff(2 (2 a) (2 b))\n\n(4 c)\n", encoding="utf-8")
    assert [t.words for t in read_trees(path)] == [["a", "b"], ["c"]]


def test_shipped_sample_reads():
    splits = {name: read_trees(DATA / f"{name}.txt") for name in ("train", "dev", "test")}
    assert [len(t) for t in splits.values()] == [48, 14, 14]
    assert all(label is not None for trees in splits.values() for t in trees for label in t.labels)


def test_bracket_f1_against_hand_counts():
    gold = parse_tree("(2 (2 (2 a) (2 b)) (2 (2 c) (2 d)))")  # brackets (0,2) (2,4)
    right = parse_tree("(2 (2 a) (2 (2 b) (2 (2 c) (2 d))))")  # brackets (1,4) (2,4)
    assert brackets(gold) == {(0, 2), (2, 4)} and brackets(right) == {(1, 4), (2, 4)}
    assert bracket_f1([gold], [right]) == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "brackets": 2}
    assert bracket_f1([gold, gold], [gold, right])["f1"] == pytest.approx(0.75)


# --------------------------------------------------------------------------- the sst-trees source

TRAIN = "(3 (2 a) (4 good))\n(1 (2 a) (0 bad))\n"
DEV = "(4 (2 so) (4 good))\n"


@pytest.fixture
def no_hub(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the hub must not be tried")

    monkeypatch.setattr("tagger.sources.load_from_hub", fail)


@pytest.mark.usefixtures("isolated", "no_hub")
def test_local_places_in_order(tmp_path, monkeypatch):
    explicit = tmp_path / "mine"
    explicit.mkdir()
    (explicit / "train.txt").write_text(TRAIN)
    (explicit / "dev.txt").write_text(DEV)
    corpus = load_sst_trees(explicit)
    assert [len(corpus["train"]), len(corpus["valid"])] == [2, 1]

    env = tmp_path / "env" / "sst" / "trees"
    env.mkdir(parents=True)
    (env / "train.txt").write_text(TRAIN + TRAIN)
    (env / "dev.txt").write_text(DEV)
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "env"))
    assert len(load_sst_trees()["train"]) == 4


@pytest.mark.usefixtures("isolated", "no_hub")
def test_an_explicit_folder_is_final(tmp_path):
    with pytest.raises(TaggerError) as info:
        load_sst_trees(tmp_path / "nothing-here")
    assert "no such folder" in str(info.value) and "train.txt" in str(info.value)


def make_hub_repo(root: Path, datasets) -> Path:
    """A dataset laid out like the hub's parquet conversion of stanfordnlp/sst (config ptb)."""
    rows = {"train": TRAIN.split("\n")[:2], "validation": [DEV.strip()], "test": ["(0 (2 so) (0 bad))"]}
    folder = root / "ptb"
    folder.mkdir(parents=True)
    for split, trees in rows.items():
        datasets.Dataset.from_dict({"ptb_tree": trees}).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return root


def test_hub_path_through_datasets_then_cache(tmp_path, monkeypatch, hf_offline):
    repo = make_hub_repo(tmp_path / "repo", hf_offline)
    monkeypatch.setattr(tree_source, "HUB_CANDIDATES", ((str(tmp_path / "missing"), {}),
                                                        (str(repo), {"data_dir": "ptb"})))
    corpus = load_sst_trees(splits=("train", "valid", "test"))
    assert [t.to_string() for t in corpus["train"]] == TRAIN.split("\n")[:2]
    assert corpus["test"][0].root_label == 0
    cached = tmp_path / "cache" / "sst" / "trees"
    assert sorted(p.name for p in cached.iterdir()) == ["dev.txt", "test.txt", "train.txt"]

    def fail(*args, **kwargs):
        raise AssertionError("the hub must not be tried")

    monkeypatch.setattr("tagger.sources.load_from_hub", fail)
    again = load_sst_trees(splits=("train", "valid", "test"))
    assert [t.to_string() for t in again["valid"]] == [DEV.strip()]


def test_nothing_found_lists_every_place(tmp_path, monkeypatch, hf_offline):
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setattr(tree_source, "HUB_CANDIDATES", ((str(tmp_path / "no-repo"), {}),))
    with pytest.raises(TaggerError) as info:
        load_sst_trees()
    message = str(info.value)
    for place in (str(tmp_path / "env" / "sst" / "trees"), str(tmp_path / "cache" / "sst" / "trees"), "no-repo"):
        assert place in message
    assert "--data-dir" in message and "\n" not in message


def test_real_hub_ids_fail_fast_offline(hf_offline):
    with pytest.raises(TaggerError) as info:
        load_sst_trees()
    assert "stanfordnlp/sst" in str(info.value) and "offline" in str(info.value)


def test_tree_is_a_plain_value():
    assert Tree(["a"]) == Tree(["a"], [], [None])
