"""Tag schemes for span labelling: parsing, conversion to BIO, spans and CRF transition masks.

Everything inside the toolkit is BIO (IOB2); other schemes are converted on
read. The functions here are pure and raise ``ValueError``: readers turn that
into a ``TaggerError`` carrying the file and line, which only they know.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

PREFIXES = frozenset("BIES")
SCHEMES = ("iob1", "bio", "iob2", "bioes", "auto")

Span = tuple[str, int, int]

# "I" and "B" on their own are plausible POS tags, so a label only counts as
# BIO when it has a prefix, a dash and a non-empty type.
_BIO_LABEL = re.compile(r"^[BI]-.+$")


def split_tag(tag: str) -> tuple[str, str | None]:
    """Split ``"B-PER"`` into ``("B", "PER")``; ``"O"`` gives ``("O", None)``.

    Only the first dash separates, so types may themselves contain dashes.
    """
    if tag == "O":
        return "O", None
    prefix, dash, type_ = tag.partition("-")
    if not dash:
        raise ValueError(f"malformed tag {tag!r}: expected 'O' or PREFIX-TYPE such as 'B-PER'")
    if prefix not in PREFIXES:
        raise ValueError(
            f"malformed tag {tag!r}: prefix {prefix!r} is not one of B, I, E, S (or the tag 'O')"
        )
    if not type_:
        raise ValueError(f"malformed tag {tag!r}: missing entity type after {prefix}-")
    return prefix, type_


def _split_bio(tag: str, position: int) -> tuple[str, str | None]:
    prefix, type_ = split_tag(tag)
    if prefix in ("E", "S"):
        raise ValueError(
            f"tag {tag!r} at position {position} is not a BIO tag; convert BIOES with to_bio first"
        )
    return prefix, type_


def _continues(prev: tuple[str, str | None], type_: str | None) -> bool:
    """Whether an I- of ``type_`` can extend the entity the previous tag belongs to."""
    return prev[0] in ("B", "I") and prev[1] == type_


def repair_bio(tags: Sequence[str]) -> list[str]:
    """Turn every I-X that does not continue an X entity into B-X.

    This is conlleval's lenient reading of BIO, and also exactly IOB1 -> BIO.
    """
    out: list[str] = []
    prev: tuple[str, str | None] = ("O", None)
    for i, tag in enumerate(tags):
        prefix, type_ = _split_bio(tag, i)
        if prefix == "I" and not _continues(prev, type_):
            tag = f"B-{type_}"
        out.append(tag)
        prev = (prefix, type_)
    return out


def iob1_to_bio(tags: Sequence[str]) -> list[str]:
    """Convert IOB1 to BIO.

    In IOB1 an entity normally starts with I-; B- is only used to split two
    adjacent entities of the same type. Every entity start becomes B- in BIO,
    which is the same rewrite as ``repair_bio``.
    """
    return repair_bio(tags)


def validate_bio(tags: Sequence[str]) -> None:
    """Raise ``ValueError`` at the first tag that breaks strict BIO."""
    prev: tuple[str, str | None] = ("O", None)
    for i, tag in enumerate(tags):
        prefix, type_ = _split_bio(tag, i)
        if prefix == "I" and not _continues(prev, type_):
            after = "at sentence start" if i == 0 else f"after {tags[i - 1]!r}"
            raise ValueError(
                f"invalid BIO: {tag!r} at position {i} {after} does not continue a {type_} entity "
                f"(is the file IOB1? use scheme 'iob1' or 'auto')"
            )
        prev = (prefix, type_)


def bio_to_bioes(tags: Sequence[str]) -> list[str]:
    """Convert BIO to BIOES; the input is repaired first so the output is always well formed."""
    bio = repair_bio(tags)
    out: list[str] = []
    for i, tag in enumerate(bio):
        prefix, type_ = split_tag(tag)
        if prefix == "O":
            out.append(tag)
            continue
        nxt = bio[i + 1] if i + 1 < len(bio) else "O"
        entity_goes_on = nxt == f"I-{type_}"
        if prefix == "B":
            out.append(tag if entity_goes_on else f"S-{type_}")
        else:
            out.append(tag if entity_goes_on else f"E-{type_}")
    return out


_BIOES_TO_BIO = {"B": "B", "I": "I", "E": "I", "S": "B"}


def bioes_to_bio(tags: Sequence[str]) -> list[str]:
    """Convert BIOES to BIO.

    A stray I-/E- that does not continue an entity (common in model output)
    starts a new one, so the result is always valid BIO.
    """
    out: list[str] = []
    for tag in tags:
        prefix, type_ = split_tag(tag)
        out.append(tag if prefix == "O" else f"{_BIOES_TO_BIO[prefix]}-{type_}")
    return repair_bio(out)


def _needs_iob1(tags: Sequence[str]) -> bool:
    prev: tuple[str, str | None] = ("O", None)
    for i, tag in enumerate(tags):
        prefix, type_ = split_tag(tag)
        if prefix == "I" and not _continues(prev, type_):
            return True
        prev = (prefix, type_)
    return False


def detect_scheme(tags_sequences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme of a whole corpus: ``"bioes"``, ``"iob1"`` or ``"bio"``.

    The decision is corpus-wide because a single IOB1 sentence makes the file
    IOB1, while most IOB1 sentences are also valid BIO.
    """
    iob1 = False
    for tags in tags_sequences:
        if any(split_tag(tag)[0] in ("E", "S") for tag in tags):
            return "bioes"
        iob1 = iob1 or _needs_iob1(tags)
    return "iob1" if iob1 else "bio"


def to_bio(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence from ``scheme`` to BIO; ``"bio"``/``"iob2"`` are validated strictly.

    With ``"auto"`` only this sentence is inspected; use ``detect_scheme`` on
    the whole corpus and pass its answer when a file is being read.
    """
    if scheme == "auto":
        scheme = detect_scheme([tags])
    if scheme in ("bio", "iob2"):
        validate_bio(tags)
        return list(tags)
    if scheme == "iob1":
        return iob1_to_bio(tags)
    if scheme == "bioes":
        return bioes_to_bio(tags)
    raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")


def spans(tags: Sequence[str], strict: bool = True) -> list[Span]:
    """Entities of a BIO sequence as ``(type, start, end_exclusive)``.

    ``strict=True`` follows seqeval's strict IOB2 mode: only a B- starts an
    entity and a stray I- belongs to none. ``strict=False`` follows conlleval
    (seqeval's default mode): a stray I- starts a new entity.
    """
    found: list[Span] = []
    type_now: str | None = None  # type of the open entity, None when outside one
    start = 0
    for i, tag in enumerate(tags):
        prefix, type_ = _split_bio(tag, i)
        if prefix == "I" and type_ == type_now:
            continue
        if type_now is not None:
            found.append((type_now, start, i))
            type_now = None
        if prefix == "B" or (prefix == "I" and not strict):
            type_now, start = type_, i
    if type_now is not None:
        found.append((type_now, start, len(tags)))
    return found


def tags_from_spans(span_list: Iterable[Span], length: int) -> list[str]:
    """BIO tags of ``length`` tokens with the given non-overlapping spans marked."""
    tags = ["O"] * length
    for type_, start, end in span_list:
        if not 0 <= start < end <= length:
            raise ValueError(f"span {(type_, start, end)} is empty or outside a sentence of {length} tokens")
        if any(tag != "O" for tag in tags[start:end]):
            raise ValueError(f"span {(type_, start, end)} overlaps another span")
        tags[start] = f"B-{type_}"
        tags[start + 1:end] = [f"I-{type_}"] * (end - start - 1)
    return tags


def is_span_labels(labels: Iterable[str]) -> bool:
    """Whether a label set is BIO: every label is ``O`` or ``B-``/``I-`` typed, and one is typed.

    POS tag sets (``NN``, ``VBD``, even a bare ``I``) are not, and get no
    transition constraints.
    """
    labels = list(labels)
    return (
        all(label == "O" or _BIO_LABEL.match(label) for label in labels)
        and any(label != "O" for label in labels)
    )


def transition_mask(labels: Sequence[str]) -> tuple[list[bool], list[list[bool]], list[bool]]:
    """Allowed CRF transitions for a label list, indexed like ``labels``.

    Returns ``(allowed_start[L], allowed[from][to], allowed_end[L])``. For BIO
    labels an I-X may only follow B-X or I-X and may not start a sentence;
    any label may end one. Non-BIO label sets allow everything.
    """
    n = len(labels)
    if not is_span_labels(labels):
        return [True] * n, [[True] * n for _ in range(n)], [True] * n
    parsed = [split_tag(label) for label in labels]
    allowed_start = [prefix != "I" for prefix, _ in parsed]
    allowed = [
        [to_prefix != "I" or _continues(frm, to_type) for to_prefix, to_type in parsed]
        for frm in parsed
    ]
    return allowed_start, allowed, [True] * n
