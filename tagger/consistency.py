"""One document, one reading of a name: predicted BIO mentions made consistent within
each document (``heads.N.doc_consistency``).

A name is often introduced in an unambiguous context and repeated later in the same
article, where it is harder (a bare "Hingis", "Spain" as a team). Two cheap steps, on
the decoded tags of a whole document:

- ``vote``: each mention takes the type its words carry most often among the
  document's mentions (a tie keeps the mention's own type);
- ``vote+propagate``: then each repeat of a predicted mention (its first word
  capitalised) whose words are all tagged O becomes a mention of that type, the
  longest known mention first at each position.

Documents are the keys of ``tagger.data.document_spans``: consecutive equal keys form
a document and a key of None is a sentence alone, so sentences without documents are
left as they are by ``vote`` and ``propagate`` alike (a mention repeated within one
sentence still counts). Pure Python: the torch-free runtime applies it too.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from .data import document_spans
from .errors import TaggerError
from .schemes import spans, tags_from_spans

DOC_CONSISTENCY = ("none", "vote", "vote+propagate")


def check_mode(mode: str) -> str:
    """``mode`` if it is one of ``DOC_CONSISTENCY``, else a one-line error listing them."""
    if mode not in DOC_CONSISTENCY:
        raise TaggerError(f"unknown doc consistency '{mode}' (choose: {', '.join(DOC_CONSISTENCY)})")
    return mode

Mention = tuple[str, ...]


def make_consistent(
    words: Sequence[Sequence[str]], tags: Sequence[list[str]], docs: Sequence[object | None], mode: str
) -> list[list[str]]:
    """``tags`` (BIO, one list per sentence) after ``mode`` (one of ``DOC_CONSISTENCY``)
    within each document of ``docs``; ``"none"`` returns them unchanged."""
    if mode not in DOC_CONSISTENCY:
        raise ValueError(f"unknown doc_consistency {mode!r} (choose: {', '.join(DOC_CONSISTENCY)})")
    out = [list(t) for t in tags]
    if mode == "none":
        return out
    for start, end in document_spans(docs):
        doc_words = words[start:end]
        voted = vote(doc_words, out[start:end])
        out[start:end] = propagate(doc_words, voted) if mode == "vote+propagate" else voted
    return out


def consistent(labels: list[dict[str, list[str]]], words: Sequence[Sequence[str]], docs: Sequence[object | None],
               modes: dict[str, str]) -> list[dict[str, list[str]]]:
    """Predicted ``labels`` (task -> labels, per sentence) with each task in ``modes``
    (task -> one of ``DOC_CONSISTENCY``) made consistent within each document; in place."""
    for task, mode in modes.items():
        if mode != "none":
            for entry, tags in zip(labels, make_consistent(words, [e[task] for e in labels], docs, mode)):
                entry[task] = tags
    return labels


def vote(words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> list[list[str]]:
    """One document's tags with each mention relabelled to its words' majority type."""
    found = [spans(t) for t in tags]
    counts: dict[Mention, Counter] = defaultdict(Counter)
    for w, mentions in zip(words, found):
        for kind, s, e in mentions:
            counts[tuple(w[s:e])][kind] += 1
    out = []
    for w, mentions in zip(words, found):
        relabelled = []
        for kind, s, e in mentions:
            tally = counts[tuple(w[s:e])]
            majority = kind if tally[kind] == max(tally.values()) else tally.most_common(1)[0][0]
            relabelled.append((majority, s, e))
        out.append(tags_from_spans(relabelled, len(w)))
    return out


def propagate(words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> list[list[str]]:
    """One document's tags with untagged repeats of its capitalised mentions tagged."""
    by_first: dict[str, dict[Mention, str]] = defaultdict(dict)  # first word -> mention -> its type
    found = [spans(t) for t in tags]
    for w, mentions in zip(words, found):
        for kind, s, e in mentions:
            if w[s][:1].isupper():
                by_first[w[s]].setdefault(tuple(w[s:e]), kind)
    # Longest first, so "New York Times" wins over "New York" where both are known.
    candidates = {first: sorted(known.items(), key=lambda item: -len(item[0])) for first, known in by_first.items()}
    out = []
    for w, t, mentions in zip(words, tags, found):
        added = list(mentions)
        i = 0
        while i < len(w):
            match = next(((m, kind) for m, kind in candidates.get(w[i], ())
                          if tuple(w[i : i + len(m)]) == m and all(tag == "O" for tag in t[i : i + len(m)])), None)
            if match is None:
                i += 1
                continue
            added.append((match[1], i, i + len(match[0])))
            i += len(match[0])
        out.append(tags_from_spans(added, len(w)))
    return out
