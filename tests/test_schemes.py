import pytest
from hypothesis import given
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Tokens

from tagger.schemes import (
    bio_to_bioes,
    bioes_to_bio,
    detect_scheme,
    iob1_to_bio,
    is_span_labels,
    repair_bio,
    spans,
    split_tag,
    tags_from_spans,
    to_bio,
    transition_mask,
    validate_bio,
)


def t(s: str) -> list[str]:
    return s.split()


# --- split_tag -------------------------------------------------------------

def test_split_tag():
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("I-LOC") == ("I", "LOC")
    assert split_tag("S-ORG") == ("S", "ORG")
    assert split_tag("E-MISC") == ("E", "MISC")
    assert split_tag("O") == ("O", None)
    assert split_tag("B-DATE-TIME") == ("B", "DATE-TIME")


@pytest.mark.parametrize("tag", ["X-PER", "B-", "PER", "", "O-PER", "b-PER", "-PER"])
def test_split_tag_malformed(tag):
    with pytest.raises(ValueError, match="malformed tag"):
        split_tag(tag)


def test_malformed_tags_raise_in_conversions():
    for fn in (repair_bio, iob1_to_bio, bio_to_bioes, bioes_to_bio, validate_bio, spans):
        with pytest.raises(ValueError):
            fn(t("O X-PER"))
    with pytest.raises(ValueError):
        detect_scheme([t("B-PER"), t("PER")])
    with pytest.raises(ValueError):
        to_bio(t("B-"), "auto")


# --- IOB1 -> BIO -------------------------------------------------------------

@pytest.mark.parametrize("iob1, bio", [
    # adjacent same-type entities are split by B-
    ("I-PER I-PER B-PER", "B-PER I-PER B-PER"),
    ("I-PER B-PER I-PER", "B-PER B-PER I-PER"),
    # different-type adjacency needs no B- in IOB1
    ("I-PER I-LOC", "B-PER B-LOC"),
    ("I-PER I-PER I-LOC I-LOC", "B-PER I-PER B-LOC I-LOC"),
    # entity at sentence start and after O
    ("I-ORG O I-ORG I-ORG", "B-ORG O B-ORG I-ORG"),
    # B- after O is not canonical IOB1 but means an entity start all the same
    ("O B-PER I-PER", "O B-PER I-PER"),
    ("O O", "O O"),
    ("", ""),
])
def test_iob1_to_bio(iob1, bio):
    assert iob1_to_bio(t(iob1)) == t(bio)
    assert to_bio(t(iob1), "iob1") == t(bio)


def test_iob1_rejects_bioes_prefixes():
    with pytest.raises(ValueError, match="not a BIO tag"):
        iob1_to_bio(t("S-PER"))


def test_repair_bio():
    assert repair_bio(t("O I-PER B-LOC I-PER")) == t("O B-PER B-LOC B-PER")
    assert repair_bio(t("B-PER I-PER")) == t("B-PER I-PER")


# --- BIO <-> BIOES -----------------------------------------------------------

@pytest.mark.parametrize("bio, bioes", [
    ("B-PER", "S-PER"),
    ("B-PER I-PER", "B-PER E-PER"),
    ("B-PER I-PER I-PER O", "B-PER I-PER E-PER O"),
    ("B-PER B-PER", "S-PER S-PER"),
    ("B-PER I-PER B-LOC O B-ORG", "B-PER E-PER S-LOC O S-ORG"),
    ("O O", "O O"),
    ("", ""),
])
def test_bio_bioes_round_trip(bio, bioes):
    assert bio_to_bioes(t(bio)) == t(bioes)
    assert bioes_to_bio(t(bioes)) == t(bio)
    assert to_bio(t(bioes), "bioes") == t(bio)


def test_bioes_to_bio_repairs_stray_continuations():
    assert bioes_to_bio(t("O E-PER B-PER E-LOC")) == t("O B-PER B-PER B-LOC")


def test_bio_to_bioes_repairs_invalid_input():
    assert bio_to_bioes(t("O I-PER I-PER")) == t("O B-PER E-PER")


# --- validation and detection -----------------------------------------------

def test_validate_bio():
    validate_bio(t("B-PER I-PER O B-LOC"))
    with pytest.raises(ValueError, match=r"'I-PER' at position 0 at sentence start"):
        validate_bio(t("I-PER"))
    with pytest.raises(ValueError, match=r"'I-LOC' at position 2 after 'I-PER'"):
        validate_bio(t("B-PER I-PER I-LOC"))
    with pytest.raises(ValueError, match="position 1"):
        validate_bio(t("O I-PER"))
    with pytest.raises(ValueError, match="not a BIO tag"):
        validate_bio(t("S-PER"))


def test_to_bio_strict_bio_and_unknown_scheme():
    assert to_bio(t("B-PER I-PER"), "bio") == t("B-PER I-PER")
    assert to_bio(t("B-PER I-PER"), "iob2") == t("B-PER I-PER")
    with pytest.raises(ValueError):
        to_bio(t("I-PER"), "bio")
    with pytest.raises(ValueError, match="unknown tag scheme"):
        to_bio(t("O"), "bilou")


def test_detect_scheme():
    assert detect_scheme([t("B-PER I-PER O"), t("O B-LOC")]) == "bio"
    # one IOB1 sentence makes the whole corpus IOB1
    assert detect_scheme([t("B-PER I-PER O"), t("O I-LOC")]) == "iob1"
    assert detect_scheme([t("I-PER I-LOC")]) == "iob1"
    assert detect_scheme([t("I-PER B-PER")]) == "iob1"
    assert detect_scheme([t("O I-LOC"), t("S-PER")]) == "bioes"
    assert detect_scheme([t("B-PER E-PER")]) == "bioes"
    assert detect_scheme([t("O O"), []]) == "bio"
    assert detect_scheme([]) == "bio"
    assert detect_scheme(iter([t("I-PER")])) == "iob1"


def test_to_bio_auto():
    assert to_bio(t("I-PER I-PER B-PER"), "auto") == t("B-PER I-PER B-PER")
    assert to_bio(t("S-PER O B-LOC E-LOC"), "auto") == t("B-PER O B-LOC I-LOC")
    assert to_bio(t("B-PER I-PER"), "auto") == t("B-PER I-PER")


# --- spans -------------------------------------------------------------------

def test_spans():
    tags = t("B-PER I-PER O B-LOC B-LOC I-LOC O")
    assert spans(tags) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6)]
    assert spans(tags, strict=False) == spans(tags)
    assert spans([]) == []
    assert spans(t("O O")) == []
    assert spans(t("B-PER")) == [("PER", 0, 1)]


@pytest.mark.parametrize("tags, strict, lenient", [
    ("I-PER I-PER O", [], [("PER", 0, 2)]),
    ("O I-PER", [], [("PER", 1, 2)]),
    ("B-PER I-LOC I-LOC", [("PER", 0, 1)], [("PER", 0, 1), ("LOC", 1, 3)]),
    ("B-PER I-PER I-LOC B-LOC", [("PER", 0, 2), ("LOC", 3, 4)],
     [("PER", 0, 2), ("LOC", 2, 3), ("LOC", 3, 4)]),
])
def test_spans_invalid_bio_matches_seqeval(tags, strict, lenient):
    tags = t(tags)
    assert spans(tags, strict=True) == strict
    assert spans(tags, strict=False) == lenient
    assert spans(tags, strict=True) == seqeval_strict(tags)
    assert spans(tags, strict=False) == seqeval_lenient(tags)


def test_tags_from_spans():
    assert tags_from_spans([("LOC", 3, 5), ("PER", 0, 1)], 6) == t("B-PER O O B-LOC I-LOC O")
    assert tags_from_spans([], 2) == t("O O")
    with pytest.raises(ValueError, match="overlaps"):
        tags_from_spans([("PER", 0, 2), ("LOC", 1, 3)], 4)
    with pytest.raises(ValueError, match="outside"):
        tags_from_spans([("PER", 2, 5)], 4)
    with pytest.raises(ValueError, match="empty"):
        tags_from_spans([("PER", 2, 2)], 4)


# --- transition masks ----------------------------------------------------------

def test_is_span_labels():
    assert is_span_labels(["O", "B-PER", "I-PER"])
    assert is_span_labels(["I-PER", "B-PER"])
    assert not is_span_labels(["NN", "VBD", "O"])
    assert not is_span_labels(["B", "I", "O"])
    assert not is_span_labels(["O", "B-PER", "S-PER"])
    assert not is_span_labels(["O"])
    assert not is_span_labels([])


def test_transition_mask_bio():
    labels = ["I-LOC", "O", "B-PER", "I-PER", "B-LOC"]
    start, allowed, end = transition_mask(labels)
    assert start == [False, True, True, False, True]
    assert end == [True] * 5
    T, F = True, False
    assert allowed == [
        # to:  I-LOC O  B-PER I-PER B-LOC      from:
        [T, T, T, F, T],  # I-LOC
        [F, T, T, F, T],  # O
        [F, T, T, T, T],  # B-PER
        [F, T, T, T, T],  # I-PER
        [T, T, T, F, T],  # B-LOC
    ]


@pytest.mark.parametrize("labels", [["NN", "VBD", "DT"], ["B", "I", "O"], ["O", "B-PER", "NN"]])
def test_transition_mask_non_span_labels_allow_everything(labels):
    n = len(labels)
    assert transition_mask(labels) == ([True] * n, [[True] * n for _ in range(n)], [True] * n)


# --- property tests ------------------------------------------------------------

TYPES = st.sampled_from(["PER", "LOC", "ORG"])


@st.composite
def bio_sequences(draw) -> list[str]:
    """Valid BIO: an I- only ever continues an entity of its own type."""
    tags: list[str] = []
    for _ in range(draw(st.integers(0, 15))):
        choice = draw(st.sampled_from(["O", "B", "I"]))
        prev = tags[-1] if tags else "O"
        if choice == "I" and prev != "O":
            tags.append("I-" + prev[2:])
        elif choice == "O":
            tags.append("O")
        else:
            tags.append("B-" + draw(TYPES))
    return tags


any_bio_tags = st.lists(st.one_of(st.just("O"), st.builds(lambda p, x: f"{p}-{x}", st.sampled_from("BI"), TYPES)),
                        max_size=15)


@st.composite
def span_lists(draw) -> tuple[list[tuple[str, int, int]], int]:
    length = draw(st.integers(0, 20))
    cuts = sorted(draw(st.sets(st.integers(0, length), max_size=10)))
    result = []
    for start, end in zip(cuts[::2], cuts[1::2]):
        result.append((draw(TYPES), start, end))
    return result, length


def seqeval_strict(tags: list[str]) -> list[tuple[str, int, int]]:
    return [(e.tag, e.start, e.end) for e in Tokens(tags, IOB2).entities]


def seqeval_lenient(tags: list[str]) -> list[tuple[str, int, int]]:
    # get_entities reports an inclusive end
    return [(type_, start, end + 1) for type_, start, end in get_entities(tags)]


@given(bio_sequences())
def test_bioes_round_trip_property(tags):
    bioes = bio_to_bioes(tags)
    assert bioes_to_bio(bioes) == tags
    assert detect_scheme([bioes]) in ("bioes", "bio")
    assert spans(bioes_to_bio(bioes)) == spans(tags)


@given(span_lists())
def test_spans_of_tags_from_spans(case):
    span_list, length = case
    tags = tags_from_spans(span_list, length)
    validate_bio(tags)
    assert spans(tags) == span_list
    assert spans(tags, strict=False) == span_list


@given(any_bio_tags)
def test_iob1_to_bio_output_is_valid_bio(tags):
    bio = iob1_to_bio(tags)
    validate_bio(bio)
    assert len(bio) == len(tags)
    # conversion only ever rewrites I- to B-
    assert all(a == b or (a.startswith("I-") and b == "B-" + a[2:]) for a, b in zip(tags, bio))


@given(bio_sequences())
def test_valid_bio_is_detected_as_bio(tags):
    assert detect_scheme([tags]) == "bio"
    assert to_bio(tags, "auto") == tags


@given(bio_sequences())
def test_spans_match_seqeval_on_valid_bio(tags):
    assert spans(tags, strict=True) == seqeval_strict(tags)
    assert spans(tags, strict=True) == seqeval_lenient(tags)


@given(any_bio_tags)
def test_spans_match_seqeval_on_any_bio(tags):
    assert spans(tags, strict=True) == seqeval_strict(tags)
    assert spans(tags, strict=False) == seqeval_lenient(tags)
    assert spans(tags, strict=False) == spans(repair_bio(tags), strict=True)


@given(any_bio_tags)
def test_transition_mask_accepts_exactly_valid_bio(tags):
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    start, allowed, end = transition_mask(labels)
    idx = [labels.index(tag) for tag in tags]
    ok = (not idx or start[idx[0]]) and all(allowed[a][b] for a, b in zip(idx, idx[1:]))
    try:
        validate_bio(tags)
        valid = True
    except ValueError:
        valid = False
    assert ok == valid
