"""``tagger lm``: train, score, sample and inspect recurrent language models."""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..device import THREADS_HELP
from ..errors import TaggerError
from .common import stderr_console, user_errors

app = typer.Typer(
    help="Recurrent language models (char or word level): train, score, generate, inspect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich's help renderer costs 0.25 s of start-up on every --help (bench/startup.py).
    rich_markup_mode=None,
)


class Level(str, Enum):
    char = "char"
    word = "word"


class Cell(str, Enum):
    rnn = "rnn"
    gru = "gru"
    lstm = "lstm"


class TextFormat(str, Enum):
    text = "text"
    conll2003 = "conll2003"
    conllu = "conllu"
    column = "column"


def load_training_text(corpus: str, fmt: TextFormat, data_dir: Path | None, valid: Path | None) -> tuple[str, str | None, str]:
    """(training text, held-out text or None, a description). CORPUS is a text file, an
    annotated corpus file (its words, a sentence a line), or a named recipe's data source
    (its training split's words; its dev split is held out)."""
    from ..config import DataConfig, HeadConfig, Recipe, load_recipe_dict
    from ..corpus import load_corpus, read_file
    from ..lm.text import corpus_text, read_text

    def read(path: Path) -> str:
        if fmt == TextFormat.text:
            return read_text(path)
        heads = [HeadConfig(task="tags", kind="softmax", span=False)]
        data = DataConfig(source=None, format=fmt.value, field="upos")
        if fmt == TextFormat.conllu:
            heads = [HeadConfig(task="upos", kind="softmax", span=False)]
        return corpus_text(read_file(path, data, heads))

    path = Path(corpus)
    if path.exists():
        return read(path), (read(valid) if valid else None), str(path)
    try:
        raw, origin = load_recipe_dict(corpus)
    except TaggerError:
        raise TaggerError(f"'{corpus}' is neither a file nor a named data source (try a .txt file, or conll2003)") from None
    recipe = Recipe.from_dict(raw, origin)
    if data_dir is not None:
        recipe.data.data_dir = str(data_dir)
    splits = load_corpus(recipe.data, recipe.heads, ("train", "valid"))
    held_out = read(valid) if valid else corpus_text(splits["valid"])
    return corpus_text(splits["train"]), held_out, f"{corpus} (training split's words)"


@app.command("train")
@user_errors
def train(
    corpus: Annotated[str, typer.Argument(help="Training text: a UTF-8 .txt file, a corpus file (see --format), or a named source such as conll2003 (its training split's words, a sentence a line).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Run directory; the best model goes to OUTPUT/best. Default: runs/lm-LEVEL-CELL[-backward].")] = None,
    valid: Annotated[Optional[Path], typer.Option(help="Held-out text for validation and early stopping. Default: the last --valid-fraction of CORPUS (a named source: its dev split).")] = None,
    text_format: Annotated[TextFormat, typer.Option("--format", help="How to read CORPUS and --valid: text (raw), or the words of a conll2003, conllu or column corpus.")] = TextFormat.text,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder with a named source's files.")] = None,
    level: Annotated[Level, typer.Option(help="Predict the next character or the next word.")] = Level.char,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell: rnn (Elman), gru or lstm.")] = Cell.lstm,
    layers: Annotated[int, typer.Option(help="Stacked recurrent layers.")] = 1,
    hidden: Annotated[int, typer.Option(help="Units per layer.")] = 512,
    embed_dim: Annotated[int, typer.Option(help="Input embedding size.")] = 64,
    dropout: Annotated[float, typer.Option(help="Dropout on embeddings, between layers and before the output.")] = 0.2,
    tie_weights: Annotated[bool, typer.Option("--tie-weights", help="Share input embedding and output layer (needs --embed-dim = --hidden).")] = False,
    backward: Annotated[bool, typer.Option("--backward", help="Train a backward LM, reading the text right to left (for tagger --charlm).")] = False,
    bptt: Annotated[int, typer.Option(help="Truncated BPTT: symbols unrolled per step; the state carries on to the next window.")] = 100,
    batch_size: Annotated[int, typer.Option(help="Parallel streams the text is cut into.")] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate (Adam); halved when validation loss stops improving.")] = 2e-3,
    clip: Annotated[float, typer.Option(help="Clip the gradient norm to this (0: off).")] = 1.0,
    max_epochs: Annotated[int, typer.Option(help="Maximum passes over the training text.")] = 50,
    max_minutes: Annotated[Optional[float], typer.Option(help="Wall-time budget; the model is validated and saved when it runs out.")] = None,
    patience: Annotated[int, typer.Option(help="Early stopping: validations without improvement before stopping.")] = 3,
    eval_every: Annotated[int, typer.Option(help="Also validate every N steps (0: at epoch ends only).")] = 0,
    valid_fraction: Annotated[float, typer.Option(help="Share of CORPUS held out (from its end) when there is no --valid.")] = 0.1,
    min_freq: Annotated[int, typer.Option(help="Word level: words seen fewer times become <unk>.")] = 1,
    max_vocab: Annotated[int, typer.Option(help="Word level: keep at most this many words.")] = 50_000,
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lowercase the text first.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "auto",
) -> None:
    """Train a character- or word-level RNN language model with truncated BPTT."""
    from ..lm.config import LMConfig
    from ..lm.train import train_lm

    cfg = LMConfig(
        level=level.value, cell=cell.value, layers=layers, hidden=hidden, embed_dim=embed_dim, dropout=dropout,
        tie_weights=tie_weights, reverse=backward, bptt=bptt, batch_size=batch_size, lr=lr, clip=clip,
        max_epochs=max_epochs, max_minutes=max_minutes, patience=patience, eval_every=eval_every,
        valid_fraction=valid_fraction, min_freq=min_freq, max_vocab=max_vocab, lowercase=lowercase, seed=seed,
        threads=threads, device=device,
    )
    cfg.validate("command line")
    text, held_out, described = load_training_text(corpus, text_format, data_dir, valid)
    stderr_console().log(f"training text: {described}")
    default = Path("runs") / f"lm-{level.value}-{cell.value}{'-backward' if backward else ''}"
    train_lm(cfg, text, output or default, held_out, stderr_console())


@app.command("score")
@user_errors
def score(
    model: Annotated[Path, typer.Argument(help="Language model directory (or its run directory).")],
    text_file: Annotated[Path, typer.Argument(help="UTF-8 text to score.")],
    text_format: Annotated[TextFormat, typer.Option("--format", help="text, or the words of a conll2003/conllu/column corpus.")] = TextFormat.text,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
) -> None:
    """Print bits per character (char model) or perplexity (word model) of a text."""
    from ..device import resolve_device, set_threads
    from ..lm.model import load_lm
    from ..lm.train import score_text

    set_threads(threads)
    lm = load_lm(model, resolve_device(device))
    text, _, _ = load_training_text(str(text_file), text_format, None, None)
    result = score_text(lm, text)
    unit = "characters" if lm.cfg.level == "char" else "words"
    print(f"{text_file}: {result['headline']} ({result['nats']:.4f} nats, {result['bits']:.4f} bits per "
          f"{unit[:-1]}; perplexity {result['perplexity']:.2f}) over {result['symbols']:,} {unit}"
          + (f", {result['unknown']:,} unknown to the model" if result["unknown"] else ""))


@app.command("generate")
@user_errors
def generate(
    model: Annotated[Path, typer.Argument(help="Language model directory (or its run directory).")],
    prime: Annotated[str, typer.Option(help="Text to start from (a backward model writes what comes before it).")] = "",
    length: Annotated[int, typer.Option(help="Characters (or words) to sample.")] = 500,
    temperature: Annotated[float, typer.Option(help="Divide logits by this before the softmax: <1 is safer, >1 wilder, 0 greedy.")] = 1.0,
    top_k: Annotated[Optional[int], typer.Option(help="Sample only among the K likeliest symbols.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed, for a repeatable sample.")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
) -> None:
    """Sample text from a language model."""
    from ..device import resolve_device, set_threads
    from ..lm.generate import generate as sample
    from ..lm.model import load_lm

    set_threads(threads)
    lm = load_lm(model, resolve_device(device))
    sys.stdout.write(sample(lm, prime.replace("\\n", "\n"), length, temperature, top_k, seed) + "\n")


@app.command("inspect")
@user_errors
def inspect(
    model: Annotated[Path, typer.Argument(help="Language model directory (or its run directory).")],
    text_file: Annotated[Path, typer.Argument(help="UTF-8 text to run the model over (the first --max-chars characters).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML page to write; a PNG of the same name is written beside it.")] = Path("lm-inspect.html"),
    unit: Annotated[Optional[int], typer.Option(help="Hidden unit to colour by (default: the unit --find ranks first).")] = None,
    layer: Annotated[int, typer.Option(help="Layer to read (0 = first; -1 = top).")] = -1,
    state: Annotated[str, typer.Option(help="What to read: h (the layer's output) or c (an LSTM's cell, squashed by tanh).")] = "h",
    find: Annotated[bool, typer.Option("--find", help="Rank units by correlation with: inside quotes, inside brackets, position in line, line start, upper case.")] = False,
    top: Annotated[int, typer.Option(help="With --find: units listed per property.")] = 5,
    max_chars: Annotated[int, typer.Option(help="Read at most this many characters of the text.")] = 5000,
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
) -> None:
    """Colour each character by a hidden unit's activation; find interpretable units."""
    from rich.console import Console
    from rich.table import Table

    from ..device import set_threads
    from ..lm.inspect import find_units, render_html, render_png, unit_activations
    from ..lm.model import load_lm
    from ..lm.text import read_text

    set_threads(threads)
    lm = load_lm(model)
    if lm.cfg.level != "char":
        raise TaggerError("lm inspect colours characters: it needs a character-level model", model)
    text = read_text(text_file)[:max_chars]
    acts = unit_activations(lm, text, layer=layer, state=state)
    ranking = find_units(text, acts, top=top)
    if find:
        table = Table(title=f"units most correlated with each property ({state}, layer {layer})")
        for col in ("property", "unit", "correlation"):
            table.add_column(col)
        for prop, units in ranking.items():
            for u, r in units:
                table.add_row(prop, str(u), f"{r:+.3f}")
        Console().print(table)
    if unit is None:
        prop, (unit, r) = max(((p, us[0]) for p, us in ranking.items()), key=lambda x: abs(x[1][1]))
        stderr_console().log(f"colouring by unit {unit} (correlation {r:+.3f} with '{prop}')")
    if not 0 <= unit < acts.shape[1]:
        raise TaggerError(f"--unit must be in 0..{acts.shape[1] - 1}, got {unit}")
    render_html(text, acts[:, unit], output, title=f"unit {unit} ({state}, layer {layer}) of {model}")
    render_png(text, acts[:, unit], output.with_suffix(".png"), title=f"unit {unit}")
    stderr_console().log(f"wrote {output} and {output.with_suffix('.png')}")
