"""Tag schemes for span labelling, each declared once as a table.

A :class:`Scheme` says which prefix may start and end a sentence, which prefix
may follow which (with or without the same entity type), which prefixes always
open a new entity, and how an entity is spelled. Everything else is derived
from these tables, by the same few walks for every scheme: validation (the first
violation and its position), conversion between schemes through entity spans,
repair, detection, and the CRF's allowed start / transition / end masks.

Everything inside the toolkit is BIO (IOB2); other schemes are converted on
read. The functions here are pure and raise ``ValueError``: readers turn that
into a ``TaggerError`` carrying the file and line, which only they know.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

PREFIXES = frozenset("BIES")

Span = tuple[str, int, int]
Tag = tuple[str, str | None]  # (prefix, type); ("O", None) outside an entity


@dataclass(frozen=True)
class Scheme:
    """One tag scheme. Prefix strings hold one letter per prefix; ``"O"`` is the untyped tag."""

    name: str
    prefixes: str  # the prefixes of typed tags
    start: str  # what may open a sentence
    end: str  # what may close one
    # to-prefix -> (prefixes it may follow whatever their type, prefixes it may follow only with its own type)
    follows: Mapping[str, tuple[str, str]]
    opens: str  # prefixes that always open a new entity; any other typed tag continues an open entity of its type
    spell: tuple[str, str, str, str]  # the prefix of an entity's only, first, middle and last token
    split: str = ""  # the first prefix of an entity that directly follows one of its own type, where it differs
    hint: str = ""  # added to a validation error

    def allows(self, before: Tag, after: Tag) -> bool:
        """Whether tag ``after`` may directly follow tag ``before``."""
        any_type, same_type = self.follows[after[0]]
        return before[0] in any_type or (before[0] in same_type and before[1] == after[1])


BIO = Scheme(
    "BIO", "BI", start="OB", end="OBI",
    follows={"O": ("OBI", ""), "B": ("OBI", ""), "I": ("", "BI")},
    opens="B", spell=("B", "B", "I", "I"),
    hint=" (is the file IOB1? use scheme 'iob1' or 'auto')",
)
# IOB1 (CoNLL-2003): entities are I-; B- only separates two adjacent entities of one type.
IOB1 = Scheme(
    "IOB1", "BI", start="OI", end="OBI",
    follows={"O": ("OBI", ""), "I": ("OBI", ""), "B": ("", "BI")},
    opens="B", spell=("I", "I", "I", "I"), split="B",
)
BIOES = Scheme(
    "BIOES", "BIES", start="OBS", end="OES",
    follows={"O": ("OES", ""), "B": ("OES", ""), "S": ("OES", ""), "I": ("", "BI"), "E": ("", "BI")},
    opens="BS", spell=("S", "B", "I", "E"),
)
# IO cannot mark where two adjacent entities of one type meet: they read as one.
IO = Scheme(
    "IO", "I", start="OI", end="OI",
    follows={"O": ("OI", ""), "I": ("OI", "")},
    opens="", spell=("I", "I", "I", "I"),
)

TABLES: dict[str, Scheme] = {"bio": BIO, "iob2": BIO, "iob1": IOB1, "bioes": BIOES, "io": IO}
SCHEMES = ("iob1", "bio", "iob2", "bioes", "io", "auto")

# "I" and "B" on their own are plausible POS tags, so a label only counts as a
# span label when it has a prefix, a dash and a non-empty type.
_SPAN_LABEL = re.compile(r"^([A-Z])-.+$")


def scheme_named(name: str | Scheme) -> Scheme:
    if isinstance(name, Scheme):
        return name
    if name not in TABLES:
        raise ValueError(f"unknown tag scheme {name!r}; expected one of {', '.join(SCHEMES)}")
    return TABLES[name]


def split_tag(tag: str) -> Tag:
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


def parse(tags: Sequence[str], scheme: str | Scheme) -> list[Tag]:
    """Every tag split, checking that the scheme uses its prefix."""
    scheme = scheme_named(scheme)
    out = []
    for i, tag in enumerate(tags):
        prefix, type_ = split_tag(tag)
        if prefix != "O" and prefix not in scheme.prefixes:
            # IOB1 writes the same tags as BIO, and users know them by that name.
            name = "BIO" if scheme.prefixes == BIO.prefixes else scheme.name
            advice = ("convert BIOES with to_bio first" if prefix in "ES"
                      else f"{name} uses only {'-, '.join(scheme.prefixes)}- and O")
            article = "an" if name[0] in "AEIOU" else "a"
            raise ValueError(f"tag {tag!r} at position {i} is not {article} {name} tag; {advice}")
        out.append((prefix, type_))
    return out


# --- validation ---------------------------------------------------------------------


class Violation(NamedTuple):
    """The first tag that breaks a scheme: its position, the tag before it (None at the
    start), what is wrong, and whether it is wrong as the last tag of the sentence."""

    position: int
    tag: str
    before: str | None
    reason: str
    at_end: bool = False

    def describe(self, position: bool = True) -> str:
        where = "at sentence end" if self.at_end else "at sentence start" if self.before is None else f"after {self.before!r}"
        at = f" at position {self.position}" if position else ""
        return f"{self.tag!r}{at} {where} {self.reason}"


def _reason(scheme: Scheme, before: Tag, after: Tag) -> str:
    if not scheme.follows[after[0]][0]:  # a prefix that needs an entity of its own type before it
        verb = "follow" if after[0] in scheme.opens else "continue"
        return f"does not {verb} an entity of type {after[1]}"
    return f"leaves an entity of type {before[1]} unclosed"


def first_violation(tags: Sequence[str], scheme: str | Scheme) -> Violation | None:
    """The first place where ``tags`` break ``scheme``, or None when they are valid."""
    scheme = scheme_named(scheme)
    parsed = parse(tags, scheme)
    before: Tag = ("O", None)
    for i, tag in enumerate(parsed):
        if i == 0 and tag[0] not in scheme.start or i > 0 and not scheme.allows(before, tag):
            return Violation(i, tags[i], tags[i - 1] if i else None, _reason(scheme, before, tag))
        before = tag
    if parsed and before[0] not in scheme.end:
        last = len(tags) - 1
        return Violation(last, tags[last], tags[last - 1] if last else None, _reason(scheme, before, ("O", None)), at_end=True)
    return None


def validate(tags: Sequence[str], scheme: str | Scheme) -> None:
    """Raise ``ValueError`` at the first tag that breaks ``scheme`` (strictly)."""
    scheme = scheme_named(scheme)
    bad = first_violation(tags, scheme)
    if bad is not None:
        raise ValueError(f"invalid {scheme.name}: {bad.describe()}{scheme.hint}")


def validate_bio(tags: Sequence[str]) -> None:
    validate(tags, BIO)


# --- entities: the lenient reading, spelling, conversion ------------------------------------


def _read_spans(parsed: Sequence[Tag], scheme: Scheme) -> list[Span]:
    """Entities, read leniently: a typed tag opens an entity when its prefix always
    does or no entity of its type is open (conlleval's reading of a stray I-)."""
    found: list[Span] = []
    open_type: str | None = None
    start = 0
    for i, (prefix, type_) in enumerate(parsed):
        if prefix != "O" and type_ == open_type and prefix not in scheme.opens:
            continue
        if open_type is not None:
            found.append((open_type, start, i))
        open_type, start = type_, i
    if open_type is not None:
        found.append((open_type, start, len(parsed)))
    return found


def _spell(span_list: Iterable[Span], length: int, scheme: Scheme) -> list[str]:
    only, first, middle, last = scheme.spell
    tags = ["O"] * length
    ends: set[tuple[int, str]] = set()
    for type_, start, end in span_list:
        if end - start == 1:
            tags[start] = f"{only}-{type_}"
        else:
            tags[start:end] = [f"{first}-{type_}"] + [f"{middle}-{type_}"] * (end - start - 2) + [f"{last}-{type_}"]
        if scheme.split and (start, type_) in ends:
            tags[start] = f"{scheme.split}-{type_}"
        ends.add((end, type_))
    return tags


def convert(tags: Sequence[str], source: str | Scheme, target: str | Scheme) -> list[str]:
    """``tags`` read leniently in ``source`` and spelled in ``target``; the result is
    always valid in ``target``, so ``convert(tags, s, s)`` repairs."""
    source, target = scheme_named(source), scheme_named(target)
    return _spell(_read_spans(parse(tags, source), source), len(tags), target)


def repair(tags: Sequence[str], scheme: str | Scheme) -> list[str]:
    return convert(tags, scheme, scheme)


def repair_bio(tags: Sequence[str]) -> list[str]:
    """Turn every I-X that does not continue an X entity into B-X.

    This is conlleval's lenient reading of BIO, and also exactly IOB1 -> BIO.
    """
    return convert(tags, BIO, BIO)


def iob1_to_bio(tags: Sequence[str]) -> list[str]:
    """Convert IOB1 to BIO; a B- that IOB1 would not write still starts an entity."""
    return convert(tags, IOB1, BIO)


def bio_to_bioes(tags: Sequence[str]) -> list[str]:
    """Convert BIO to BIOES; the input is repaired first so the output is always well formed."""
    return convert(tags, BIO, BIOES)


def bioes_to_bio(tags: Sequence[str]) -> list[str]:
    """Convert BIOES to BIO.

    A stray I-/E- that does not continue an entity (common in model output)
    starts a new one, so the result is always valid BIO.
    """
    return convert(tags, BIOES, BIO)


def detect_scheme(tags_sequences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme of a whole corpus: ``"bioes"``, ``"iob1"`` or ``"bio"``.

    A prefix that BIO lacks (E-, S-) makes the corpus BIOES; otherwise one
    sentence that breaks BIO makes it IOB1 (most IOB1 sentences are also valid
    BIO, so the decision is corpus-wide).
    """
    iob1 = False
    for tags in tags_sequences:
        if any(split_tag(tag)[0] not in "O" + BIO.prefixes for tag in tags):
            return "bioes"
        iob1 = iob1 or first_violation(tags, BIO) is not None
    return "iob1" if iob1 else "bio"


def to_bio(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence from ``scheme`` to BIO; ``"bio"``/``"iob2"`` are validated strictly.

    With ``"auto"`` only this sentence is inspected; use ``detect_scheme`` on
    the whole corpus and pass its answer when a file is being read.
    """
    if scheme == "auto":
        scheme = detect_scheme([tags])
    if scheme_named(scheme) is BIO:
        validate(tags, BIO)
        return list(tags)
    return convert(tags, scheme, BIO)


def spans(tags: Sequence[str], strict: bool = True) -> list[Span]:
    """Entities of a BIO sequence as ``(type, start, end_exclusive)``.

    ``strict=True`` follows seqeval's strict IOB2 mode: only a B- starts an
    entity and a stray I- belongs to none. ``strict=False`` follows conlleval
    (seqeval's default mode): a stray I- starts a new entity.
    """
    found = _read_spans(parse(tags, BIO), BIO)
    return [s for s in found if tags[s[1]][0] == "B"] if strict else found


def tags_from_spans(span_list: Iterable[Span], length: int, scheme: str | Scheme = "bio") -> list[str]:
    """Tags of ``length`` tokens (BIO unless ``scheme`` says) with the given non-overlapping spans marked."""
    span_list = sorted(span_list, key=lambda s: s[1])
    taken = 0
    for type_, start, end in span_list:
        if not 0 <= start < end <= length:
            raise ValueError(f"span {(type_, start, end)} is empty or outside a sentence of {length} tokens")
        if start < taken:
            raise ValueError(f"span {(type_, start, end)} overlaps another span")
        taken = end
    return _spell(span_list, length, scheme_named(scheme))


# --- CRF constraints --------------------------------------------------------------------


def is_span_labels(labels: Iterable[str], scheme: str | Scheme = "bio") -> bool:
    """Whether a label set belongs to ``scheme``: every label is ``O`` or typed with
    one of its prefixes, and one is typed.

    POS tag sets (``NN``, ``VBD``, even a bare ``I``) are not, and get no
    transition constraints.
    """
    prefixes = scheme_named(scheme).prefixes
    labels = list(labels)
    matches = [_SPAN_LABEL.match(label) for label in labels]
    return (
        all(label == "O" or (m is not None and m.group(1) in prefixes) for label, m in zip(labels, matches))
        and any(label != "O" for label in labels)
    )


def allowed_transitions(labels: Sequence[str], scheme: str | Scheme) -> tuple[list[bool], list[list[bool]], list[bool]]:
    """``(allowed_start[L], allowed[from][to], allowed_end[L])`` over ``labels`` under
    ``scheme``'s table: a path through the CRF is allowed exactly when its tags are
    valid in the scheme."""
    scheme = scheme_named(scheme)
    parsed = parse(labels, scheme)
    return (
        [prefix in scheme.start for prefix, _ in parsed],
        [[scheme.allows(before, after) for after in parsed] for before in parsed],
        [prefix in scheme.end for prefix, _ in parsed],
    )


def transition_mask(labels: Sequence[str], scheme: str | Scheme = "bio") -> tuple[list[bool], list[list[bool]], list[bool]]:
    """Allowed CRF transitions for a label list, indexed like ``labels``: the
    scheme's (see :func:`allowed_transitions`) when the labels are span labels of
    that scheme, all allowed otherwise (POS tags)."""
    n = len(labels)
    if not is_span_labels(labels, scheme):
        return [True] * n, [[True] * n for _ in range(n)], [True] * n
    return allowed_transitions(labels, scheme)
