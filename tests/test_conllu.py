"""CoNLL-U reading and writing (tagger.io.conllu): the samples in data/ud, every error case, round trips."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from tagger.data import Sentence
from tagger.errors import TaggerError
from tagger.io.conllu import RAW_KEY, XPOS, read_conllu, surface_tokens, write_conllu

ROOT = Path(__file__).resolve().parents[1]
UD = ROOT / "data" / "ud"
SAMPLES = sorted(UD.glob("*.conllu"))


def row(ident: str, form: str, upos: str = "NOUN", xpos: str = "NN", lemma: str | None = None, misc: str = "_") -> str:
    return "\t".join([ident, form, lemma or form.lower(), upos, xpos, "_", "_", "_", "_", misc])


def write(tmp_path: Path, lines: list[str], name: str = "x.conllu") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = [
    "# sent_id = s1",
    "# text = I don't know.",
    row("1", "I", "PRON", "PRP", "I"),
    row("2-3", "don't", "_", "_", "_"),
    row("2", "do", "AUX", "VBP"),
    row("3", "n't", "PART", "RB", "not"),
    row("4", "know", "VERB", "VB", misc="SpaceAfter=No"),
    row("5", ".", "PUNCT", "."),
    "",
    "# sent_id = s2",
    row("1", "Mia", "PROPN", "NNP", "Mia"),
    row("2", "ordered", "VERB", "VBD", "order"),
    row("3", "tea", "NOUN", "NN"),
    row("4", "and", "CCONJ", "CC"),
    row("5", "Leo", "PROPN", "NNP", "Leo"),
    row("5.1", "ordered", "VERB", "VBD", "order"),
    row("5.2", "drank", "VERB", "VBD", "drink"),
    row("6", "coffee", "NOUN", "NN"),
    "",
    row("1", "Call", "VERB", "VB"),
    row("2", "555 0199", "NUM", "CD"),
    row("3", "_", "SYM", "NFP", "_"),
    "",
]


# -- the shipped samples -------------------------------------------------------


def test_samples_exist_and_cover_every_case():
    assert [p.name for p in SAMPLES] == ["en_sample-ud-dev.conllu", "en_sample-ud-test.conllu", "en_sample-ud-train.conllu"]
    text = "".join(p.read_text(encoding="utf-8") for p in SAMPLES)
    lines = text.splitlines()
    ids = [line.split("\t")[0] for line in lines if line and not line.startswith("#")]
    assert any("-" in i for i in ids)  # multiword tokens
    assert any("." in i for i in ids)  # empty nodes
    assert "# sent_id = " in text and "# text = " in text and "# newdoc id = " in text
    assert any(line.split("\t")[1] == "_" for line in lines if line and not line.startswith("#"))  # "_" as a form
    assert any(" " in line.split("\t")[1] for line in lines if line and not line.startswith("#"))  # space in FORM


def test_sample_sizes_and_tags():
    train = read_conllu(UD / "en_sample-ud-train.conllu", ("upos", "xpos"))
    dev = read_conllu(UD / "en_sample-ud-dev.conllu")
    assert (len(train), len(dev)) == (60, 20)
    upos = {t for s in train for t in s.tags["upos"]}
    assert upos <= {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
                    "PUNCT", "SCONJ", "SYM", "VERB", "X"}
    assert {"NN", "VBD", "PRP$", "-LRB-"} <= {t for s in train for t in s.tags["xpos"]}
    assert set(dev[0].tags) == {"upos"}
    for s in train:
        assert len(s.tags["upos"]) == len(s.tags["xpos"]) == len(s.words)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_round_trip_exactly(path, tmp_path):
    sentences = read_conllu(path, ("upos", "xpos"))
    out = tmp_path / "out.conllu"
    write_conllu(sentences, [s.tags for s in sentences], out)
    assert out.read_bytes() == path.read_bytes()


# -- reading -------------------------------------------------------------------


def test_multiword_tokens_empty_nodes_and_comments(tmp_path):
    first, second, third = read_conllu(write(tmp_path, GOOD), ("upos", "xpos"))
    assert first.words == ["I", "do", "n't", "know", "."]
    assert first.tags == {"upos": ["PRON", "AUX", "PART", "VERB", "PUNCT"], "xpos": ["PRP", "VBP", "RB", "VB", "."]}
    assert first.meta["sent_id"] == "s1" and first.meta["text"] == "I don't know."
    assert surface_tokens(first) == [("I", 0, 1), ("don't", 1, 3), ("know", 3, 4), (".", 4, 5)]
    assert second.words == ["Mia", "ordered", "tea", "and", "Leo", "coffee"]  # empty nodes skipped
    assert second.meta["sent_id"] == "s2" and "text" not in second.meta
    assert third.words == ["Call", "555 0199", "_"]  # spaces inside FORM; "_" as a word
    assert third.tags["upos"] == ["VERB", "NUM", "SYM"]
    assert set(third.meta) == {RAW_KEY}
    assert surface_tokens(Sentence(["a", "b"])) == [("a", 0, 1), ("b", 1, 2)]


def test_bom_crlf_and_missing_final_blank_line(tmp_path):
    path = tmp_path / "crlf.conllu"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(GOOD[:-1]).encode("utf-8"))
    sentences = read_conllu(path)
    assert [s.words for s in sentences] == [s.words for s in read_conllu(write(tmp_path, GOOD))]
    out = io.StringIO()
    write_conllu(sentences, None, out)
    assert out.getvalue() == "\n".join(GOOD) + "\n"  # comes back as clean LF UTF-8


def test_underscore_tags_are_kept(tmp_path):
    (sent,) = read_conllu(write(tmp_path, [row("1", "Hi", "INTJ", "_"), row("2", "!", "_", "_"), ""]), ("upos", "xpos"))
    assert sent.tags == {"upos": ["INTJ", "_"], "xpos": ["_", "_"]}


def test_field_names_are_checked(tmp_path):
    with pytest.raises(TaggerError, match="unknown CoNLL-U field 'lemma'"):
        read_conllu(write(tmp_path, GOOD), ("lemma",))


def test_max_sentence_len(tmp_path):
    with pytest.raises(TaggerError, match="longer than the limit of 4 words") as info:
        read_conllu(write(tmp_path, GOOD), max_sentence_len=4)
    assert info.value.line == 8  # the fifth word


BROKEN = {
    "nine fields": ([row("1", "a"), "\t".join(["2", "b", "b", "X", "X", "_", "_", "_", "_"])], 2,
                    "expected 10 TAB-separated fields, found 9"),
    "spaces for tabs": ([row("1", "a"), "2 b b X X _ _ _ _ _"], 2, "found 1 (fields are separated by TABs"),
    "eleven fields": ([row("1", "a") + "\t_"], 1, "found 11"),
    "empty field": ([row("1", "a").replace("\tNOUN\t", "\t\t")], 1, "field UPOS is empty"),
    "space around a tag": ([row("1", "a", upos="NOUN ")], 1, "field UPOS 'NOUN ' has leading or trailing spaces"),
    "non-integer id": ([row("1", "a"), row("two", "b")], 2, "ID 'two' is not a word number"),
    "zero id": ([row("0", "a")], 1, "ID '0' is not a word number"),
    "not starting at 1": (["# sent_id = x", row("2", "a"), row("3", "b")], 2,
                          "the first word ID of a sentence must be 1, found 2"),
    "out of order": ([row("1", "a"), row("2", "b"), row("4", "c")], 3,
                     "word IDs must be consecutive: expected 3 after 2, found 4"),
    "repeated id": ([row("1", "a"), row("1", "b")], 2, "expected 2 after 1, found 1 (is a blank line missing"),
    "missing blank line": ([row("1", "a"), row("2", "b"), "# sent_id = 2", row("1", "c")], 3,
                           "comment line inside a sentence"),
    "backwards range": ([row("1", "a"), row("3-2", "bc", "_", "_")], 2, "bad multiword token range 3-2"),
    "one-word range": ([row("1-1", "a", "_", "_"), row("1", "a")], 1, "bad multiword token range 1-1"),
    "range after its word": ([row("1", "a"), row("2", "b"), row("2-3", "bc", "_", "_"), row("3", "c")], 3,
                             "range 2-3 must come just before word 2, but the next word is 3"),
    "overlapping ranges": ([row("1-2", "ab", "_", "_"), row("1", "a"), row("2-3", "bc", "_", "_"), row("2", "b"),
                            row("3", "c")], 3, "range 2-3 overlaps the range ending at word 2"),
    "range past the end": ([row("1", "a"), row("2-3", "bc", "_", "_"), row("2", "b"), "", row("1", "x")], 2,
                           "range ends at word 3, but the sentence has only 2 words"),
    "malformed range": ([row("1-x", "a")], 1, "ID '1-x' is not a word number"),
    "empty node out of place": ([row("1", "a"), row("2", "b"), row("1.1", "e")], 3,
                                "empty node 1.1 out of order: after word 2 the next empty node is 2.1"),
    "empty node skipping": ([row("1", "a"), row("1.2", "e")], 2, "after word 1 the next empty node is 1.1"),
    "only empty nodes": ([row("0.1", "e"), ""], 1, "sentence has no words"),
    "dangling comments": ([row("1", "a"), "", "# sent_id = orphan", "# text = nothing"], 3,
                          "comment lines not followed by a sentence"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_files_name_file_and_line(tmp_path, name):
    lines, line, message = BROKEN[name]
    path = write(tmp_path, lines, "broken.conllu")
    with pytest.raises(TaggerError) as info:
        read_conllu(path)
    err = info.value
    assert (err.path, err.line) == (str(path), line), str(err)
    assert message in err.message
    assert str(err).startswith(f"{path}:{line}: ") and "\n" not in str(err)


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes(("\n".join(GOOD[:3]) + "\n").encode("utf-8") + row("2", "café").encode("latin-1") + b"\n")
    with pytest.raises(TaggerError, match="not valid UTF-8") as info:
        read_conllu(path)
    assert info.value.line == 4


def test_missing_empty_and_directory(tmp_path):
    with pytest.raises(TaggerError, match="file not found"):
        read_conllu(tmp_path / "nope.conllu")
    with pytest.raises(TaggerError, match="is a directory"):
        read_conllu(tmp_path)
    (tmp_path / "empty.conllu").write_text("\n\n")
    with pytest.raises(TaggerError, match="no sentences found"):
        read_conllu(tmp_path / "empty.conllu")


# -- writing -------------------------------------------------------------------


def test_writer_fills_only_upos_and_xpos(tmp_path):
    sentences = read_conllu(write(tmp_path, GOOD), ())
    predictions = [{"upos": ["X"] * len(s), "xpos": ["Y"] * len(s), "ner": ["O"] * len(s)} for s in sentences]
    out = io.StringIO()
    write_conllu(sentences, predictions, out)
    written = out.getvalue().split("\n")
    assert len(written) == len(GOOD) + 1
    for before, after in zip(GOOD, written):
        cols_before, cols_after = before.split("\t"), after.split("\t")
        if before.startswith("#") or not before or "-" in cols_before[0] or "." in cols_before[0]:
            assert after == before  # comments, ranges, empty nodes, blank lines untouched
        else:
            assert cols_after[3:5] == ["X", "Y"]
            assert cols_after[:3] + cols_after[5:] == cols_before[:3] + cols_before[5:]
    again = read_conllu(write(tmp_path, written[:-1], "again.conllu"), ("upos", "xpos"))  # still valid CoNLL-U
    assert [s.tags["upos"] for s in again] == [["X"] * len(s) for s in sentences]


def test_writer_columns_mapping_and_partial_predictions(tmp_path):
    sentences = read_conllu(write(tmp_path, GOOD), ("upos", "xpos"))
    out = io.StringIO()
    write_conllu(sentences, [{"pos": ["Z"] * len(s)} for s in sentences], out, columns={"pos": XPOS})
    again = read_conllu(write(tmp_path, out.getvalue().rstrip("\n").split("\n"), "pos.conllu"), ("upos", "xpos"))
    assert [s.tags["upos"] for s in again] == [s.tags["upos"] for s in sentences]  # UPOS as in the input
    assert [set(s.tags["xpos"]) for s in again] == [{"Z"}] * 3


def test_writer_makes_fresh_lines_for_other_sentences(tmp_path):
    sentences = [
        Sentence(["Hello", "there", "!"], {"upos": ["INTJ", "ADV", "PUNCT"]}, {"sent_id": "a", "text": "Hello there!"}),
        Sentence(["New York"], {"upos": ["PROPN"]}),
    ]
    path = tmp_path / "fresh.conllu"
    write_conllu(sentences, None, path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# sent_id = a\n# text = Hello there!\n1\tHello\t_\tINTJ\t_\t_\t_\t_\t_\t_\n")
    back = read_conllu(path)
    assert [(s.words, s.tags) for s in back] == [(s.words, s.tags) for s in sentences]
    assert back[0].meta["sent_id"] == "a"


def test_writer_checks_lengths(tmp_path):
    sentences = read_conllu(write(tmp_path, GOOD))
    with pytest.raises(ValueError, match="2 predictions for 3 sentences"):
        write_conllu(sentences, [{}, {}], io.StringIO())
    with pytest.raises(ValueError, match="sentence 1: 2 upos labels for 5 words"):
        write_conllu(sentences, [{"upos": ["X", "Y"]}, {}, {}], io.StringIO())
