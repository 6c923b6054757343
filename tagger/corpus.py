"""Turn a recipe's ``[data]`` section into sentences: a named source or explicit files."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .config import DataConfig, HeadConfig
from .data import Sentence
from .errors import TaggerError
from .io.conll import read_columns, read_conll2003
from .sources import SOURCES, TEXT_SOURCES

SPLITS = ("train", "valid", "test")


def read_file(path: str | Path, data: DataConfig, heads: Sequence[HeadConfig]) -> list[Sentence]:
    if data.format == "conll2003":
        # A declared scheme (--scheme) is that of the columns the recipe trains on;
        # the other span column is still validated, with its scheme detected.
        declared = {h.task: data.scheme for h in heads if h.span} if data.scheme != "auto" else "auto"
        return read_conll2003(path, scheme=declared)
    if data.format == "column":
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
    if data.format == "conllu":
        from .io.conllu import read_conllu

        return read_conllu(path, conllu_fields(data, heads))
    if data.format == "spacy":
        from .io.spacy_docbin import read_docbin

        return read_docbin(path, heads)
    if data.format in ("tsv", "csv", "jsonl"):
        from .io.text_classification import read_text_classification

        head = classify_head(heads, data.format)
        return read_text_classification(
            path, data.format, head.task, text_field=data.text_field, label_field=data.label_field,
            tokenizer=data.tokenizer, multi_label=head.multi_label, max_tokens=data.max_tokens,
        )
    raise TaggerError(
        f"unknown data format '{data.format}' (choose: conll2003, column, conllu, spacy; tsv, csv, jsonl for text classification)"
    )


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
        if data.source not in SOURCES:
            raise TaggerError(f"unknown data source '{data.source}' (known: {', '.join(sorted(SOURCES))})")
        data_dir = Path(data.data_dir) if data.data_dir else None
        # Text sources tokenize raw text: with the recipe's tokenizer, cut to its max_tokens.
        extra = {"tokenizer": data.tokenizer, "max_tokens": data.max_tokens} if data.source in TEXT_SOURCES else {}
        corpus.update(SOURCES[data.source](data_dir, tuple(missing), **extra))
    return corpus
