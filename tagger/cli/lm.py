"""``tagger lm``: train, score, sample and inspect recurrent language models."""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..device import THREADS_HELP
from ..errors import TaggerError
from ..options import RESUMABLE, TRAIN_OPTIONS, option_name, run_train_command
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


# `tagger lm train` options that are recipe fields under another name (the rest keep theirs).
OPTION_FIELDS = {"backward": "reverse", "text_format": "format", "corpus": "train"}


def _option(name: str) -> str:
    """The command-line option that sets a recipe field (``reverse`` -> ``--backward``)."""
    return option_name({field: option for option, field in OPTION_FIELDS.items()}.get(name, name))


@app.command("train")
@user_errors
def train(
    corpus: Annotated[Optional[str], typer.Argument(help="Training text: a UTF-8 .txt file, a corpus file (see --format), or a named source such as conll2003 (its training split's words, a sentence a line). Not with --resume.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Run directory; the best model goes to OUTPUT/best. Default: runs/lm-LEVEL-CELL[-backward].")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue the run in this directory from its checkpoint, exactly as if it had not stopped (only --threads, --device, --max-minutes and --checkpoint-every may be given with it).")] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Also write the checkpoint every N steps (it is always written at epoch ends and on Ctrl-C).")] = 0,
    valid: Annotated[Optional[Path], typer.Option(help="Held-out text for validation and early stopping. Default: the last --valid-fraction of CORPUS (a named source: its dev split).")] = None,
    text_format: Annotated[Optional[TextFormat], typer.Option("--format", help="How to read CORPUS and --valid: text (raw, the default), or the words of a conll2003, conllu or column corpus.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder with a named source's files.")] = None,
    level: Annotated[Optional[Level], typer.Option(help="Predict the next character (default) or the next word.")] = None,
    cell: Annotated[Optional[Cell], typer.Option(help="Recurrent cell: rnn (Elman), gru or lstm (default).")] = None,
    layers: Annotated[Optional[int], typer.Option(help="Stacked recurrent layers (default 1).")] = None,
    hidden: Annotated[Optional[int], typer.Option(help="Units per layer (default 512).")] = None,
    embed_dim: Annotated[Optional[int], typer.Option(help="Input embedding size (default 64).")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="Dropout on embeddings, between layers and before the output (default 0.2).")] = None,
    tie_weights: Annotated[bool, typer.Option("--tie-weights", help="Share input embedding and output layer (needs --embed-dim = --hidden).")] = False,
    backward: Annotated[bool, typer.Option("--backward", help="Train a backward LM, reading the text right to left (for tagger --charlm).")] = False,
    bptt: Annotated[Optional[int], typer.Option(help="Truncated BPTT: symbols unrolled per step (default 100); the state carries on to the next window.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Parallel streams the text is cut into (default 64).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate (default 2e-3, Adam); halved when validation loss stops improving.")] = None,
    clip: Annotated[Optional[float], typer.Option(help="Clip the gradient norm to this (default 1.0; 0: off).")] = None,
    max_epochs: Annotated[Optional[int], typer.Option(help="Maximum passes over the training text (default 50).")] = None,
    max_minutes: Annotated[Optional[float], typer.Option(help="Wall-time budget; the model is validated and saved when it runs out.")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Early stopping: validations without improvement before stopping (default 3).")] = None,
    eval_every: Annotated[Optional[int], typer.Option(help="Also validate every N steps (default 0: at epoch ends only).")] = None,
    valid_fraction: Annotated[Optional[float], typer.Option(help="Share of CORPUS held out (from its end) when there is no --valid (default 0.1).")] = None,
    min_freq: Annotated[Optional[int], typer.Option(help="Word level: words seen fewer times become <unk> (default 1).")] = None,
    max_vocab: Annotated[Optional[int], typer.Option(help="Word level: keep at most this many words (default 50,000).")] = None,
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lowercase the text first.")] = False,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (default 1).")] = None,
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:N or auto (default).")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Set any recipe field: --set model.layers=2 (sections: data, model, train).")] = None,
) -> None:
    """Train a character- or word-level RNN language model with truncated BPTT."""
    # The options that set recipe fields: every parameter so far but these four (read before any import).
    given = {name: value for name, value in locals().items()
             if name not in ("resume", "output", "checkpoint_every", "overrides") and value not in (None, False)}
    from ..config import apply_overrides
    from ..lm.config import LMRecipe
    from ..lm.train import train_lm

    given = {OPTION_FIELDS.get(n, n): (v.value if isinstance(v, Enum) else str(v) if isinstance(v, Path) else v)
             for n, v in given.items()}
    if resume is not None:
        refused = [_option(n) for n in sorted(set(given) - set(RESUMABLE))]
        refused += ["--set"] * bool(overrides) + ["--output"] * (output is not None)
        if refused:
            raise TaggerError(f"--resume continues a run with its own recipe, so {refused[0]} cannot be given with it "
                              "(only --threads, --device, --max-minutes and --checkpoint-every can change)")
        train_lm(None, resume, stderr_console(), resume=True, checkpoint_every=checkpoint_every, changes=given)
        return
    if corpus is None:
        raise TaggerError("give the training text (CORPUS), or --resume RUN_DIR")
    recipe = LMRecipe.from_fields(**given)
    if overrides:
        recipe = LMRecipe.from_dict(apply_overrides(recipe.to_dict(), overrides), "--set")
    cfg = recipe.model
    default = Path("runs") / f"lm-{cfg.level}-{cfg.cell}{'-backward' if cfg.reverse else ''}"
    train_lm(recipe, output or default, stderr_console(), checkpoint_every=checkpoint_every)


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
    from ..lm.config import LMDataConfig
    from ..lm.model import load_lm
    from ..lm.text import load_lm_text
    from ..lm.train import score_text

    set_threads(threads)
    lm = load_lm(model, resolve_device(device))
    text, _, _ = load_lm_text(LMDataConfig(train=str(text_file), format=text_format.value))
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


# `tagger train` options and where they go in a language-model recipe (the shared ones from common).
RECIPE_FLAGS = {**TRAIN_OPTIONS, "data_dir": "data.data_dir", "train_file": "data.train", "dev_file": "data.valid",
                "data_format": "data.format"}


def train_command(recipe: str | None, output: Path | None, resume: Path | None, overrides: list[str],
                  checkpoint_every: int, console: Any, **options: Any) -> None:
    """``tagger train`` for a language-model recipe (``family = "lm"``), or ``--resume`` of an LM run."""
    from ..config import apply_overrides, load_recipe_dict
    from ..lm.config import LMRecipe
    from ..lm.train import train_lm

    def load_lm_recipe(name_or_path: str, overrides: list[str]) -> LMRecipe:
        raw, origin = load_recipe_dict(name_or_path, LMRecipe)
        return LMRecipe.from_dict(apply_overrides(raw, overrides), origin)

    run_train_command(train_lm, load_lm_recipe, RECIPE_FLAGS, "language models", recipe, output, resume, overrides,
                      checkpoint_every, console, options)
