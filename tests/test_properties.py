"""Property-based tests (hypothesis) on the readers and the tag-scheme conversions.

* Random bytes (pure noise, and noise built from the pieces column and CoNLL-U
  files are made of) into the readers: they return well-formed sentences or
  raise ``TaggerError``; nothing else ever escapes.
* Random well-formed corpora (unicode words; valid IOB1, BIO or BIOES tags
  drawn from random spans), written as column files with random tab/space
  separators, LF or CRLF line ends and an optional BOM, read back: the words
  are the same and the tags are the BIO encoding of the spans, whether the
  scheme is declared or detected.
* Scheme conversions round-trip in the directions ``tests/test_schemes.py``
  does not already cover (there: BIO -> BIOES -> BIO, spans -> BIO -> spans,
  IOB1 -> BIO validity).

Example counts are set per test with ``settings(max_examples=...)``; the file
runs in well under 30 seconds.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tagger.data import Sentence
from tagger.errors import TaggerError
from tagger.io.conll import read_columns, read_conll2003
from tagger.io.conllu import read_conllu
from tagger.schemes import (
    bio_to_bioes,
    bioes_to_bio,
    detect_scheme,
    iob1_to_bio,
    repair_bio,
    spans,
    tags_from_spans,
    to_bio,
    validate_bio,
)

# Example counts, reported by the lead in the closing note of issue 6.
N_RANDOM_BYTES = 300
N_COLUMN_BYTES = 400
N_CONLLU_BYTES = 300
N_CORPORA = 150
N_CONVERSIONS = 300

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def write(folder: Path, data: bytes, name: str = "data.txt") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def check_sentences(sentences: list[Sentence], span_tasks: set[str]) -> None:
    """What any successful read must give: non-empty sentences, one tag per word, BIO span tags."""
    assert sentences
    for s in sentences:
        assert s.words and all(s.words)
        for task, tags in s.tags.items():
            assert len(tags) == len(s.words)
            if task in span_tasks:
                validate_bio(tags)


# -- random bytes into the readers ----------------------------------------------------

# Files that look like column / CoNLL-U files, with mistakes mixed in, so the noise
# reaches deep into the readers (columns, tags, scheme detection, IDs) instead of
# failing on line 1; a pure-noise strategy is used beside them.
NOISE = st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\xef\xbb\xbf", b"\xed\xa0\x80", b"\x00", b"\r",
                         "\u2028".encode(), "\x85".encode(), "\u00a0".encode(), b"\x0b"])
WORD = st.sampled_from(["EU", "Peter", "é", "日本", "x", "-X-", "O", "B-PER"])
TAG = st.sampled_from(["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "E-PER", "S-LOC", "B-NP", "I-NP"])
BAD_TAG = st.sampled_from(["B-", "X-PER", "-", "NNP", "I", "B-PER-", "b-per"])


@st.composite
def column_bytes(draw) -> bytes:
    ncols = draw(st.integers(1, 4))
    lines = []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.sampled_from(["row"] * 12 + ["blank"] * 4 + ["docstart", "odd_row", "bad_tag"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", " ", "\t"])))
        elif kind == "docstart":
            lines.append(" ".join(["-DOCSTART-"] + ["-X-"] * (ncols - 2) + ["O"] * (ncols > 1)))
        else:
            n = ncols if kind != "odd_row" else draw(st.integers(1, 5))
            fields = [draw(WORD)] + draw(st.lists(TAG, min_size=n - 1, max_size=n - 1))
            if kind == "bad_tag":
                fields[-1] = draw(BAD_TAG)
            lines.append("".join(f + draw(st.sampled_from([" ", "\t", "  "])) for f in fields).rstrip())
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))
    data = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8")
    if draw(st.integers(0, 5)) == 0:  # now and then, a broken byte somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(NOISE) + data[at:]
    return data


@st.composite
def conllu_bytes(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        for comment in draw(st.lists(st.sampled_from(["# sent_id = a", "# text = The dog", "#", "# x"]), max_size=2)):
            lines.append(comment)
        word = 0
        for _ in range(draw(st.integers(0, 6))):
            kind = draw(st.sampled_from(["word"] * 25 + ["range", "empty", "wrong_id", "short", "blank_field"]))
            ident = {
                "word": str(word + 1), "range": f"{word + 1}-{word + draw(st.integers(0, 3))}",
                "empty": f"{word}.{draw(st.integers(0, 2))}", "wrong_id": draw(st.sampled_from(["0", "01", "x", "3"])),
            }.get(kind, str(word + 1))
            if kind in ("word", "wrong_id", "short", "blank_field"):
                word += 1
            cols = [ident, draw(st.sampled_from(["The", "dog", "New York", "é"])), "_",
                    draw(st.sampled_from(["NOUN", "DET", "_"])), draw(st.sampled_from(["NN", "DT", "_"])),
                    "_", "0", "root", "_", "_"]
            if kind == "short":
                cols = cols[: draw(st.integers(1, 9))]
            if kind == "blank_field":
                cols[draw(st.integers(0, 9))] = draw(st.sampled_from(["", " _"]))
            lines.append("\t".join(cols))
        lines.append("")
    data = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + draw(st.sampled_from(["\n", "\r\n"])).join(lines).encode()
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(NOISE) + data[at:]
    return data


SCHEME_CHOICES = st.sampled_from(["auto", "iob1", "bio", "iob2", "bioes"])


@settings(max_examples=N_RANDOM_BYTES, **SETTINGS)
@given(data=st.binary(max_size=400), scheme=SCHEME_CHOICES)
def test_random_bytes_parse_or_tagger_error(folder, data, scheme):
    path = write(folder, data)
    for read in (
        lambda: read_conll2003(path),
        lambda: read_columns(path, scheme=scheme),
        lambda: read_columns(path, columns={"ner": 1, "pos": -1}, span_tasks={"ner"}, scheme=scheme),
    ):
        try:
            sentences = read()
        except TaggerError:
            continue
        check_sentences(sentences, {"ner", "chunk"})


@settings(max_examples=N_COLUMN_BYTES, **SETTINGS)
@given(data=column_bytes(), scheme=SCHEME_CHOICES, word_col=st.sampled_from([0, 0, 0, 1, -5]),
       tag_col=st.sampled_from([-1, -1, -1, 1, 3, 5]),
       limit=st.none() | st.integers(1, 5))
def test_column_like_bytes_parse_or_tagger_error(folder, data, scheme, word_col, tag_col, limit):
    path = write(folder, data)
    try:
        check_sentences(read_conll2003(path), {"ner", "chunk"})
    except TaggerError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
    try:
        sentences = read_columns(path, word_col=word_col, columns={"ner": tag_col}, scheme=scheme,
                                 max_sentence_len=limit)
    except TaggerError as err:
        assert "\n" not in str(err)
        event("read_columns: TaggerError")
        return
    event("read_columns: parsed")
    check_sentences(sentences, {"ner"})
    if limit is not None:
        assert max(len(s) for s in sentences) <= limit


@settings(max_examples=N_CONLLU_BYTES, **SETTINGS)
@given(data=conllu_bytes() | st.binary(max_size=200), fields=st.sampled_from([(), ("upos",), ("upos", "xpos")]))
def test_conllu_like_bytes_parse_or_tagger_error(folder, data, fields):
    path = write(folder, data, "data.conllu")
    try:
        sentences = read_conllu(path, fields)
    except TaggerError as err:
        assert "\n" not in str(err)
        event("read_conllu: TaggerError")
        return
    event("read_conllu: parsed")
    check_sentences(sentences, set())
    assert all(set(s.tags) == set(fields) for s in sentences)


# -- random well-formed corpora round-trip ---------------------------------------------

TYPES = st.sampled_from(["PER", "LOC", "ORG", "MISC", "B-X", "ÉTÉ"])  # types may hold dashes and accents

# Any non-whitespace character (str.split() is the column separator, so a word can hold
# no whitespace at all) except U+FEFF, which at the very start of a file is a BOM.
WORD_CHARS = st.characters(exclude_categories=("Cs",)).filter(lambda c: not c.isspace() and c != "\ufeff")
WORDS = st.text(WORD_CHARS, min_size=1, max_size=8).filter(lambda w: w != "-DOCSTART-")


@st.composite
def sentence_spans(draw) -> tuple[list[str], list[tuple[str, int, int]]]:
    """Words and non-overlapping typed spans over them."""
    words = draw(st.lists(WORDS, min_size=1, max_size=12))
    cuts = sorted(draw(st.sets(st.integers(0, len(words)), max_size=8)))
    found = [(draw(TYPES), a, b) for a, b in zip(cuts[::2], cuts[1::2])]
    # adjacent entities of the same type are the case IOB1 needs B- for
    return words, found


def encode_bioes(found: list[tuple[str, int, int]], n: int) -> list[str]:
    tags = ["O"] * n
    for type_, a, b in found:
        if b - a == 1:
            tags[a] = f"S-{type_}"
        else:
            tags[a], tags[b - 1] = f"B-{type_}", f"E-{type_}"
            tags[a + 1:b - 1] = [f"I-{type_}"] * (b - a - 2)
    return tags


def encode_iob1(found: list[tuple[str, int, int]], n: int) -> list[str]:
    """IOB1: every entity token is I-, except the first token of an entity that
    directly follows another entity of the same type, which is B-."""
    tags = ["O"] * n
    ends = {(b, type_) for type_, _, b in found}
    for type_, a, b in found:
        tags[a:b] = [f"I-{type_}"] * (b - a)
        if (a, type_) in ends:
            tags[a] = f"B-{type_}"
    return tags


ENCODERS = {
    "bio": lambda found, n: tags_from_spans(found, n),
    "iob1": encode_iob1,
    "bioes": encode_bioes,
}


@st.composite
def layouts(draw) -> dict:
    return {
        "seps": draw(st.lists(st.sampled_from([" ", "\t", "  ", " \t ", "\t\t"]), min_size=1, max_size=4)),
        "crlf": draw(st.booleans()),
        "bom": draw(st.booleans()),
        "docstart": draw(st.booleans()),
        "blank_lines": draw(st.integers(1, 3)),
        "trailing": draw(st.booleans()),
    }


def render(rows_per_sentence: list[list[list[str]]], layout: dict, seed: int) -> bytes:
    seps = layout["seps"]
    lines = []
    if layout["docstart"]:
        ncols = len(rows_per_sentence[0][0])
        lines += [" ".join(["-DOCSTART-"] + ["-X-"] * (ncols - 2) + ["O"] * (ncols > 1)), ""]
    k = seed
    for rows in rows_per_sentence:
        for cols in rows:
            line = ""
            for c in cols:
                line += c + seps[k % len(seps)]
                k += 1
            lines.append(line if layout["trailing"] else line.rstrip(" \t"))
        lines += [""] * layout["blank_lines"]
    newline = "\r\n" if layout["crlf"] else "\n"
    return (b"\xef\xbb\xbf" if layout["bom"] else b"") + newline.join(lines).encode("utf-8")


@settings(max_examples=N_CORPORA, **SETTINGS)
@given(corpus=st.lists(sentence_spans(), min_size=1, max_size=6), scheme=st.sampled_from(sorted(ENCODERS)),
       layout=layouts(), declare=st.booleans(), seed=st.integers(0, 10))
def test_well_formed_corpus_round_trips(folder, corpus, scheme, layout, declare, seed):
    encoded = [ENCODERS[scheme](found, len(words)) for words, found in corpus]
    expected_bio = [tags_from_spans(found, len(words)) for words, found in corpus]

    # two columns: word and tag
    path = write(folder, render([[[w, t] for w, t in zip(words, tags)] for (words, _), tags in zip(corpus, encoded)],
                                layout, seed))
    sentences = read_columns(path, columns={"ner": 1}, scheme=scheme if declare else "auto")
    assert [s.words for s in sentences] == [words for words, _ in corpus]
    assert [s.tags["ner"] for s in sentences] == expected_bio

    # CoNLL-2003: word POS chunk NER, the chunk column in the same scheme
    rows = [[[w, "NN", t, t] for w, t in zip(words, tags)] for (words, _), tags in zip(corpus, encoded)]
    sentences = read_conll2003(write(folder, render(rows, layout, seed)), scheme=scheme if declare else "auto")
    assert [s.words for s in sentences] == [words for words, _ in corpus]
    assert [s.tags["ner"] for s in sentences] == expected_bio
    assert [s.tags["chunk"] for s in sentences] == expected_bio
    assert [s.tags["pos"] for s in sentences] == [["NN"] * len(words) for words, _ in corpus]


# -- scheme conversions -------------------------------------------------------------


@settings(max_examples=N_CONVERSIONS, **SETTINGS)
@given(case=sentence_spans())
def test_every_scheme_converts_to_the_same_bio(case):
    words, found = case
    n = len(words)
    bio = tags_from_spans(found, n)
    for scheme, encode in ENCODERS.items():
        tags = encode(found, n)
        assert to_bio(tags, scheme) == bio
        assert to_bio(tags, "auto") == bio  # detection never picks a scheme that changes the spans
    assert detect_scheme([encode_iob1(found, n)]) in ("iob1", "bio")
    assert detect_scheme([encode_bioes(found, n)]) in ("bioes", "bio")  # "bio" only when there are no spans
    assert iob1_to_bio(encode_iob1(found, n)) == bio


@settings(max_examples=N_CONVERSIONS, **SETTINGS)
@given(case=sentence_spans())
def test_bioes_to_bio_to_bioes_is_identity(case):
    words, found = case
    bioes = encode_bioes(found, len(words))
    assert bio_to_bioes(bioes_to_bio(bioes)) == bioes
    assert bio_to_bioes(tags_from_spans(found, len(words))) == bioes


@settings(max_examples=N_CONVERSIONS, **SETTINGS)
@given(tags=st.lists(st.one_of(st.just("O"), st.builds(lambda p, t: f"{p}-{t}", st.sampled_from("BI"), TYPES)),
                     max_size=15))
def test_conversions_are_idempotent_and_keep_lenient_spans(tags):
    fixed = repair_bio(tags)
    assert repair_bio(fixed) == fixed
    assert iob1_to_bio(fixed) == fixed
    assert to_bio(fixed, "bio") == fixed
    assert bioes_to_bio(bio_to_bioes(tags)) == fixed  # any BIO, even invalid, comes back repaired
    assert tags_from_spans(spans(fixed), len(fixed)) == fixed  # valid BIO is exactly its spans
    assert spans(fixed) == spans(tags, strict=False)
