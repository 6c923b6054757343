"""The ``tagger`` command line: each command parses options and calls one library function."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..device import THREADS_HELP
from ..errors import TaggerError
from ..outputs import (
    InputFormat,
    LazyOutput,
    OutputFormat,
    read_input,
)
from .common import set_dotted, stderr_console, user_errors

app = typer.Typer(
    help="BiLSTM sequence taggers (train, evaluate, predict) and RNN language models (lm). Run 'tagger COMMAND --help' for details.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich's help renderer costs 0.25 s of start-up on every --help (bench/startup.py).
    rich_markup_mode=None,
)


DOC_CONSISTENCY_HELP = ("Span tasks, in place of the model's heads.N.doc_consistency: none; vote (within a document, each "
                        "mention takes the type its words carry most often); vote+propagate (then untagged repeats of a "
                        "capitalised mention become mentions of its type). Documents: -DOCSTART- or blank-line pairs in "
                        "--input/--file, a Doc in spaCy.")
QUANTIZE_HELP = ("int8: the LSTM and linear layers in dynamic int8 (PyTorch, CPU): faster on most CPUs. "
                 "bf16: the recurrent layers in bfloat16: fastest on CPUs with AMX or AVX512-BF16 (Xeon 4th gen+, "
                 "Zen 4+), slow elsewhere. Labels nearly always the same.")

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
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue the killed or interrupted run in this run directory from its last checkpoint.")] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Also write a checkpoint every N batches (one is always written at the end of each epoch).")] = 0,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override any recipe field, e.g. --set encoder.hidden=128 --set heads.0.kind=softmax. Repeatable.")] = None,
    train_src: Annotated[Optional[Path], typer.Option(help="Translation: training source sentences, one a line (with --train-tgt, aligned).")] = None,
    train_tgt: Annotated[Optional[Path], typer.Option(help="Translation: training target sentences, line N translating line N of --train-src.")] = None,
    dev_src: Annotated[Optional[Path], typer.Option(help="Translation: validation source sentences (with --dev-tgt).")] = None,
    dev_tgt: Annotated[Optional[Path], typer.Option(help="Translation: validation target sentences.")] = None,
) -> None:
    """Train a model from a recipe and write its model directory (any family: the recipe's
    `family` field, or the checkpoint's with --resume, says which)."""
    params = dict(locals())  # the options as given, before any other name is bound
    from ..family import recipe_family, run_family

    family = recipe_family(recipe) if recipe is not None else run_family(resume)
    parallel = [name for name, value in (("--train-src", train_src), ("--train-tgt", train_tgt), ("--dev-src", dev_src),
                                         ("--dev-tgt", dev_tgt)) if value is not None]
    if parallel and family != "seq2seq":
        raise TaggerError(f"{parallel[0]} is an option for translation (seq2seq) recipes only")
    if family != "tagger":  # tagger.trees, tagger.lm, tagger.seq2seq, ...: see family.py
        options = {name: value for name, value in params.items() if name in FAMILY_OPTIONS}
        _family_train_command(family)(recipe, output, resume, overrides or [], checkpoint_every, stderr_console(),
                                      **options)
        return
    from ..config import Recipe, apply_overrides, load_recipe_dict
    from ..options import TRAIN_OPTIONS, option_name
    from ..train import train as run_training

    flags = {  # option -> (recipe field, value given)
        "--data-dir": ("data.data_dir", data_dir), "--train": ("data.train", train_file), "--dev": ("data.dev", dev_file),
        "--format": ("data.format", data_format), "--word-col": ("data.word_col", word_col),
        "--tag-col": ("data.tag_col", tag_col), "--scheme": ("data.scheme", scheme), "--vectors": ("embed.vectors", vectors),
        "--charlm": ("embed.charlm", charlm),
        **{option_name(name): (field, params[name]) for name, field in TRAIN_OPTIONS.items()},  # every family's
        "--text-field": ("data.text_field", text_field), "--label-field": ("data.label_field", label_field),
        "--tokenizer": ("data.tokenizer", tokenizer), "--max-tokens": ("data.max_tokens", max_tokens),
    }
    given = {option: value for option, (_, value) in flags.items() if value is not None}
    if resume is not None:
        extra = {"recipe": recipe, "--set": overrides, "--output": output, "--field": field, "--multi-label": multi_label}
        changes = _resume_changes(given, [name for name, value in extra.items() if value])
        run_training(None, resume, stderr_console(), resume=True, checkpoint_every=checkpoint_every, changes=changes)
        return
    if recipe is None:
        raise TaggerError("give a recipe name or file (see 'tagger train --help'), or --resume RUN_DIR")
    raw, origin = load_recipe_dict(recipe)
    for option, value in given.items():
        set_dotted(raw, flags[option][0], str(value) if isinstance(value, Path) else value)
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
    run_training(parsed, output or Path("runs") / parsed.name, stderr_console(), checkpoint_every=checkpoint_every)


# `tagger train` options handed to another family's train command, which refuses those it has no use for.
FAMILY_OPTIONS = (
    "data_dir", "train_file", "dev_file", "data_format", "word_col", "tag_col", "scheme", "field", "text_field",
    "label_field", "multi_label", "tokenizer", "max_tokens", "vectors", "charlm", "max_epochs", "max_minutes",
    "patience", "batch_size", "lr", "seed", "device", "threads", "train_src", "train_tgt", "dev_src", "dev_tgt",
)


def _family_train_command(family: str) -> Any:
    """The ``train_command`` of a model family other than the tagger (registered in ``family.py``)."""
    from ..family import family_hook

    return family_hook(family, "train_command")


# What may change when a run is resumed: how it runs, not what it learns.
RESUMABLE = {"--threads": "threads", "--device": "device", "--max-minutes": "max_minutes"}


def _resume_changes(given: dict[str, Any], other_options: list[str]) -> dict[str, Any]:
    """The ``train`` fields that ``--resume`` changes; any other option is refused, by name."""
    refused = [option for option in given if option not in RESUMABLE] + other_options
    if refused:
        allowed = ", ".join([*RESUMABLE, "--checkpoint-every"])
        raise TaggerError(f"--resume continues a run with its own recipe, so {refused[0]} cannot be given with it "
                          f"(only {allowed} can change between runs)")
    return {RESUMABLE[option]: value for option, value in given.items()}


def _set_field(raw: dict, field: str) -> None:
    """``--field``: the CoNLL-U column to tag; a recipe's single upos/xpos head is renamed to it."""
    from ..io.conllu import TAG_FIELDS

    if field not in TAG_FIELDS:
        raise TaggerError(f"unknown --field '{field}' (choose: {', '.join(TAG_FIELDS)})")
    set_dotted(raw, "data.field", field)
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
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
    src: Annotated[Optional[Path], typer.Option(help="Translation models: score these source sentences (one a line) ...")] = None,
    ref: Annotated[Optional[Path], typer.Option(help="... against these reference translations (line N translates line N of --src).")] = None,
    beam: Annotated[Optional[int], typer.Option(help="Translation models: beam width (1 = greedy; default: the model's, 5).")] = None,
    quantize: Annotated[Optional[str], typer.Option(help=QUANTIZE_HELP)] = None,
    unseen: Annotated[bool, typer.Option("--unseen", help="Span tasks: also score entity mentions seen and unseen in the model's training data (the same words with the same type), and the sentences whose entities are all unseen; reads the training split.")] = False,
    doc_consistency: Annotated[Optional[str], typer.Option(help=DOC_CONSISTENCY_HELP)] = None,
) -> None:
    """Score a model: seqeval (strict BIO spans) for span tasks; token accuracy, OOV accuracy
    and per-tag precision/recall/F1 for tag tasks such as POS; accuracy, macro-F1 and
    per-class precision/recall/F1 for sentence classification (micro-F1 and exact match
    for multi-label)."""
    from ..family import model_family
    from ..seq2seq import is_seq2seq_model
    from ..trees import is_tree_model

    _tagger_only(model_family(model_dir), quantize=quantize, unseen=unseen, doc_consistency=doc_consistency)
    if is_seq2seq_model(model_dir):  # translation (tagger.seq2seq)
        from ..seq2seq.cli import evaluate_command as evaluate_seq2seq

        evaluate_seq2seq(model_dir, split.value, data_dir, src, ref, json_out, beam, batch_size, device, threads)
        return
    if src is not None or ref is not None or beam is not None:
        raise TaggerError("--src, --ref and --beam are for translation (seq2seq) models")
    if is_tree_model(model_dir):  # the tree family (tagger.trees)
        from ..trees.cli import evaluate_command

        evaluate_command(model_dir, split.value, data_dir, file, json_out, confusion, batch_size, device, threads)
        return
    from ..device import set_threads
    from ..predict import Tagger
    from ..runtime import is_export_dir

    if is_export_dir(model_dir):  # a `tagger export` directory: the same report through ONNX Runtime
        gold, where, report = _evaluate_export(model_dir, split.value, data_dir, file, batch_size, threads, quantize, unseen,
                                               doc_consistency)
        _write_report(report, gold, where, confusion, top, json_out)
        return
    set_threads(threads)
    tagger = Tagger.load(model_dir, device, quantize)
    tagger.batch_size = batch_size
    if doc_consistency is not None:
        tagger.set_doc_consistency(doc_consistency)
    seen = _training_mentions(tagger, data_dir) if unseen else None
    gold, where = _gold_corpus(tagger.model.recipe, file, split.value, data_dir)
    try:
        report = tagger.evaluate(gold, seen=seen)
    except TaggerError as err:  # e.g. a label the model does not know: name the file (the reader gave the line)
        if err.path is None and file is not None:
            err.path = str(file)
        raise
    _write_report(report, gold, where, confusion, top, json_out)


app.command("evaluate")(evaluate)


def _write_report(report: dict, gold: list, where: str, confusion: Path | None, top: int, json_out: Path | None) -> None:
    from ..data import describe_schemes

    for line in describe_schemes({where: gold}):
        print(line, file=sys.stderr)
    print(f"{where}: {len(gold):,} sentences, {sum(len(s) for s in gold):,} tokens")
    _print_report(report)
    if confusion is not None:
        _plot_confusions(report, confusion, top, where)
    if json_out is not None:
        json_out.write_text(json.dumps({"data": where, "report": report}, indent=2))


def _evaluate_export(export_dir: Path, split: str, data_dir: Path | None, file: Path | None, batch_size: int,
                     threads: int | None, quantize: str | None, unseen: bool, doc_consistency: str | None
                     ) -> tuple[list, str, dict]:
    """The gold sentences, their name and :func:`tagger.predict.score`'s report for an export
    directory, labelled by the torch-free runtime (one thread unless ``--threads`` says otherwise)."""
    from types import SimpleNamespace

    from ..config import Recipe
    from ..modeldir import Vocabs
    from ..predict import score
    from ..runtime import EXPORT_FILE, VOCAB_FILE, command_threads
    from ..runtime import load as load_export

    if quantize or unseen:
        raise TaggerError(f"--{'quantize' if quantize else 'unseen'} is for model directories, not export directories"
                          + (" (tagger export --quantize int8 makes an int8 export)" if quantize else ""))
    runtime = load_export(export_dir, threads=command_threads(threads), batch_size=batch_size)
    if doc_consistency is not None:
        runtime.set_doc_consistency(doc_consistency)
    recipe = Recipe.from_dict(runtime.meta["recipe"], str(Path(export_dir) / EXPORT_FILE))
    vocabs = Vocabs.from_json((Path(export_dir) / VOCAB_FILE).read_text(encoding="utf-8"))
    gold, where = _gold_corpus(recipe, file, split, data_dir)
    model = SimpleNamespace(recipe=recipe, vocabs=vocabs, sentence_tasks=runtime.sentence_tasks)  # what score reads
    labels = runtime.predict_all([s.words for s in gold], docs=[s.doc for s in gold])
    return gold, where, score(gold, labels, model, detailed=True)


def _gold_corpus(recipe: Any, file: Path | None, split: str, data_dir: Path | None) -> tuple[list, str]:
    """The sentences to score and what to call them: ``file``, or ``split`` of the recipe's source."""
    from ..corpus import load_corpus, read_file

    if file is not None:
        return read_file(file, recipe.data, recipe.heads), str(file)
    data = recipe.data
    data.train = data.dev = data.test = None  # a trained model's file paths may not exist here
    if data_dir is not None:
        data.data_dir = str(data_dir)
    return load_corpus(data, recipe.heads, (split,))[split], f"{data.source} {split}"


def _tagger_only(family: str, **options: Any) -> None:
    """Refuse, by name, an option that only taggers and classifiers have, given for another family."""
    given = [name for name, value in options.items() if value]
    if given and family != "tagger":
        raise TaggerError(f"--{given[0]} is for taggers and classifiers, not {family} models")


def _training_mentions(tagger: Any, data_dir: Path | None) -> dict[str, set]:
    """Per span task, the entity mentions of the model's training data (its recipe's
    training file, or the training split of its source)."""
    import copy

    from ..corpus import read_file
    from ..metrics import training_mentions

    recipe = copy.deepcopy(tagger.model.recipe)
    tasks = [h.task for h in recipe.heads if h.span and h.task not in tagger.sentence_tasks]
    if not tasks:
        raise TaggerError("--unseen splits entity scores, and this model has no span task")
    if recipe.data.train and Path(recipe.data.train).is_file():
        train = read_file(Path(recipe.data.train), recipe.data, recipe.heads)
    else:
        train, _ = _gold_corpus(recipe, None, "train", data_dir)
    return {task: training_mentions(train, task) for task in tasks}


def _print_report(report: dict[str, dict]) -> None:
    from ..metrics import format_classification_report, format_seen_unseen, format_span_report, format_tag_report

    for task, entry in report.items():
        print(f"\n== {task} ==")
        if entry.get("level") == "sentence":
            print(format_classification_report(entry))
        elif "f1" in entry:
            print(format_span_report(entry, entry["token_accuracy"]))
            if entry.get("oov_tokens"):
                print(f"OOV token accuracy: {entry['oov_token_accuracy'] * 100:.2f} ({entry['oov_tokens']:,} tokens)")
            if "seen_unseen" in entry:
                print(format_seen_unseen(entry["seen_unseen"]))
        elif "per_tag" in entry:
            print(format_tag_report(entry))
        else:
            print(f"token accuracy: {entry['token_accuracy'] * 100:.2f}")


def _plot_confusions(report: dict[str, dict], confusion: Path, top: int, where: str) -> None:
    """One PNG per task (``OUT.TASK.png`` when there are several)."""
    from ..plots import plot_confusion

    for task, entry in report.items():
        if "confusion" not in entry:
            print(f"\nno confusion matrix for {task}: a multi-label task has none")
            continue
        target = confusion if len(report) == 1 else confusion.with_name(f"{confusion.stem}.{task}{confusion.suffix or '.png'}")
        shown = plot_confusion(entry["confusion"], target, top, title=f"{task}: {where}")
        print(f"\nconfusion matrix of {task} ({len(shown)} most-confused tags) written to {target}")


def _predict_conllu(
    tagger: Any, texts: list[str] | None, input_file: Path | None, input_format: InputFormat,
    output: Path | None, batch_size: int,
) -> None:
    """``--format conllu``: UPOS/XPOS predictions in CoNLL-U. A CoNLL-U input comes back
    line for line (comments, multiword tokens, empty nodes, other columns) with only
    those two columns replaced; other inputs get fresh lines."""
    from ..data import Sentence
    from ..io.conllu import UPOS, XPOS, read_conllu, write_conllu

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
        source = iter(texts) if texts else read_input(input_file, input_format)
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
    workers: Annotated[int, typer.Option(min=1, help="Worker processes tagging --input in parallel (each loads the model and runs PyTorch, or ONNX Runtime for an export directory, on one thread); output stays in input order. Formats spans, conll and jsonl.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed run: keep the complete sentences already in --output, drop an incomplete last one, and tag the rest of --input.")] = False,
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP + " With --workers, each worker runs one thread.")] = None,
    beam: Annotated[Optional[int], typer.Option(help="Translation models: beam width (1 = greedy; default: the model's, 5).")] = None,
    quantize: Annotated[Optional[str], typer.Option(help=QUANTIZE_HELP)] = None,
    doc_consistency: Annotated[Optional[str], typer.Option(help=DOC_CONSISTENCY_HELP)] = None,
) -> None:
    """Tag sentences given on the command line or in a file; output is written as it goes.
    A sentence classifier prints each sentence's label with its probability."""
    from ..seq2seq import is_seq2seq_model
    from ..trees import is_tree_model

    if is_seq2seq_model(model_dir):  # translation (tagger.seq2seq)
        from ..seq2seq.cli import predict_command as predict_seq2seq

        _tagger_only("seq2seq", quantize=quantize, doc_consistency=doc_consistency)
        predict_seq2seq(model_dir, texts, input_file, output, output_format.value, explain, explain_html, beam,
                        batch_size, device, threads, stderr_console())
        return
    if beam is not None:
        raise TaggerError("--beam is for translation (seq2seq) models")
    if is_tree_model(model_dir):  # the tree family (tagger.trees)
        from ..trees.cli import predict_command

        _tagger_only("tree", quantize=quantize, doc_consistency=doc_consistency)

        predict_command(model_dir, texts, input_file, output, output_format.value, explain, explain_html, batch_size,
                        device, threads, stderr_console())
        return
    from ..device import set_threads
    from ..runtime import is_export_dir

    if not texts and input_file is None:
        raise TaggerError("give sentences to tag, or --input FILE")
    _in_this_process(workers, doc_consistency=doc_consistency, quantize=quantize)
    if is_export_dir(model_dir):  # a `tagger export` directory: ONNX Runtime, no PyTorch
        if quantize is not None or explain or explain_html is not None:
            raise TaggerError("an export directory is tagged as exported: no --quantize or --explain")
        _predict_export_dir(model_dir, texts, input_file, input_format, output_format, output, batch_size, threads,
                            workers, resume, doc_consistency)
        return
    from ..predict import Tagger

    set_threads(threads)
    tagger = Tagger.load(model_dir, device, quantize)
    tagger.batch_size = batch_size
    if doc_consistency is not None:
        tagger.set_doc_consistency(doc_consistency)
    span_tasks = set(tagger.info.span_tasks)
    if _tags_input_in_chunks(workers, resume, input_file, output, output_format, explain or explain_html is not None):
        _predict_chunked(tagger, model_dir, read_input(input_file, input_format), input_file, output_format, output,
                         batch_size, device, workers, resume)
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
    # The model's own tokenizer (and, for classifiers, max_tokens) splits strings; a
    # sentence without words gets an empty record, so output records stay in step with input.
    source: Iterator[list[str] | str] = iter(texts) if texts else read_input(input_file, input_format)
    if output_format is OutputFormat.html:
        _predict_html(tagger, source, output, span_tasks, model_dir)
        return
    _predict_chunked(tagger, model_dir, source, input_file, output_format, output, batch_size, device, workers, resume)


def _in_this_process(workers: int, **options: Any) -> None:
    """Refuse, by name, an option given with ``--workers N > 1`` that only this process applies."""
    given = [name for name, value in options.items() if value is not None]
    if given and workers > 1:
        raise TaggerError(f"--{given[0].replace('_', '-')} tags in this process; drop --workers (or use --workers 1)")


def _predict_export_dir(model_dir: Path, texts: list[str] | None, input_file: Path | None, input_format: InputFormat,
                        output_format: OutputFormat, output: Path | None, batch_size: int, threads: int | None,
                        workers: int, resume: bool, doc_consistency: str | None) -> None:
    """``predict`` of a ``tagger export`` directory: ONNX Runtime here, or in ``--workers``
    processes, and ``--resume``; PyTorch is never imported."""
    if _tags_input_in_chunks(workers, resume, input_file, output, output_format, False):
        from ..runtime import command_threads, load

        runtime = load(model_dir, threads=command_threads(threads), batch_size=batch_size) if workers <= 1 else None
        if runtime is not None and doc_consistency is not None:
            runtime.set_doc_consistency(doc_consistency)
        _predict_chunked(runtime, model_dir, read_input(input_file, input_format), input_file, output_format, output,
                         batch_size, "cpu", workers, resume)
        return
    from .export import predict_export

    predict_export(model_dir, texts, input_file, input_format, output_format, output, batch_size, threads, doc_consistency)


def _predict_html(tagger: Any, source: Iterator[list[str] | str], output: Path | None, span_tasks: set[str],
                  model_dir: Path) -> None:
    """``--format html``: one displaCy page of the entities (a page is written whole)."""
    from ..spacy_component import displacy_page

    task = "ner" if "ner" in span_tasks else min(span_tasks)
    items = [(words, getattr(s, "doc", None)) for s in source if (words := tagger.words(s))]
    sentences = [words for words, _ in items]
    docs = [doc for _, doc in items] if tagger.reads_documents else None  # --input files keep their documents
    page = [(words, labels[task]) for words, labels in zip(sentences, tagger.predict_all(sentences, docs))]
    with LazyOutput(output) as out:
        out.write(displacy_page(page, title=f"tagger: {model_dir}"))


def _tags_input_in_chunks(workers: int, resume: bool, input_file: Path | None, output: Path | None,
                          output_format: OutputFormat, explain: bool) -> bool:
    """Whether ``--workers``/``--resume`` send --input straight to the chunked writer
    (checking that the other options allow it)."""
    if resume and input_file is None:
        raise TaggerError("--resume continues tagging an --input file into its --output")
    if not (workers > 1 or resume) or input_file is None:
        return False
    if explain or output_format.value not in ("spans", "conll", "jsonl"):
        raise TaggerError("--workers and --resume write --format spans, conll or jsonl (not --explain, html or conllu)")
    if resume and output is None:
        raise TaggerError("--resume continues the output file of a killed run: give it with --output")
    return True


def _predict_chunked(
    tagger: Any, model_dir: Path, items: Iterator[list[str] | str], input_file: Path | None,
    output_format: OutputFormat, output: Path | None, batch_size: int, device: str, workers: int, resume: bool,
) -> None:
    """``predict`` in formats spans, conll and jsonl (:func:`tagger.parallel.write_chunked`)."""
    from ..parallel import write_chunked

    write_chunked(tagger, model_dir, items, output_format.value, output, input_file=input_file, batch_size=batch_size,
                  device=device, workers=workers, resume=resume, log=lambda message: print(message, file=sys.stderr))


def _predict_explain(
    tagger: Any, texts: list[str] | None, input_file: Path | None, input_format: InputFormat,
    output: Path | None, explain_html: Path | None, model_dir: Path,
) -> None:
    """``predict --explain``: each sentence's labels and its words' attention weights, as
    text (standard output, or ``-o FILE``) and/or an HTML heat map (``-o page.html``,
    ``--explain-html FILE``)."""
    from ..explain import attention_page, format_labels, format_weights

    task = next((t for t in tagger.sentence_tasks), None)
    if task is None:
        raise TaggerError(f"--explain shows a classifier's attention; this model's tasks ({', '.join(tagger.tasks)}) label words")
    source = iter(texts) if texts else read_input(input_file, input_format)
    sentences = [w for w in (tagger.words(s) for s in source) if w]
    weights = tagger.explain(sentences, task)  # a TaggerError for a head without attention
    labels, proba = tagger.predict_with_proba(sentences)
    captions = [format_labels(lab[task], p[task]) for lab, p in zip(labels, proba)]
    html_targets = [p for p in (explain_html, output if output is not None and output.suffix.lower() in (".html", ".htm") else None) if p]
    if html_targets:
        page = attention_page(zip(captions, weights), title=f"tagger: {model_dir}")
        for target in html_targets:
            target.write_text(page, encoding="utf-8")
            stderr_console().print(f"attention heat map written to {target}")
    if output is not None and output in html_targets:
        return
    text = "".join(f"{caption}\n  {format_weights(w)}\n" for caption, w in zip(captions, weights))
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


# Registered last: the lm commands reuse this module's error handling.
from .lm import app as lm_app  # noqa: E402

app.add_typer(lm_app, name="lm")

from .serve import serve_command  # noqa: E402  (imports typer only: FastAPI loads when serve runs)

app.command("serve")(serve_command)

from .export import export_command  # noqa: E402  (imports typer only: torch and onnx load when it runs)

app.command("export")(export_command)

from .ensemble import ensemble_command  # noqa: E402  (imports typer only)

app.command("ensemble")(ensemble_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
