"""Turn a recipe's ``[data]`` section into sentences: a named source or explicit files."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .config import DataConfig, HeadConfig
from .data import Sentence
from .errors import TaggerError
from .io.conll import read_columns, read_conll2003
from .registry import data_formats as DATA_FORMATS
from .sources import load_source

SPLITS = ("train", "valid", "test")


def read_file(path: str | Path, data: DataConfig, heads: Sequence[HeadConfig]) -> list[Sentence]:
    """The sentences of one data file, read by the reader of the recipe's ``data.format``."""
    return DATA_FORMATS[data.format](path, data, heads)


# DATA_FORMATS: name -> reader(path, DataConfig, heads) -> sentences; ``text=True`` marks
# the formats of raw text with a label column, which feed one sentence classification head.


@DATA_FORMATS.register("conll2003")
def _read_conll2003(path: str | Path, data: DataConfig, heads: Sequence[HeadConfig]) -> list[Sentence]:
    # A declared scheme (--scheme) is that of the columns the recipe trains on;
    # the other span column is still validated, with its scheme detected.
    declared = {h.task: data.scheme for h in heads if h.span} if data.scheme != "auto" else "auto"
    return read_conll2003(path, scheme=declared)


@DATA_FORMATS.register("column")
def _read_column(path: str | Path, data: DataConfig, heads: Sequence[HeadConfig]) -> list[Sentence]:
    if len(heads) != 1:
        raise TaggerError("the column format holds one task; use a recipe with one head")
    task = heads[0].task
    return read_columns(
        path,
        word_col=data.word_col,
        columns={task: data.tag_col},
        span_tasks={task} if heads[0].span else set(),
        scheme=data.scheme,
    )


@DATA_FORMATS.register("conllu")
def _read_conllu(path: str | Path, data: DataConfig, heads: Sequence[HeadConfig]) -> list[Sentence]:
    from .io.conllu import read_conllu

    return read_conllu(path, conllu_fields(data, heads))


@DATA_FORMATS.register("spacy")
def _read_docbin(path: str | Path, data: DataConfig, heads: Sequence[HeadConfig]) -> list[Sentence]:
    from .io.spacy_docbin import read_docbin

    return read_docbin(path, heads)


def _read_text(path: str | Path, data: DataConfig, heads: Sequence[HeadConfig]) -> list[Sentence]:
    from .io.text_classification import read_text_classification

    head = classify_head(heads, data.format)
    return read_text_classification(
        path, data.format, head.task, text_field=data.text_field, label_field=data.label_field,
        tokenizer=data.tokenizer, multi_label=head.multi_label, max_tokens=data.max_tokens,
    )


for _fmt in ("tsv", "csv", "jsonl"):
    DATA_FORMATS.register(_fmt, _read_text, text=True)


def text_formats() -> tuple[str, ...]:
    """The registered formats of labelled raw text (they need a sentence classification head)."""
    return tuple(name for name in DATA_FORMATS if DATA_FORMATS.info(name).get("text"))


def classify_head(heads: Sequence[HeadConfig], fmt: str) -> HeadConfig:
    """The one sentence classification head a text classification file feeds."""
    from .config import is_sentence_head

    found = [h for h in heads if is_sentence_head(h)]
    if len(found) != 1 or len(heads) != 1:
        raise TaggerError(
            f"{fmt} files hold text with one label column: the recipe needs exactly one head, "
            f"of kind 'classify' (it has: {', '.join(f'{h.task} ({h.kind})' for h in heads)}); try the 'classify' recipe"
        )
    return found[0]


def conllu_fields(data: DataConfig, heads: Sequence[HeadConfig]) -> tuple[str, ...]:
    """The CoNLL-U columns a recipe tags: its heads' tasks, which must be named after
    the columns (``upos``, ``xpos``), one of them ``data.field``."""
    from .io.conllu import TAG_FIELDS

    tasks = [h.task for h in heads]
    if data.field not in TAG_FIELDS:
        raise TaggerError(f"unknown CoNLL-U field '{data.field}' (choose: {', '.join(TAG_FIELDS)})")
    wrong = [t for t in tasks if t not in TAG_FIELDS]
    if wrong:
        raise TaggerError(
            f"CoNLL-U data gives the tasks {', '.join(TAG_FIELDS)}; the recipe has a head for '{wrong[0]}'"
        )
    if data.field not in tasks:
        raise TaggerError(
            f"data.field is '{data.field}' but the recipe's heads tag {', '.join(tasks)}; "
            f"use --field {data.field} (which renames a single head) or --set heads.0.task={data.field}"
        )
    return tuple(tasks)


def load_corpus(
    data: DataConfig, heads: Sequence[HeadConfig], splits: Sequence[str] = ("train", "valid")
) -> dict[str, list[Sentence]]:
    """Explicit files win over the named source, split by split."""
    files = {"train": data.train, "valid": data.dev, "test": data.test}
    corpus: dict[str, list[Sentence]] = {}
    for split in splits:
        if files.get(split):
            corpus[split] = read_file(files[split], data, heads)
    missing = [s for s in splits if s not in corpus]
    if missing:
        if not data.source:
            raise TaggerError(f"no {missing[0]} data: give --{'dev' if missing[0] == 'valid' else missing[0]} FILE")
        # Sources of raw text tokenize it with the recipe's tokenizer and cut it to its
        # max_tokens; sources of tagged words ignore both.
        corpus.update(load_source(data.source, data.data_dir or None, tuple(missing),
                                  tokenizer=data.tokenizer, max_tokens=data.max_tokens))
    return corpus
