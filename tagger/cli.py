"""The ``tagger`` command line: each command parses options and calls one library function."""
from __future__ import annotations

import ctypes
import functools
import json
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from .errors import TaggerError, not_utf8

app = typer.Typer(
    help="BiLSTM sequence taggers (train, evaluate, predict) and RNN language models (lm). Run 'tagger COMMAND --help' for details.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def user_errors(func: Callable) -> Callable:
    """A user's mistake is one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TaggerError as err:
            print(f"error: {err}", file=sys.stderr)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


def _set(raw: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        raw = raw.setdefault(key, {})
    raw[last] = value


@app.command()
@user_errors
def train(
    recipe: Annotated[Optional[str], typer.Argument(help="A named recipe (conll2003, demo, ...) or a path to a recipe .toml file.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Run directory; the best model goes to OUTPUT/best. Default: runs/RECIPE.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder with the named source's files (e.g. train.txt, valid.txt, test.txt).")] = None,
    train_file: Annotated[Optional[Path], typer.Option("--train", help="Training file; overrides the recipe's data source.")] = None,
    dev_file: Annotated[Optional[Path], typer.Option("--dev", help="Development file used for early stopping.")] = None,
    data_format: Annotated[Optional[str], typer.Option("--format", help="Format of --train/--dev files: conll2003 (4 columns), column (any columns), conllu (Universal Dependencies; see --field) or spacy (.spacy DocBin files); for text classification (the classify recipe) tsv, csv or jsonl.")] = None,
    word_col: Annotated[Optional[int], typer.Option(help="Column holding the word (column format; 0-based).")] = None,
    tag_col: Annotated[Optional[int], typer.Option(help="Column holding the tag (column format; 0-based, -1 = last).")] = None,
    scheme: Annotated[Optional[str], typer.Option(help="Tag scheme of the files: auto, iob1, bio or bioes. Always trained as BIO.")] = None,
    field: Annotated[Optional[str], typer.Option(help="CoNLL-U column to tag: upos or xpos (conllu format; renames the recipe's single upos/xpos head).")] = None,
    text_field: Annotated[Optional[str], typer.Option(help="Text classification: the column (TSV/CSV header name, JSONL key) holding the text.")] = None,
    label_field: Annotated[Optional[str], typer.Option(help="Text classification: the column holding the label (labels separated by commas, or a JSON list, with --multi-label).")] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="Text classification: any number of labels per text (sigmoid outputs and a threshold).")] = False,
    tokenizer: Annotated[Optional[str], typer.Option(help="How raw text is split into words, at training and prediction: conll, whitespace or ptb.")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Text classification: keep the first N tokens of each text.")] = None,
    vectors: Annotated[Optional[Path], typer.Option(help="Pretrained word vectors: a GloVe, word2vec or fastText text file.")] = None,
    charlm: Annotated[Optional[str], typer.Option(help="Contextual char-LM embeddings: 'FWD_DIR,BWD_DIR', a forward and a backward model from 'tagger lm train' (the second with --backward). Frozen unless --set embed.charlm_finetune=true.")] = None,
    max_epochs: Annotated[Optional[int], typer.Option(help="Maximum number of epochs.")] = None,
    max_minutes: Annotated[Optional[float], typer.Option(help="Stop after the epoch that would cross this wall-time budget.")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Early stopping: epochs without dev improvement before stopping.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Sentences per training batch.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed; the same seed repeats a CPU run exactly.")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:N, or auto (a GPU when there is one).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for PyTorch (default: PyTorch's choice).")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue the killed or interrupted run in this run directory from its last checkpoint.")] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Also write a checkpoint every N batches (one is always written at the end of each epoch).")] = 0,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override any recipe field, e.g. --set encoder.hidden=128 --set heads.0.kind=softmax. Repeatable.")] = None,
) -> None:
    """Train a model from a recipe and write its model directory."""
    from .config import Recipe, apply_overrides, load_recipe_dict
    from .train import train as run_training

    if resume is not None:
        if recipe is not None or overrides:
            raise TaggerError("--resume continues a run with its own recipe; give no recipe or --set with it")
        run_training(None, resume, err_console, resume=True, checkpoint_every=checkpoint_every)
        return
    if recipe is None:
        raise TaggerError("give a recipe name or file (see 'tagger train --help'), or --resume RUN_DIR")
    raw, origin = load_recipe_dict(recipe)
    flags = {
        "data.data_dir": data_dir, "data.train": train_file, "data.dev": dev_file, "data.format": data_format,
        "data.word_col": word_col, "data.tag_col": tag_col, "data.scheme": scheme, "embed.vectors": vectors, "embed.charlm": charlm,
        "train.max_epochs": max_epochs, "train.max_minutes": max_minutes, "train.patience": patience,
        "train.batch_size": batch_size, "train.lr": lr, "train.seed": seed, "train.device": device,
        "train.threads": threads, "data.text_field": text_field, "data.label_field": label_field,
        "data.tokenizer": tokenizer, "data.max_tokens": max_tokens,
    }
    for key, value in flags.items():
        if value is not None:
            _set(raw, key, str(value) if isinstance(value, Path) else value)
    if field is not None:
        _set_field(raw, field)
    if multi_label:
        heads = raw.get("heads")
        if not (isinstance(heads, list) and len(heads) == 1 and isinstance(heads[0], dict)):
            raise TaggerError("--multi-label sets the recipe's single classify head; use --set heads.N.multi_label=true")
        heads[0]["multi_label"] = True
    if train_file is not None and dev_file is None:
        raise TaggerError("--train needs --dev too (the dev data drives early stopping)")
    parsed = Recipe.from_dict(apply_overrides(raw, overrides or []), origin)
    run_training(parsed, output or Path("runs") / parsed.name, err_console, checkpoint_every=checkpoint_every)


def _set_field(raw: dict, field: str) -> None:
    """``--field``: the CoNLL-U column to tag; a recipe's single upos/xpos head is renamed to it."""
    from .io.conllu import TAG_FIELDS

    if field not in TAG_FIELDS:
        raise TaggerError(f"unknown --field '{field}' (choose: {', '.join(TAG_FIELDS)})")
    _set(raw, "data.field", field)
    heads = raw.get("heads")
    if isinstance(heads, list) and len(heads) == 1 and isinstance(heads[0], dict) and heads[0].get("task") in TAG_FIELDS:
        heads[0]["task"] = field


class Split(str, Enum):
    train = "train"
    valid = "valid"
    test = "test"


@user_errors
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A model directory (or a run directory holding best/).")],
    split: Annotated[Split, typer.Option(help="Which split of the model's data source to score.")] = Split.valid,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder with the source's files, if not where training found them.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="Score this file instead (in the model's data format).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the full report as JSON here.")] = None,
    confusion: Annotated[Optional[Path], typer.Option(help="Draw the confusion matrix of the most-confused tags to this PNG (one file per task, OUT.TASK.png, for a multitask model).")] = None,
    top: Annotated[int, typer.Option(help="Tags shown in the confusion matrix.")] = 15,
    batch_size: Annotated[int, typer.Option(help="Sentences per prediction batch.")] = 256,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
) -> None:
    """Score a model: seqeval (strict BIO spans) for span tasks; token accuracy, OOV accuracy
    and per-tag precision/recall/F1 for tag tasks such as POS; accuracy, macro-F1 and
    per-class precision/recall/F1 for sentence classification (micro-F1 and exact match
    for multi-label)."""
    from .corpus import load_corpus, read_file
    from .metrics import format_classification_report, format_span_report, format_tag_report
    from .predict import Tagger

    tagger = Tagger.load(model_dir, device)
    tagger.batch_size = batch_size
    recipe = tagger.model.recipe
    if file is not None:
        gold = read_file(file, recipe.data, recipe.heads)
        where = str(file)
    else:
        data = recipe.data
        data.train = data.dev = data.test = None  # a trained model's file paths may not exist here
        if data_dir is not None:
            data.data_dir = str(data_dir)
        gold = load_corpus(data, recipe.heads, (split.value,))[split.value]
        where = f"{data.source} {split.value}"
    try:
        report = tagger.evaluate(gold)
    except TaggerError as err:  # e.g. a label the model does not know: name the file (the reader gave the line)
        if err.path is None and file is not None:
            err.path = str(file)
        raise
    print(f"{where}: {len(gold):,} sentences, {sum(len(s) for s in gold):,} tokens")
    for task, entry in report.items():
        print(f"\n== {task} ==")
        if entry.get("level") == "sentence":
            print(format_classification_report(entry))
        elif "f1" in entry:
            print(format_span_report(entry, entry["token_accuracy"]))
            if entry.get("oov_tokens"):
                print(f"OOV token accuracy: {entry['oov_token_accuracy'] * 100:.2f} ({entry['oov_tokens']:,} tokens)")
        elif "per_tag" in entry:
            print(format_tag_report(entry))
        else:
            print(f"token accuracy: {entry['token_accuracy'] * 100:.2f}")
    if confusion is not None:
        from .plots import plot_confusion

        for task, entry in report.items():
            if "confusion" not in entry:
                print(f"\nno confusion matrix for {task}: a multi-label task has none")
                continue
            target = confusion if len(report) == 1 else confusion.with_name(f"{confusion.stem}.{task}{confusion.suffix or '.png'}")
            shown = plot_confusion(entry["confusion"], target, top, title=f"{task}: {where}")
            print(f"\nconfusion matrix of {task} ({len(shown)} most-confused tags) written to {target}")
    if json_out is not None:
        json_out.write_text(json.dumps({"data": where, "report": report}, indent=2))


app.command("evaluate")(evaluate)


class OutputFormat(str, Enum):
    conll = "conll"
    jsonl = "jsonl"
    spans = "spans"
    html = "html"
    conllu = "conllu"


class InputFormat(str, Enum):
    auto = "auto"
    text = "text"
    conll = "conll"
    jsonl = "jsonl"
    conllu = "conllu"


def _read_input(path: Path, fmt: InputFormat) -> Iterator[list[str] | str]:
    """Sentences from a file, lazily, so huge inputs stream."""
    if fmt is InputFormat.auto:
        fmt = {".jsonl": InputFormat.jsonl, ".conll": InputFormat.conll}.get(path.suffix, InputFormat.text)
        if path.suffix == ".conllu":
            fmt = InputFormat.conllu
    if fmt is InputFormat.conllu:
        from .io.conllu import read_conllu

        yield from (s.words for s in read_conllu(path, ()))
        return
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as err:
        raise TaggerError(f"cannot open input ({err.strerror})", path) from None
    with handle:
        words: list[str] = []
        line_no = 0
        try:
            for line_no, line in enumerate(handle, 1):
                line = line.strip()
                if fmt is InputFormat.text:
                    if line:
                        yield line
                elif fmt is InputFormat.jsonl:
                    if not line:
                        continue
                    try:
                        item = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise TaggerError(f"not valid JSON ({err.msg})", path, line_no) from None
                    if isinstance(item, dict) and isinstance(item.get("tokens"), list):
                        yield [str(t) for t in item["tokens"]]
                    elif isinstance(item, dict) and isinstance(item.get("text"), str):
                        yield item["text"]
                    else:
                        raise TaggerError('expected an object with "tokens" (a list) or "text"', path, line_no)
                else:
                    if not line:
                        if words:
                            yield words
                        words = []
                    elif not line.startswith("-DOCSTART-"):
                        words.append(line.split()[0])
        except UnicodeDecodeError:
            # The text layer decodes ahead in blocks, so find the offending line itself.
            raise not_utf8(path) from None
        if words:
            yield words


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _release_freed_memory() -> None:
    """Hand freed heap memory back to the OS (every few chunks of a stream): tensors
    of ever-new shapes fragment glibc's heap, and without this a long stream of
    varied text creeps up by hundreds of MB instead of staying flat. Every 8 chunks
    it costs a few percent of throughput; after every chunk, about 15%."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def format_prediction(
    words: list[str], labels: dict[str, list[str]], fmt: OutputFormat, span_tasks: set[str],
    proba: dict[str, dict[str, float]] | None = None,
) -> str:
    """One sentence's output. Sentence tasks (the keys of ``proba``) show their labels
    with probabilities: ``positive (0.93)`` in ``spans``, a ``# task = ...`` line in
    ``conll``, ``TASK`` and ``TASK_proba`` keys in ``jsonl``."""
    from .explain import format_labels
    from .schemes import spans

    proba = proba or {}
    token_tasks = [t for t in labels if t not in proba]
    if fmt is OutputFormat.jsonl:
        record: dict[str, Any] = {"tokens": words, **labels}
        for task in span_tasks & set(labels):
            record[f"{task}_spans"] = [
                {"label": t, "start": s, "end": e, "text": " ".join(words[s:e])} for t, s, e in spans(labels[task])
            ]
        for task, probs in proba.items():
            record[f"{task}_proba"] = probs
        return json.dumps(record, ensure_ascii=False) + "\n"
    cats = {task: format_labels(labels[task], proba[task]) for task in proba}
    if fmt is OutputFormat.conll:
        head = [f"# {task} = {text}" for task, text in cats.items()]
        rows = ["\t".join([w, *(labels[t][i] for t in token_tasks)]) for i, w in enumerate(words)]
        return "\n".join(head + rows) + "\n\n"
    if not token_tasks:  # a classifier: "positive (0.93)"
        if len(cats) == 1:
            return next(iter(cats.values())) + "\n"
        return "  ".join(f"{task}: {text}" for task, text in cats.items()) + "\n"
    labels = {t: labels[t] for t in token_tasks}
    # spans: entities in brackets for span tasks, word/TAG for the others.
    out = list(words)
    for task in labels:
        if task in span_tasks:
            for label, s, e in reversed(spans(labels[task])):
                out[s:e] = [f"[{label} " + " ".join(out[s:e]) + "]"]
            break
    else:
        first = next(iter(labels))
        out = [f"{w}/{t}" for w, t in zip(words, labels[first])]
    return " ".join(out) + "".join(f"\t{task}: {text}" for task, text in cats.items()) + "\n"


def _predict_conllu(
    tagger: Any, texts: list[str] | None, input_file: Path | None, input_format: InputFormat,
    output: Path | None, batch_size: int,
) -> None:
    """``--format conllu``: UPOS/XPOS predictions in CoNLL-U. A CoNLL-U input comes back
    line for line (comments, multiword tokens, empty nodes, other columns) with only
    those two columns replaced; other inputs get fresh lines."""
    from .data import Sentence
    from .io.conllu import UPOS, XPOS, read_conllu, write_conllu

    tasks = tagger.tasks
    columns = {t: c for t, c in (("upos", UPOS), ("xpos", XPOS)) if t in tasks}
    if "xpos" not in columns and "pos" in tasks:
        columns["pos"] = XPOS  # a PTB POS model (conll2003-pos) fills XPOS
    if not columns:
        raise TaggerError(f"--format conllu writes UPOS/XPOS tags; this model's tasks are {', '.join(tasks)}")
    is_conllu = input_file is not None and (
        input_format is InputFormat.conllu or (input_format is InputFormat.auto and input_file.suffix == ".conllu")
    )
    if is_conllu:
        sentences = read_conllu(input_file, ())
    else:
        source = iter(texts) if texts else _read_input(input_file, input_format)
        sentences = [Sentence(words) for words in (tagger.words(s) for s in source) if words]
    out = output.open("w", encoding="utf-8", newline="\n") if output else sys.stdout
    try:
        step = 4 * batch_size
        for start in range(0, len(sentences), step):
            chunk = sentences[start : start + step]
            write_conllu(chunk, tagger.predict_all([s.words for s in chunk]), out, columns=columns)
            out.flush()
    finally:
        if output:
            out.close()


@app.command()
@user_errors
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model directory (or a run directory holding best/).")],
    texts: Annotated[Optional[list[str]], typer.Argument(help="Sentences to tag (raw text, tokenized for you).")] = None,
    input_file: Annotated[Optional[Path], typer.Option("--input", "-i", help="Tag this file instead: plain text (a sentence a line), CoNLL (word first column) or JSONL.")] = None,
    input_format: Annotated[InputFormat, typer.Option(help="Format of --input; auto guesses from the extension (.jsonl, .conll, .conllu, else text).")] = InputFormat.auto,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="conll (word and tags), jsonl (tokens, tags, spans), spans ([TYPE words] inline), html (a displaCy page of the entities) or conllu (UPOS/XPOS filled into the CoNLL-U input).")] = OutputFormat.spans,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of standard output (with --explain, a .html file gets the heat map).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Classifiers with attention pooling: show each word's attention weight (text; an HTML heat map with -o page.html or --explain-html).")] = False,
    explain_html: Annotated[Optional[Path], typer.Option(help="With --explain: also write the attention heat map as an HTML page here.")] = None,
    batch_size: Annotated[int, typer.Option(help="Sentences per prediction batch.")] = 256,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes tagging --input in parallel (each loads the model and runs PyTorch on one thread); output stays in input order. Formats spans, conll and jsonl.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed run: keep the complete sentences already in --output, drop an incomplete last one, and tag the rest of --input.")] = False,
) -> None:
    """Tag sentences given on the command line or in a file; output is written as it goes.
    A sentence classifier prints each sentence's label with its probability."""
    from .predict import Tagger

    if not texts and input_file is None:
        raise TaggerError("give sentences to tag, or --input FILE")
    tagger = Tagger.load(model_dir, device)
    tagger.batch_size = batch_size
    span_tasks = {h.task for h in tagger.model.recipe.heads if h.span}
    if resume and input_file is None:
        raise TaggerError("--resume continues tagging an --input file into its --output")
    if (workers > 1 or resume) and input_file is not None:
        if explain or explain_html is not None or output_format.value not in ("spans", "conll", "jsonl"):
            raise TaggerError("--workers and --resume write --format spans, conll or jsonl (not --explain, html or conllu)")
        if resume and output is None:
            raise TaggerError("--resume continues the output file of a killed run: give it with --output")
        _predict_parallel(tagger, model_dir, input_file, input_format, output_format, output, batch_size, device,
                          workers, resume)
        return
    if explain or explain_html is not None:
        _predict_explain(tagger, texts, input_file, input_format, output, explain_html, model_dir)
        return
    if output_format is OutputFormat.html and not span_tasks:
        hint = " (for a classifier, --explain writes an HTML heat map of the attention)" if tagger.sentence_tasks else ""
        raise TaggerError(f"--format html shows entities, and this model has no span task{hint}")
    if output_format is OutputFormat.conllu:
        _predict_conllu(tagger, texts, input_file, input_format, output, batch_size)
        return
    page: list[tuple[list[str], list[str]]] = []  # html is one page, written at the end
    source: Iterator[list[str] | str] = iter(texts) if texts else _read_input(input_file, input_format)
    sentences = (tagger.words(s) for s in source)  # the model's own tokenizer (and, for classifiers, max_tokens)
    sentences = (s for s in sentences if s)
    with LazyOutput(output) as out:
        write = out.write
        pending: list[list[str]] = []
        chunks_done = [0]

        def flush() -> None:
            chunk = []
            if tagger.sentence_tasks:
                predicted, proba = tagger.predict_with_proba(pending)
            else:
                predicted, proba = tagger.predict_all(pending), [None] * len(pending)
            for words, labels, probs in zip(pending, predicted, proba):
                if output_format is OutputFormat.html:
                    page.append((words, labels["ner" if "ner" in span_tasks else min(span_tasks)]))
                    continue
                chunk.append(format_prediction(words, labels, output_format, span_tasks, probs))
            pending.clear()
            write("".join(chunk))
            chunks_done[0] += 1
            if chunks_done[0] % 8 == 0:
                _release_freed_memory()

        for words in sentences:
            pending.append(words)
            if len(pending) >= 4 * batch_size:
                flush()
        flush()
        if output_format is OutputFormat.html:
            from .spacy_component import displacy_page

            write(displacy_page(page, title=f"tagger: {model_dir}"))


class LazyOutput:
    """Where predictions go: stdout, or a file opened at the first write (so an input
    error in the first chunk leaves no file), flushed after every write (a kill loses
    at most the chunk in flight), and removed when a user error stops a fresh run (a
    resumed run's earlier output is kept)."""

    def __init__(self, path: Path | None, append: bool = False):
        self.path, self.append = path, append
        self.file: Any = None if path is not None else sys.stdout

    def write(self, text: str) -> None:
        if self.file is None:
            self.file = self.path.open("a" if self.append else "w", encoding="utf-8")
        self.file.write(text)
        self.file.flush()

    def __enter__(self) -> "LazyOutput":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.path is None or self.file is None:
            return
        self.file.close()
        if exc_type is not None and issubclass(exc_type, TaggerError) and not self.append:
            self.path.unlink(missing_ok=True)


def _predict_parallel(
    tagger: Any, model_dir: Path, input_file: Path, input_format: InputFormat, output_format: OutputFormat,
    output: Path | None, batch_size: int, device: str, workers: int, resume: bool,
) -> None:
    """``predict --input FILE`` with ``--workers N`` and/or ``--resume`` (see :mod:`tagger.parallel`)."""
    from .parallel import chunked, is_blank, prepare_resume, tag_chunks

    fmt = output_format.value
    done = prepare_resume(output, fmt) if resume else 0
    if done:
        print(f"resuming: {output} already holds {done:,} tagged sentences; tagging the rest of {input_file}",
              file=sys.stderr)
    items = (item for item in _read_input(input_file, input_format) if not is_blank(item))
    skipped = 0
    for _ in range(done):
        if next(items, None) is None:
            raise TaggerError(f"--resume: {output} holds {done:,} sentences but the input has only {skipped:,}; "
                              "it is not this input's output", input_file)
        skipped += 1
    if workers > 1:
        tagger = None  # the workers load their own copies
    chunks = chunked(items, 4 * batch_size)
    with LazyOutput(output, append=resume and output is not None and output.exists()) as out:
        for text in tag_chunks(model_dir, chunks, fmt, workers=workers, batch_size=batch_size, device=device,
                               tagger=tagger):
            out.write(text)


def _predict_explain(
    tagger: Any, texts: list[str] | None, input_file: Path | None, input_format: InputFormat,
    output: Path | None, explain_html: Path | None, model_dir: Path,
) -> None:
    """``predict --explain``: each sentence's labels and its words' attention weights, as
    text (standard output, or ``-o FILE``) and/or an HTML heat map (``-o page.html``,
    ``--explain-html FILE``)."""
    from .explain import attention_page, format_labels, format_weights

    task = next((t for t in tagger.sentence_tasks), None)
    if task is None:
        raise TaggerError(f"--explain shows a classifier's attention; this model's tasks ({', '.join(tagger.tasks)}) label words")
    source = iter(texts) if texts else _read_input(input_file, input_format)
    sentences = [w for w in (tagger.words(s) for s in source) if w]
    weights = tagger.explain(sentences, task)  # a TaggerError for a head without attention
    labels, proba = tagger.predict_with_proba(sentences)
    captions = [format_labels(lab[task], p[task]) for lab, p in zip(labels, proba)]
    html_targets = [p for p in (explain_html, output if output is not None and output.suffix.lower() in (".html", ".htm") else None) if p]
    if html_targets:
        page = attention_page(zip(captions, weights), title=f"tagger: {model_dir}")
        for target in html_targets:
            target.write_text(page, encoding="utf-8")
            err_console.print(f"attention heat map written to {target}")
    if output is not None and output in html_targets:
        return
    text = "".join(f"{caption}\n  {format_weights(w)}\n" for caption, w in zip(captions, weights))
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


# Registered last: the lm commands reuse this module's error handling.
from .lm.cli import app as lm_app  # noqa: E402

app.add_typer(lm_app, name="lm")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
