"""The scheme tables: validation, conversion and CRF masks agree with each other and with hand-written answers."""
import itertools

import pytest
import torch

from tagger.nn.crf import CRF
from tagger.nn.decode import constrained_decode
from tagger.schemes import (
    BIOES,
    TABLES,
    allowed_transitions,
    bio_to_bioes,
    bioes_to_bio,
    convert,
    first_violation,
    iob1_to_bio,
    repair,
    scheme_named,
    tags_from_spans,
    to_bio,
    transition_mask,
    validate,
)

NAMES = ["bio", "iob1", "bioes", "io"]


def t(s: str) -> list[str]:
    return s.split()


def label_set(name: str) -> list[str]:
    """O and every prefix of the scheme over two types."""
    return ["O"] + [f"{p}-{x}" for x in "XY" for p in scheme_named(name).prefixes]


def all_sequences(labels: list[str], longest: int = 4):
    for n in range(longest + 1):
        yield from itertools.product(labels, repeat=n)


def admitted(masks, labels: list[str], tags) -> bool:
    start, allowed, end = masks
    idx = [labels.index(tag) for tag in tags]
    return not idx or (start[idx[0]] and end[idx[-1]] and all(allowed[a][b] for a, b in zip(idx, idx[1:])))


@pytest.mark.parametrize("name", NAMES)
def test_masks_validator_and_spelling_accept_the_same_sequences(name):
    """Brute force over every sequence of length <= 4: the CRF masks, the validator
    and "reading then spelling gives the tags back" (another part of the table) agree."""
    labels = label_set(name)
    masks = allowed_transitions(labels, name)
    n_valid = 0
    for tags in all_sequences(labels):
        tags = list(tags)
        valid = first_violation(tags, name) is None
        assert admitted(masks, labels, tags) == valid, tags
        assert (repair(tags, name) == tags) == valid, tags
        n_valid += valid
    # Counted by hand: a lossless scheme spells each set of typed entities once; with
    # c_n sequences of length n outside an entity and o_n inside one of a given type,
    # c_n = 3 c_{n-1} + 2 o_{n-1} and o_n = c_{n-1} + o_{n-1}: 1, 3, 11, 41, 153.
    # IO allows every sequence of its 3 labels.
    assert n_valid == (1 + 3 + 9 + 27 + 81 if name == "io" else 1 + 3 + 11 + 41 + 153)


def test_hand_written_masks_bioes():
    labels = t("O B-X I-X E-X S-X")
    start, allowed, end = allowed_transitions(labels, "bioes")
    T, F = True, False
    assert start == [T, T, F, F, T]
    assert end == [T, F, F, T, T]
    assert allowed == [
        # to: O  B  I  E  S      from:
        [T, T, F, F, T],  # O
        [F, F, T, T, F],  # B-X
        [F, F, T, T, F],  # I-X
        [T, T, F, F, T],  # E-X
        [T, T, F, F, T],  # S-X
    ]


def test_hand_written_masks_iob1():
    labels = t("O I-X B-X I-Y")
    start, allowed, end = allowed_transitions(labels, "iob1")
    T, F = True, False
    assert start == [T, T, F, T]
    assert end == [T] * 4
    assert allowed == [
        # to: O  I-X B-X I-Y     from:
        [T, T, F, T],  # O
        [T, T, T, T],  # I-X
        [T, T, T, T],  # B-X
        [T, T, F, T],  # I-Y
    ]


@pytest.mark.parametrize("name, good, bad", [
    ("bio", ["B-X I-X O B-Y", "O", "B-X B-X I-X"], ["I-X", "O I-X", "B-X I-Y"]),
    ("iob1", ["I-X I-X B-X", "I-X I-Y", "O I-X O"], ["B-X", "O B-X", "I-Y B-X"]),
    ("bioes", ["B-X I-X E-X", "S-X S-X", "O B-Y E-Y O"], ["B-X", "B-X I-X", "S-X E-X", "B-X O", "I-X E-X"]),
])
def test_hand_written_valid_and_invalid(name, good, bad):
    for tags in good:
        validate(t(tags), name)
    for tags in bad:
        with pytest.raises(ValueError, match=f"invalid {scheme_named(name).name}"):
            validate(t(tags), name)


@pytest.mark.parametrize("name, tags, position, says", [
    ("bio", "O B-X I-Y", 2, "'I-Y' at position 2 after 'B-X' does not continue an entity of type Y"),
    ("iob1", "I-X O B-X", 2, "'B-X' at position 2 after 'O' does not follow an entity of type X"),
    ("bioes", "S-X B-Y O", 2, "'O' at position 2 after 'B-Y' leaves an entity of type Y unclosed"),
    ("bioes", "O B-X I-X", 2, "'I-X' at position 2 at sentence end leaves an entity of type X unclosed"),
    ("bioes", "E-X", 0, "'E-X' at position 0 at sentence start does not continue an entity of type X"),
])
def test_first_violation_position_and_words(name, tags, position, says):
    bad = first_violation(t(tags), name)
    assert bad is not None and bad.position == position
    assert bad.describe() == says


def test_prefix_outside_the_scheme():
    with pytest.raises(ValueError, match="'B-X' at position 1 is not an IO tag; IO uses only I- and O"):
        validate(t("O B-X"), "io")
    with pytest.raises(ValueError, match="'S-X' at position 0 is not a BIO tag; convert BIOES"):
        allowed_transitions(t("S-X O"), "bio")


@pytest.mark.parametrize("bioes, bio", [
    ("S-PER O B-LOC I-LOC E-LOC", "B-PER O B-LOC I-LOC I-LOC"),
    ("S-PER S-PER B-PER E-PER", "B-PER B-PER B-PER I-PER"),
    ("B-PER E-PER S-LOC", "B-PER I-PER B-LOC"),
])
def test_bioes_bio_bioes_round_trip(bioes, bio):
    assert bioes_to_bio(t(bioes)) == t(bio)
    assert bio_to_bioes(bioes_to_bio(t(bioes))) == t(bioes)


@pytest.mark.parametrize("iob1, bio", [
    ("I-ORG I-ORG O I-PER", "B-ORG I-ORG O B-PER"),
    ("I-PER B-PER I-PER I-LOC", "B-PER B-PER I-PER B-LOC"),
    ("I-LOC B-LOC B-LOC", "B-LOC B-LOC B-LOC"),
])
def test_iob1_to_bio_and_back(iob1, bio):
    assert iob1_to_bio(t(iob1)) == t(bio)
    assert to_bio(t(iob1), "iob1") == t(bio)
    assert convert(t(bio), "bio", "iob1") == t(iob1)
    assert tags_from_spans([("LOC", 0, 1), ("LOC", 1, 3)], 3, "iob1") == t("I-LOC B-LOC I-LOC")


@pytest.mark.parametrize("source", ["bio", "iob1", "bioes"])
def test_every_valid_sequence_round_trips_through_every_lossless_scheme(source):
    labels = label_set(source)
    for tags in all_sequences(labels):
        tags = list(tags)
        if first_violation(tags, source) is not None:
            continue
        for target in ("bio", "iob1", "bioes"):
            there = convert(tags, source, target)
            assert first_violation(there, target) is None, (tags, target)
            assert convert(there, target, source) == tags, (tags, target)


def test_io_merges_adjacent_entities_of_one_type():
    assert convert(t("B-X B-X B-Y"), "bio", "io") == t("I-X I-X I-Y")
    assert to_bio(t("I-X I-X I-Y O I-Y"), "io") == t("B-X I-X B-Y O B-Y")


def test_transition_mask_keeps_non_span_labels_free():
    assert transition_mask(["NN", "O", "VB"], "bioes") == ([True] * 3, [[True] * 3] * 3, [True] * 3)
    assert transition_mask(t("O B-X E-X"), "bio")[0] == [True] * 3  # BIOES labels are not BIO span labels
    assert transition_mask(t("O B-X E-X"), "bioes") == allowed_transitions(t("O B-X E-X"), "bioes")


def decoded(labels: list[str], ids: torch.Tensor, lengths: torch.Tensor) -> list[list[str]]:
    return [[labels[i] for i in row[:n]] for row, n in zip(ids.tolist(), lengths.tolist())]


@pytest.mark.parametrize("name", NAMES)
def test_constrained_viterbi_never_emits_an_invalid_sequence(name):
    labels = label_set(name)
    start, allowed, end = (torch.tensor(m) for m in allowed_transitions(labels, name))
    g = torch.Generator().manual_seed(0)
    B, T, L = 64, 9, len(labels)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = torch.arange(T)[None, :] < lengths[:, None]
    crf = CRF(L, start, allowed, end)
    for _ in range(5):
        # large random scores, so that the unconstrained best path is usually invalid
        emissions = torch.randn(B, T, L, generator=g) * 3
        for ids in (constrained_decode(emissions.log_softmax(-1), mask, start, allowed, end), crf.decode(emissions, mask)):
            for tags in decoded(labels, ids, lengths):
                assert first_violation(tags, name) is None, tags
        crf.reset_parameters()


def test_every_table_is_complete():
    for name, scheme in TABLES.items():
        assert set(scheme.follows) == set("O" + scheme.prefixes), name
        assert set(scheme.start + scheme.end + scheme.opens + "".join(scheme.spell)) <= set("O" + scheme.prefixes)
    assert TABLES["iob2"] is TABLES["bio"] and BIOES.name == "BIOES"
