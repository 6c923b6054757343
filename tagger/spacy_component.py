"""A spaCy pipeline component that runs a tagger model on a ``Doc``'s own tokens.

::

    import spacy
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": "runs/conll2003/best"})
    doc = nlp("EU rejects German call to boycott British lamb.")
    doc.ents

The factory ``bilstm_tagger`` is registered through the ``spacy_factories``
entry point, so spaCy finds it without ``import tagger``.

``model`` is a model directory (run by PyTorch) or a ``tagger export`` directory,
run by ONNX Runtime (:mod:`tagger.runtime`): then this module never imports
PyTorch, and the pipeline saves and loads the export's files.

What the component writes, per head of the model:

* the entity head (``ents_task``; by default the span task named ``ner``, else the
  first span task) -> ``doc.ents``. ``ents_mode="overwrite"`` replaces whatever
  entities the Doc had; ``"fill"`` keeps them and only adds predicted entities
  that overlap none of them;
* any other span head -> the span group ``doc.spans[TASK]``;
* a token head (``span = false``) -> ``token.pos_`` when its labels are
  Universal POS tags (``NOUN``, ``VERB``...; a label that is not a UPOS tag is
  left unset) and ``token.tag_`` otherwise (Penn Treebank ``NN``, ``VBD``...).
  ``token_attrs={"TASK": "tag" | "pos" | "none"}`` overrides the choice.

* a sentence classification head (``kind = "classify"``) -> ``doc.cats``: each
  label's probability for the whole Doc (``TASK:LABEL`` keys when there are several).

A multitask model writes all of them.

Tokens: the component works on whatever tokens the Doc has, and everything it
writes lands on those tokens. The model reads them as they are, with two
exceptions. Whitespace tokens (spaCy's tokens for runs of spaces or newlines)
are not shown to it: they never start or end an entity and get no tag. And
since spaCy splits hyphenated words (``ex-England`` -> ``ex - England``,
``1996-08-30`` -> five tokens) that CoNLL-style training data keeps whole, the
model reads such a word whole (``join_hyphens=True``, the default: pieces joined
by a ``-`` with no space around it) and its label goes to every piece. On
CoNLL-2003 valid that makes spaCy's tokenization cost next to nothing, against
several F1 points without it (``bench/spacy_component.py``). When the Doc has
sentence boundaries (a ``sentencizer`` or parser earlier in the pipeline) each
sentence is tagged on its own, as the model was trained; otherwise the whole
Doc is one sequence.

Speed: ``quantize="int8"`` runs a PyTorch model with its LSTM and linear layers in
dynamic int8 (``"bf16"``: its recurrent layers in bfloat16), as ``tagger.load(DIR,
quantize=...)`` does; the pipeline still saves the fp32 weights and quantizes again
when loaded. An export directory is quantized when written (``tagger export --quantize
int8``): ``quantize`` must then say what it is, or be left out.

Saving: ``nlp.to_disk`` writes the model's three files (``config.json``,
``vocab.json``, ``model.safetensors``; for an export ``export.json``, ``vocab.json``,
``model.onnx``) into the component's folder and ``to_bytes`` packs the same three in msgpack; loading reads JSON and
safetensors only, never a pickle. A saved pipeline does not need the original
model folder: when the ``model`` path in its config cannot be read at load time,
the component waits for ``from_disk``/``from_bytes`` to fill it, and only a
component that is used without ever getting a model raises that error.
"""
from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

import srsly
from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import ensure_path, minibatch

from .device import QUANTIZE_CHOICES
from .errors import TaggerError
from .runtime import Runtime, is_export_dir
from .schemes import spans as bio_spans

if TYPE_CHECKING:  # PyTorch is imported only for a PyTorch model: an export runs without it
    from .model import SequenceTagger
    from .predict import Tagger

FACTORY = "bilstm_tagger"
ENTS_MODES = ("overwrite", "fill")
TOKEN_ATTRS = ("tag", "pos", "none")

# Universal Dependencies v2 part-of-speech tags: the values spaCy accepts for token.pos_.
UPOS = frozenset(
    "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
)

DEFAULT_CONFIG: dict[str, Any] = {
    "model": None,
    "ents_mode": "overwrite",
    "ents_task": None,
    "token_attrs": {},
    "by_sentence": True,
    "join_hyphens": True,
    "batch_size": 256,
    "device": "cpu",
    "quantize": None,
}


def looks_upos(labels: Iterable[str]) -> bool:
    """Whether a label set is Universal POS (all labels are UPOS tags) rather than PTB-style."""
    labels = [label for label in labels if not label.startswith("<")]
    return bool(labels) and all(label in UPOS for label in labels)


@Language.factory(
    FACTORY,
    default_config=DEFAULT_CONFIG,
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans", "token.tag", "token.pos", "doc.cats"],
    default_score_weights={
        "ents_f": 1.0,
        "ents_p": 0.0,
        "ents_r": 0.0,
        "ents_per_type": None,
        "tag_acc": None,
        "pos_acc": None,
    },
)
def make_bilstm_tagger(
    nlp: Language,
    name: str,
    model: Optional[str],
    ents_mode: str,
    ents_task: Optional[str],
    token_attrs: Dict[str, str],
    by_sentence: bool,
    join_hyphens: bool,
    batch_size: int,
    device: str,
    quantize: Optional[str],
) -> "BilstmTaggerComponent":
    return BilstmTaggerComponent(
        name=name,
        model=model,
        ents_mode=ents_mode,
        ents_task=ents_task,
        token_attrs=token_attrs,
        by_sentence=by_sentence,
        join_hyphens=join_hyphens,
        batch_size=batch_size,
        device=device,
        quantize=quantize,
    )


class ComponentHasNoModel(TaggerError, AttributeError):
    """``component.model`` before a model is loaded: a user error that ``hasattr`` reads as absent."""


class BilstmTaggerComponent:
    """The ``bilstm_tagger`` pipe: a :class:`tagger.Tagger` writing into spaCy Docs."""

    def __init__(
        self,
        name: str = FACTORY,
        *,
        model: str | Path | SequenceTagger | Runtime | None = None,
        ents_mode: str = "overwrite",
        ents_task: str | None = None,
        token_attrs: dict[str, str] | None = None,
        by_sentence: bool = True,
        join_hyphens: bool = True,
        batch_size: int = 256,
        device: str = "cpu",
        quantize: str | None = None,
    ):
        if ents_mode not in ENTS_MODES:
            raise TaggerError(f"ents_mode must be one of {', '.join(ENTS_MODES)}, got '{ents_mode}'")
        if batch_size < 1:
            raise TaggerError(f"batch_size must be at least 1, got {batch_size}")
        if quantize not in (None, *QUANTIZE_CHOICES):
            raise TaggerError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)} (or null), got '{quantize}'")
        token_attrs = dict(token_attrs or {})
        for task, attr in token_attrs.items():
            if attr not in TOKEN_ATTRS:
                raise TaggerError(f"token_attrs['{task}'] must be one of {', '.join(TOKEN_ATTRS)}, got '{attr}'")
        self.name = name
        self.ents_mode = ents_mode
        self.by_sentence = by_sentence
        self.join_hyphens = join_hyphens
        self.batch_size = batch_size
        self.device = str(device)  # resolved (by PyTorch) when a PyTorch model is loaded
        self.quantize = quantize
        self._ents_task_option = ents_task
        self._token_attrs_option = token_attrs
        self.tagger: Tagger | Runtime | None = None
        # What to_disk/to_bytes write: the model as given, fp32 when this component quantizes
        # it (int8 weights have no safetensors form; the saved pipeline quantizes at load).
        self._saved: SequenceTagger | Runtime | None = None
        self._pid = os.getpid()
        self._missing: TaggerError | None = None  # why there is no model yet
        # Filled by _use: where each task's labels go.
        self.ents_task: str | None = None
        self.span_group_tasks: list[str] = []
        self.token_targets: dict[str, str] = {}
        self.cats_tasks: list[str] = []
        if model is not None and not isinstance(model, (str, Path)):  # a SequenceTagger or a Runtime
            self._use(model)
        elif model is not None:
            try:
                self._use(self._load(model))
            except TaggerError as err:
                # spacy.load builds the component from the saved config (whose model
                # path may be gone) and then calls from_disk: wait for that.
                self._missing = err

    # -- the model ---------------------------------------------------------

    def _load(self, path: str | Path) -> SequenceTagger | Runtime:
        """A model directory through PyTorch; a ``tagger export`` directory through ONNX
        Runtime, without importing PyTorch."""
        if is_export_dir(path):
            from .runtime import load as load_export

            return load_export(path, batch_size=self.batch_size)
        from .device import resolve_device
        from .model import load_model

        return load_model(path, resolve_device(self.device))

    def _wrap(self, model: SequenceTagger | Tagger | Runtime) -> Tagger | Runtime:
        if isinstance(model, Runtime):
            if self.device not in ("cpu", "auto"):
                raise TaggerError(f"an export directory runs on the CPU (ONNX Runtime), not device '{self.device}'")
            if self.quantize is not None and self.quantize != model.quantize:  # fixed when it was exported
                raise TaggerError(f"quantize is '{self.quantize}' but this export is {model.quantize or 'fp32'} "
                                  f"(tagger export --quantize int8 makes an int8 export)")
            return model
        if hasattr(model, "predict_all"):  # already a Tagger
            if self.quantize is None:
                return model
            model = model.model
        import copy

        from .device import resolve_device
        from .predict import Tagger, quantized

        model = model.to(resolve_device(self.device)).eval()
        if self.quantize is None:
            return Tagger(model, self.batch_size)
        # A copy: bf16 changes a model in place, and the fp32 weights are what gets saved.
        return Tagger(quantized(copy.deepcopy(model), self.quantize), self.batch_size)

    def _use(self, model: SequenceTagger | Tagger | Runtime) -> None:
        tagger = self._wrap(model)
        info = tagger.info
        span_tasks = info.span_tasks
        ents_task = self._ents_task_option
        if ents_task is None:
            ents_task = "ner" if "ner" in span_tasks else (span_tasks[0] if span_tasks else None)
        elif ents_task not in span_tasks:
            raise TaggerError(
                f"ents_task '{ents_task}' is not a span task of this model "
                f"(span tasks: {', '.join(span_tasks) or 'none'})"
            )
        token_tasks = {t.name: t for t in info.tasks if t.level == "token" and not t.span}
        unknown = sorted(set(self._token_attrs_option) - set(token_tasks))
        if unknown:
            raise TaggerError(f"token_attrs names '{unknown[0]}', which is not a token task of this model")
        targets = {}
        for name, task in token_tasks.items():
            target = self._token_attrs_option.get(name)
            if target is None:
                target = "pos" if looks_upos(task.labels) else "tag"
            if target != "none":
                targets[name] = target
        self.tagger = tagger
        self._saved = model if isinstance(model, Runtime) else getattr(model, "model", model)  # a Tagger's model
        self.ents_task = ents_task
        self.span_group_tasks = [t for t in span_tasks if t != ents_task]
        self.token_targets = targets
        self.cats_tasks = list(info.sentence_tasks)  # classification heads: doc.cats, not tokens
        self._tasks = {t.name: t for t in info.tasks}
        self._missing = None

    def _require(self) -> Tagger | Runtime:
        if self.tagger is None:
            reason = f": {self._missing}" if self._missing else ""
            raise TaggerError(
                f"the {self.name} component has no model{reason} "
                "(add it with config={'model': MODEL_DIR}, or load a saved pipeline)"
            )
        self.tagger.batch_size = self.batch_size
        if os.getpid() != self._pid:
            # A forked worker (nlp.pipe(n_process=N) on Linux): PyTorch's OpenMP pool
            # (and ONNX Runtime's thread pool) does not survive fork and hangs at the
            # first parallel op; one thread per worker is what n_process wants anyway.
            if isinstance(self.tagger, Runtime):
                self.tagger.set_threads(1)
            else:
                import torch

                torch.set_num_threads(1)
            self._pid = os.getpid()
        return self.tagger

    @property
    def model(self) -> SequenceTagger | Runtime:
        """The PyTorch model, or for an export directory its :class:`tagger.runtime.Runtime`."""
        # spaCy (and Python's runtime protocols) probe components with hasattr(),
        # which only treats AttributeError as "absent": any other error escapes.
        if self.tagger is None:
            try:
                self._require()
            except TaggerError as err:
                raise ComponentHasNoModel(err.message) from None
        tagger = self._require()
        return tagger if isinstance(tagger, Runtime) else tagger.model

    @property
    def labels(self) -> tuple[str, ...]:
        """Entity types of the entity head (spaCy shows these in ``nlp.pipe_labels``)."""
        if self.tagger is None or self.ents_task is None:
            return ()
        labels = self._tasks[self.ents_task].labels
        return tuple(sorted({label[2:] for label in labels if label[:2] in ("B-", "I-")}))

    # -- tagging -----------------------------------------------------------

    def _units(self, doc: Doc) -> list[tuple[list[int], list[int], list[str]]]:
        """What the model reads: sequences (one per sentence when the Doc has sentence
        boundaries, else the whole Doc) of words, as ``(first, last, words)``: word j
        is tokens ``first[j]..last[j]``, one token or, with ``join_hyphens``, the
        pieces of a hyphenated word. Whitespace tokens are left out."""
        if self.by_sentence and doc.has_annotation("SENT_START"):
            bounds = [(sent.start, sent.end) for sent in doc.sents]
        else:
            bounds = [(0, len(doc))]
        texts = [token.text for token in doc]
        join = self.join_hyphens and "-" in texts
        if join:
            glued = [not token.whitespace_ for token in doc]
        spaces = any(map(str.isspace, texts))
        units = []
        for start, end in bounds:
            if start == end:
                continue
            if not join and not spaces:  # the common case: one word per token
                ids = list(range(start, end))
                units.append((ids, ids, texts[start:end]))
                continue
            first, last, words = [], [], []
            i = start
            while i < end:
                text = texts[i]
                if text.isspace():
                    i += 1
                    continue
                first.append(i)
                if join:
                    # "1996", "-", "08" with no space between: one word, as in CoNLL-style data.
                    while (i + 2 < end and glued[i] and texts[i + 1] == "-" and glued[i + 1]
                           and texts[i][-1].isalnum() and texts[i + 2][0].isalnum()):
                        text += "-" + texts[i + 2]
                        i += 2
                last.append(i)
                words.append(text)
                i += 1
            if words:
                units.append((first, last, words))
        return units

    def model_words(self, doc: Doc) -> list[list[str]]:
        """The word sequences the model is given for ``doc``."""
        return [words for _, _, words in self._units(doc)]

    def predict(self, docs: Sequence[Doc]) -> list[list[tuple[list[int], list[int], dict[str, list[str]]]]]:
        """For each Doc, its tagged units: (first token, last token of each word; labels per task)."""
        tagger = self._require()
        per_doc = [self._units(doc) for doc in docs]
        words = [unit[2] for units in per_doc for unit in units]
        # A Doc is a document: a model with document context reads each sentence with its neighbours.
        keys = {"docs": [d for d, units in enumerate(per_doc) for _ in units]} if getattr(tagger, "reads_documents", False) else {}
        flat = iter(tagger.predict_all(words, **keys) if words else [])
        return [[(first, last, next(flat)) for first, last, _ in units] for units in per_doc]

    def set_annotations(self, docs: Sequence[Doc], predictions) -> None:
        for doc, units in zip(docs, predictions):
            found: dict[str, list[Span]] = {}
            for first, last, labels in units:
                for task, tags in labels.items():
                    target = self.token_targets.get(task)
                    if target == "tag":
                        for a, b, tag in zip(first, last, tags):
                            for i in range(a, b + 1):
                                doc[i].tag_ = tag
                    elif target == "pos":
                        for a, b, tag in zip(first, last, tags):
                            if tag in UPOS:
                                for i in range(a, b + 1):
                                    doc[i].pos_ = tag
                    elif task == self.ents_task or task in self.span_group_tasks:
                        spans = found.setdefault(task, [])
                        for label, start, end in bio_spans(tags):
                            spans.append(Span(doc, first[start], last[end - 1] + 1, label=label))
            for task in self.span_group_tasks:
                doc.spans[task] = found.get(task, [])
            if self.ents_task is not None:
                self._set_ents(doc, found.get(self.ents_task, []))

    def _set_ents(self, doc: Doc, predicted: list[Span]) -> None:
        if self.ents_mode == "overwrite":
            doc.set_ents(predicted, default="outside")
            return
        taken = [False] * len(doc)
        for ent in doc.ents:
            taken[ent.start : ent.end] = [True] * (ent.end - ent.start)
        added = [s for s in predicted if not any(taken[s.start : s.end])]
        for s in added:
            taken[s.start : s.end] = [True] * (s.end - s.start)
        # Tokens nobody has annotated yet were tagged O by the model: say so.
        outside = [doc[i : i + 1] for i, token in enumerate(doc) if token.ent_iob == 0 and not taken[i]]
        doc.set_ents(added, outside=outside, default="unmodified")

    def set_cats(self, docs: Sequence[Doc]) -> None:
        """``doc.cats`` from the model's sentence classification heads: each label's
        probability for the whole Doc, read as one sequence of its words (keys are the
        labels; ``TASK:LABEL`` when the model has several such heads)."""
        tagger = self._require()
        words = [[w for unit in self.model_words(doc) for w in unit] for doc in docs]
        keep = [i for i, w in enumerate(words) if w]
        _, proba = tagger.predict_with_proba([words[i] for i in keep]) if keep else ([], [])
        for i, probs in zip(keep, proba):
            for task in self.cats_tasks:
                for label, value in probs[task].items():
                    docs[i].cats[label if len(self.cats_tasks) == 1 else f"{task}:{label}"] = float(value)

    def _annotate(self, docs: Sequence[Doc]) -> None:
        self._require()
        if self.ents_task is not None or self.span_group_tasks or self.token_targets:
            self.set_annotations(docs, self.predict(docs))
        if self.cats_tasks:
            self.set_cats(docs)

    def __call__(self, doc: Doc) -> Doc:
        self._annotate([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Tag Docs ``batch_size`` at a time (spaCy passes ``nlp.pipe``'s batch size);
        the model runs them in batches of the component's own ``batch_size``."""
        for docs in minibatch(stream, size=batch_size):
            self._annotate(docs)
            yield from docs

    # -- scoring -----------------------------------------------------------

    def score(self, examples: Iterable[Example], **kwargs: Any) -> dict[str, Any]:
        """``ents_p/r/f`` and ``ents_per_type`` for the entity head, ``spans_TASK_p/r/f``
        for other span heads, ``tag_acc`` / ``pos_acc`` for token heads, ``cats_*`` for
        classification heads."""
        self._require()
        examples = list(examples)
        scores: dict[str, Any] = {}
        if self.ents_task is not None:
            scores.update(
                Scorer.score_spans(
                    examples, "ents", has_annotation=lambda doc: doc.has_annotation("ENT_IOB"), **kwargs
                )
            )
        for task in self.span_group_tasks:
            scores.update(
                Scorer.score_spans(
                    examples,
                    f"spans_{task}",
                    getter=_span_group_getter(task),
                    has_annotation=lambda doc, task=task: task in doc.spans,
                    **kwargs,
                )
            )
        for attr in sorted(set(self.token_targets.values())):
            scores.update(Scorer.score_token_attr(examples, attr, **kwargs))
        if self.cats_tasks:
            labels = [
                label if len(self.cats_tasks) == 1 else f"{task}:{label}"
                for task in self.cats_tasks
                for label in self._tasks[task].labels
            ]
            multi = any(self._tasks[t].multi_label for t in self.cats_tasks)
            scores.update(Scorer.score_cats(examples, "cats", labels=labels, multi_label=multi, **kwargs))
        return scores

    # -- serialization -----------------------------------------------------

    def _model_to_save(self) -> SequenceTagger | Runtime:
        return self._saved if self._saved is not None else self.model  # self.model: the usual error when none

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        model = self._model_to_save()
        if isinstance(model, Runtime):  # an export: its three files, as they are
            return srsly.msgpack_dumps({"export": model.to_parts()})
        from safetensors.torch import save

        from .model import model_parts

        config, vocab_json, weights = model_parts(model)
        return srsly.msgpack_dumps(
            {
                "config": json.dumps(config),
                "vocab": vocab_json,
                "weights": save(weights, metadata={"format": "pt"}),
            }
        )

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = ()) -> "BilstmTaggerComponent":
        origin = f"<{self.name} bytes>"
        try:
            msg = srsly.msgpack_loads(bytes_data)
            export = msg.get("export") if isinstance(msg, dict) else None
        except Exception as err:  # msgpack raises its own types
            raise TaggerError(f"not a serialized {FACTORY} component ({type(err).__name__}: {err})", origin) from None
        if isinstance(export, dict):
            self._use(Runtime.from_parts(export, origin, batch_size=self.batch_size))
            return self
        from safetensors.torch import load

        from .model import model_from_parts

        try:
            config = json.loads(msg["config"])
            vocab_json = msg["vocab"]
            weights = load(msg["weights"])
        except Exception as err:  # msgpack, JSON and safetensors each raise their own types
            raise TaggerError(f"not a serialized {FACTORY} component ({type(err).__name__}: {err})", origin) from None
        if not isinstance(config, dict) or not isinstance(vocab_json, str):
            raise TaggerError(f"not a serialized {FACTORY} component", origin)
        self._use(model_from_parts(config, vocab_json, weights, origin))
        return self

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        # The model directory layout (config.json, vocab.json, model.safetensors) or an
        # export's (export.json, vocab.json, model.onnx), each file written through a
        # temporary file and renamed.
        self._model_to_save().save(ensure_path(path))

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "BilstmTaggerComponent":
        path = ensure_path(path)
        if path.is_symlink() and not path.resolve().is_relative_to(path.parent.resolve()):
            raise TaggerError("the component folder is a link to a folder outside the pipeline", path)
        # load_model refuses files that link outside the folder and reads no pickle; an
        # export directory is JSON and an ONNX graph, read by ONNX Runtime.
        self._use(self._load(path))
        return self

    def __reduce__(self):
        # For nlp.pipe(n_process=N): travel as safetensors + JSON, not as pickled torch objects.
        state = self.to_bytes() if self.tagger is not None else None
        options = {
            "ents_mode": self.ents_mode,
            "ents_task": self._ents_task_option,
            "token_attrs": self._token_attrs_option,
            "by_sentence": self.by_sentence,
            "join_hyphens": self.join_hyphens,
            "batch_size": self.batch_size,
            "device": self.device,
            "quantize": self.quantize,
        }
        return (_restore, (self.name, options, state))


def _restore(name: str, options: dict, state: bytes | None) -> BilstmTaggerComponent:
    component = BilstmTaggerComponent(name, **options)
    return component.from_bytes(state) if state is not None else component


def _span_group_getter(task: str) -> Callable[[Doc, str], List[Span]]:
    def getter(doc: Doc, attr: str) -> List[Span]:
        return list(doc.spans[task]) if task in doc.spans else []

    return getter


# -- displaCy ------------------------------------------------------------

# displaCy colours the OntoNotes types; give the CoNLL ones the same look.
_COLORS = {"PER": "#aa9cfc", "MISC": "#e4e7d2"}


def displacy_page(items: Iterable[tuple[Sequence[str], Sequence[str]]], title: str = "tagger") -> str:
    """An HTML page showing the entities of ``(words, BIO tags)`` pairs, one block per sentence."""
    from spacy import displacy

    manual = []
    for words, tags in items:
        starts, pos = [], 0
        for word in words:
            starts.append(pos)
            pos += len(word) + 1
        ents = [
            {"start": starts[s], "end": starts[e - 1] + len(words[e - 1]), "label": label}
            for label, s, e in bio_spans(tags)
        ]
        manual.append({"text": " ".join(words), "ents": ents, "title": None})
    if not manual:
        manual.append({"text": "", "ents": [], "title": None})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # displaCy warns about texts without entities
        html = displacy.render(manual, style="ent", manual=True, page=True, jupyter=False,
                               options={"colors": _COLORS})
    return html.replace("<title>displaCy</title>", f"<title>{_escape(title)}</title>", 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["BilstmTaggerComponent", "make_bilstm_tagger", "displacy_page", "looks_upos", "UPOS", "FACTORY"]
