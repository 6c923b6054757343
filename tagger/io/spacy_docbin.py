"""Training data from spaCy: ``.spacy`` (DocBin) files as sentences.

What each head of the recipe reads from a Doc:

* a span head (``span = true``): the span group ``doc.spans[TASK]`` when the Doc
  has one (overlapping spans: the longest wins, as ``spacy.util.filter_spans``),
  else the entities ``doc.ents``; both become BIO tags. Tokens whose entity
  annotation is missing count as ``O``;
* a token head: ``token.tag_`` for a task named ``tag``; ``token.pos_`` for
  ``upos``; for ``pos``, ``token.tag_`` when the Doc has fine-grained tags and
  ``token.pos_`` otherwise.

* a sentence classification head (``kind = "classify"``): ``doc.cats``, the
  categories scored 0.5 or more (spaCy's gold data uses 1.0 and 0.0); keys
  ``TASK:LABEL`` when the Doc has them (as the component writes for a model with
  several classification heads), else every key. A single-label task needs
  exactly one such category per Doc.

A Doc with sentence boundaries becomes one sentence per ``doc.sents`` (an
entity crossing a boundary is cut there), except when the recipe has a
classification head: ``doc.cats`` belong to the whole Doc, so it stays one
sequence. Whitespace tokens are left out, as the spaCy component leaves them
out when it tags.

Problems raise :class:`TaggerError` naming the file and the document number.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tagger.config import HeadConfig, is_sentence_head
from tagger.data import Sentence
from tagger.errors import TaggerError
from tagger.schemes import repair_bio, tags_from_spans


def _token_attr(doc, task: str) -> str | None:
    if task == "tag":
        return "tag_" if doc.has_annotation("TAG") else None
    if task == "upos":
        return "pos_" if doc.has_annotation("POS") else None
    if task == "pos":
        if doc.has_annotation("TAG"):
            return "tag_"
        return "pos_" if doc.has_annotation("POS") else None
    return None


def _doc_tags(doc, heads: Sequence[HeadConfig], path: Path, number: int) -> dict[str, list[str]]:
    from spacy.util import filter_spans

    tags: dict[str, list[str]] = {}
    for head in heads:
        if is_sentence_head(head):
            continue
        if head.span:
            if head.task in doc.spans:
                found = filter_spans(doc.spans[head.task])
            elif doc.has_annotation("ENT_IOB") or len(doc) == 0:
                found = list(doc.ents)
            else:
                raise TaggerError(
                    f"document {number} has neither entities nor a span group '{head.task}' "
                    f"for the span task '{head.task}'",
                    path,
                )
            tags[head.task] = tags_from_spans([(s.label_, s.start, s.end) for s in found], len(doc))
        else:
            attr = _token_attr(doc, head.task)
            if attr is None:
                known = "'tag', 'upos' or 'pos'"
                raise TaggerError(
                    f"document {number} has no annotation for the token task '{head.task}' "
                    f"(token tasks read token.tag_ or token.pos_ and must be named {known})",
                    path,
                )
            tags[head.task] = [getattr(token, attr) for token in doc]
    return tags


def _doc_cats(doc, heads: Sequence[HeadConfig], path: Path, number: int) -> dict[str, list[str]]:
    heads = [h for h in heads if is_sentence_head(h)]
    cats: dict[str, list[str]] = {}
    for head in heads:
        prefix = f"{head.task}:"
        scores = {k[len(prefix):]: v for k, v in doc.cats.items() if k.startswith(prefix)}
        if not scores and len(heads) == 1:
            scores = dict(doc.cats)
        if not scores:
            raise TaggerError(f"document {number} has no doc.cats for the classification task '{head.task}'", path)
        labels = sorted(label for label, value in scores.items() if value >= 0.5)
        if not head.multi_label and len(labels) != 1:
            raise TaggerError(
                f"document {number} has {len(labels)} categories scored 0.5 or more for the single-label "
                f"task '{head.task}' (expected exactly one)",
                path,
            )
        cats[head.task] = labels
    return cats


def doc_sentences(doc, heads: Sequence[HeadConfig], path: Path = Path("<doc>"), number: int = 1) -> list[Sentence]:
    """The sentences of one Doc, with a BIO or token label per word for each token
    head and the Doc's categories for each classification head."""
    tags = _doc_tags(doc, heads, path, number)
    cats = _doc_cats(doc, heads, path, number)
    span_tasks = {h.task for h in heads if h.span}
    if doc.has_annotation("SENT_START") and not cats:
        ranges = [range(sent.start, sent.end) for sent in doc.sents]
    else:
        ranges = [range(len(doc))]
    sentences = []
    for rng in ranges:
        kept = [i for i in rng if not doc[i].text.isspace()]
        if not kept:
            continue
        labels = {}
        for task, seq in tags.items():
            picked = [seq[i] for i in kept]
            if task in span_tasks:
                picked = repair_bio(picked)  # a cut entity or a dropped space token
            elif any(not label for label in picked):
                raise TaggerError(f"document {number} has a token without a '{task}' label", path)
            labels[task] = picked
        sentences.append(Sentence([doc[i].text for i in kept], labels, cats=cats))
    return sentences


def read_docbin(path: str | Path, heads: Sequence[HeadConfig]) -> list[Sentence]:
    """Every sentence of a ``.spacy`` file."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TaggerError(f"cannot open spaCy file ({err.strerror})", path) from None
    try:
        docs = list(DocBin().from_bytes(data).get_docs(Vocab()))
    except Exception as err:  # zlib, msgpack and spaCy each raise their own types
        raise TaggerError(f"not a spaCy DocBin (.spacy) file ({type(err).__name__})", path) from None
    sentences = []
    for number, doc in enumerate(docs, 1):
        sentences.extend(doc_sentences(doc, heads, path, number))
    if not sentences:
        raise TaggerError("no sentences in this spaCy file", path)
    return sentences


def write_docbin(sentences: Sequence[Sentence], path: str | Path, ents_task: str = "ner") -> Path:
    """Sentences as a ``.spacy`` file, one Doc each: ``ents_task`` BIO tags become
    entities and a ``pos`` task becomes ``token.tag_``. For tests and conversions."""
    from spacy.tokens import Doc, DocBin, Span
    from spacy.vocab import Vocab

    from tagger.schemes import spans

    vocab = Vocab()
    bin_ = DocBin(attrs=["ORTH", "TAG", "ENT_IOB", "ENT_TYPE", "SENT_START"])
    for sent in sentences:
        doc = Doc(vocab, words=list(sent.words), tags=sent.tags.get("pos"))
        if ents_task in sent.tags:
            doc.set_ents(
                [Span(doc, s, e, label=t) for t, s, e in spans(sent.tags[ents_task])],
                default="outside",
            )
        bin_.add(doc)
    path = Path(path)
    bin_.to_disk(path)
    return path
