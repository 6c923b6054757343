"""Column-file reading and writing (tagger.io.conll) and the shipped demo corpus."""
from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from tagger.data import Sentence
from tagger.errors import TaggerError
from tagger.io.conll import read_columns, read_conll2003, write_conll

CONLL_IOB1 = """\
-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

Kessler NNP I-NP I-ORG
Bank NNP I-NP I-ORG
Vantara NNP I-NP B-ORG
talks NNS I-NP O
"""


def write(tmp_path: Path, text: str | bytes, name: str = "data.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_conll2003_iob1_to_bio(tmp_path):
    sents = read_conll2003(write(tmp_path, CONLL_IOB1))
    assert [s.words for s in sents] == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
        ["Kessler", "Bank", "Vantara", "talks"],
    ]
    assert sents[0].tags["ner"] == ["B-ORG", "O", "B-MISC", "O", "O"]
    assert sents[0].tags["pos"] == ["NNP", "VBZ", "JJ", "NN", "."]
    assert sents[0].tags["chunk"] == ["B-NP", "B-VP", "B-NP", "I-NP", "O"]
    assert sents[1].tags["ner"] == ["B-PER", "I-PER"]
    # adjacent entities of one type: the IOB1 B- splits them
    assert sents[2].tags["ner"] == ["B-ORG", "I-ORG", "B-ORG", "O"]
    assert set(sents[0].tags) == {"pos", "chunk", "ner"}


def test_bio_input_kept(tmp_path):
    text = "Ann B-PER\nLee I-PER\nmet O\nBob B-PER\n\nIn O\nParis B-LOC\n"
    sents = read_columns(write(tmp_path, text))
    assert sents[0].tags == {"ner": ["B-PER", "I-PER", "O", "B-PER"]}
    assert sents[1].tags == {"ner": ["O", "B-LOC"]}
    # strict BIO accepts it too
    assert read_columns(write(tmp_path, text), scheme="bio")[0].tags["ner"] == ["B-PER", "I-PER", "O", "B-PER"]


def test_bioes_input(tmp_path):
    text = "Ann B-PER\nMary I-PER\nLee E-PER\nmet O\nBob S-PER\nSue S-PER\n"
    for scheme in ("auto", "bioes"):
        sents = read_columns(write(tmp_path, text), scheme=scheme)
        assert sents[0].tags["ner"] == ["B-PER", "I-PER", "I-PER", "O", "B-PER", "B-PER"]


def test_strict_bio_rejects_iob1_with_line(tmp_path):
    text = "A O\nB O\n\nEU I-ORG\nsays O\n"
    with pytest.raises(TaggerError) as info:
        read_columns(write(tmp_path, text), scheme="bio")
    assert info.value.line == 4
    assert str(info.value).startswith(f"{tmp_path / 'data.txt'}:4: ")
    assert "I-ORG" in str(info.value)
    # the same file read as IOB1 / auto is fine
    assert read_columns(write(tmp_path, text), scheme="iob1")[1].tags["ner"] == ["B-ORG", "O"]


def test_tabs_spaces_crlf_and_bom(tmp_path):
    text = "\ufeff-DOCSTART-\t-X- -X-\tO\r\n\r\nEU\tNNP  I-NP\tI-ORG\r\nsays VBZ\tI-VP O\r\n\r\n"
    sents = read_conll2003(write(tmp_path, text.encode("utf-8")))
    assert len(sents) == 1
    assert sents[0].words == ["EU", "says"]
    assert sents[0].tags["ner"] == ["B-ORG", "O"]
    # a BOM in front of a data line must not end up in the first word
    sents = read_columns(write(tmp_path, "\ufeffZürich B-LOC\r\n".encode("utf-8")))
    assert sents[0].words == ["Zürich"]


def test_column_count_mismatch_names_line(tmp_path):
    text = "-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP\n"
    path = write(tmp_path, text)
    with pytest.raises(TaggerError) as info:
        read_conll2003(path)
    assert str(info.value) == f"{path}:4: expected 4 columns, found 3"
    # without expected_columns the first data line sets the count
    with pytest.raises(TaggerError, match=r":3: expected 2 columns, found 3"):
        read_columns(write(tmp_path, "a O\nb O\nc X O\n"))
    # conll2003 insists on 4 even when the file is consistent, and says how to read it instead
    with pytest.raises(TaggerError) as info:
        read_conll2003(write(tmp_path, "a O\nb O\n"))
    assert str(info.value).endswith(":1: expected 4 columns, found 2; for a file of words and tags, "
                                    "use --format column --word-col 0 --tag-col -1")


def test_invalid_tag_names_line(tmp_path):
    text = "John NNP I-NP I-PER\nsays VBZ I-VP O\n\nin IN I-PP O\nRome NNP I-NP X-PER\n"
    path = write(tmp_path, text)
    with pytest.raises(TaggerError) as info:
        read_conll2003(path)
    assert info.value.line == 5
    assert str(info.value).startswith(f"{path}:5: invalid tag 'X-PER'")


def test_pos_column_not_validated(tmp_path):
    sents = read_columns(write(tmp_path, "a DT X\nb NN Y\n"), columns={"pos": 1, "other": 2}, span_tasks=set())
    assert sents[0].tags == {"pos": ["DT", "NN"], "other": ["X", "Y"]}


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n", "-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n"])
def test_no_sentences(tmp_path, text):
    with pytest.raises(TaggerError, match="no sentences found"):
        read_conll2003(write(tmp_path, text))


def test_not_utf8(tmp_path):
    path = write(tmp_path, b"EU NNP I-NP I-ORG\nM\xfcnchen NNP I-NP I-LOC\n")
    with pytest.raises(TaggerError) as info:
        read_conll2003(path)
    assert info.value.line == 2
    assert "not valid UTF-8" in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(TaggerError, match="not found"):
        read_conll2003(tmp_path / "nope.txt")


def test_column_out_of_range(tmp_path):
    with pytest.raises(TaggerError, match="column 3 for task 'ner' does not exist"):
        read_columns(write(tmp_path, "a O\n"), columns={"ner": 3})


def test_long_sentence_and_limit(tmp_path):
    n = 50_000
    text = "".join(f"w{i} NN I-NP {'I-PER' if i % 7 == 0 else 'O'}\n" for i in range(n))
    path = write(tmp_path, text)
    start = time.perf_counter()
    sents = read_conll2003(path)
    assert time.perf_counter() - start < 5
    assert len(sents) == 1 and len(sents[0]) == n
    assert sents[0].tags["ner"][:2] == ["B-PER", "O"]
    with pytest.raises(TaggerError, match="longer than the limit of 100 tokens"):
        read_columns(path, max_sentence_len=100)


def test_generic_two_column_tab_file(tmp_path):
    # WNUT-style: word<TAB>tag, BIO
    text = "@paul\tO\nloves\tO\nNew\tB-location\nYork\tI-location\n\nok\tO\n"
    sents = read_columns(write(tmp_path, text), word_col=0, columns={"ner": 1})
    assert sents[0].words == ["@paul", "loves", "New", "York"]
    assert sents[0].tags == {"ner": ["O", "O", "B-location", "I-location"]}
    # tag first, word second
    sents = read_columns(write(tmp_path, "B-X a\nI-X b\n"), word_col=1, columns={"ner": 0})
    assert sents[0].words == ["a", "b"] and sents[0].tags["ner"] == ["B-X", "I-X"]


def test_write_conll_round_trip(tmp_path):
    sents = read_conll2003(write(tmp_path, CONLL_IOB1))
    out = tmp_path / "out.txt"
    write_conll(sents, out, tasks=("pos", "chunk", "ner"), docstart=True)
    assert out.read_text(encoding="utf-8").startswith("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\n")
    assert read_conll2003(out) == sents


def test_write_conll_gold_pred_to_file_object():
    sents = [Sentence(["Ann", "ran"], {"ner": ["B-PER", "O"]}), Sentence(["Go"], {"ner": ["O"]})]
    buf = io.StringIO()
    write_conll(sents, buf, tasks=["ner"], pred={"ner": [["B-PER", "B-LOC"], ["O"]]})
    assert buf.getvalue() == "Ann B-PER B-PER\nran O B-LOC\n\nGo O O\n\n"
    with pytest.raises(TaggerError, match="no 'pos' tags"):
        write_conll(sents, io.StringIO(), tasks=["pos"])


DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
DEMO_COUNTS = {"train": (150, 1703), "valid": (40, 464), "test": (40, 459)}


@pytest.mark.parametrize("split", sorted(DEMO_COUNTS))
def test_demo_files(split):
    path = DEMO / f"{split}.txt"
    assert path.stat().st_size < 60_000
    sents = read_conll2003(path)
    assert (len(sents), sum(map(len, sents))) == DEMO_COUNTS[split]
    types = set()
    for s in sents:
        assert len(s.tags["ner"]) == len(s.words) == len(s.tags["pos"]) == len(s.tags["chunk"])
        prev = "O"
        for tag in s.tags["ner"]:
            assert tag == "O" or tag[:2] in ("B-", "I-")
            if tag.startswith("I-"):
                assert prev != "O" and prev[2:] == tag[2:]
            prev = tag
            types.add(tag[2:])
    assert types - {""} == {"PER", "ORG", "LOC", "MISC"}


def test_demo_train_has_adjacent_same_type_entities():
    """The raw file is IOB1 and uses B- to split two adjacent entities of one type."""
    rows = [line.split() for line in (DEMO / "train.txt").read_text(encoding="utf-8").splitlines()]
    assert any(len(row) == 4 and row[3].startswith("B-") for row in rows)
