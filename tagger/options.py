"""What every family's ``tagger train`` shares: the options that set the common
``[train]`` section, which of them ``--resume`` accepts, and the checks of what a user
gave (one line naming the option). Family command hooks (``trees/cli.py``,
``seq2seq/cli.py``, ``cli/lm.py``) add their own options to :data:`TRAIN_OPTIONS`."""
from __future__ import annotations

from typing import Any

from .errors import TaggerError

# `tagger train` options that set a field of every family's recipe: the [train] section is
# the same TrainConfig everywhere. A family's table adds its own options to these.
TRAIN_OPTIONS = {
    "max_epochs": "train.max_epochs", "max_minutes": "train.max_minutes", "patience": "train.patience",
    "batch_size": "train.batch_size", "lr": "train.lr", "seed": "train.seed", "device": "train.device",
    "threads": "train.threads",
}
# What may change when a run is resumed: how it runs, not what it learns.
RESUMABLE = ("threads", "device", "max_minutes")
# Parameter names whose option is spelt otherwise.
OPTION_NAMES = {"data_format": "--format", "train_file": "--train", "dev_file": "--dev", "overrides": "--set",
                "backward": "--backward"}


def option_name(name: str) -> str:
    """The command-line spelling of an option's parameter name (``data_format`` -> ``--format``)."""
    return OPTION_NAMES.get(name, "--" + name.replace("_", "-"))


def given_options(options: dict[str, Any], table: dict[str, str], models: str, *, resume: bool,
                  recipe: str | None = None, overrides: list[str] | None = None, output: Any = None) -> dict[str, Any]:
    """The options a user gave to ``tagger train`` for a family whose recipe fields are
    ``table`` (option -> dotted field): any other option is refused, by name; with
    ``--resume`` only the RESUMABLE ones may be given (the run keeps its own recipe)."""
    given = {name: value for name, value in options.items() if value not in (None, False)}
    unused = sorted(name for name in given if name not in table)
    if unused:
        raise TaggerError(f"{option_name(unused[0])} is not an option for {models}")
    if resume:
        refused = [option_name(n) for n in given if n not in RESUMABLE]
        refused += ["a recipe"] * (recipe is not None) + ["--set"] * bool(overrides) + ["--output"] * (output is not None)
        if refused:
            raise TaggerError(f"--resume continues a run with its own recipe, so {refused[0]} cannot be given with it "
                              "(only --threads, --device, --max-minutes and --checkpoint-every can change)")
    return given


def recipe_flags(given: dict[str, Any], table: dict[str, str]) -> list[str]:
    """The given options as ``--set`` overrides of their recipe fields (strings quoted, so paths stay strings)."""
    import json
    from pathlib import Path

    def toml(value: Any) -> str:
        if isinstance(value, (Path, str)):
            return json.dumps(str(value))
        return str(value).lower() if isinstance(value, bool) else str(value)

    return [f"{table[name]}={toml(value)}" for name, value in given.items()]


def run_train_command(train: Any, load_recipe: Any, table: dict[str, str], models: str, recipe: str | None,
                      output: Any, resume: Any, overrides: list[str], checkpoint_every: int, console: Any,
                      options: dict[str, Any], needs_dev: bool = False) -> None:
    """``tagger train`` for a model family: check what was given, then either resume the run
    in ``resume`` or load the recipe (the options as overrides, then ``--set``) and train it
    into ``output`` (default ``runs/RECIPE_NAME``). ``train`` is the family's training
    function, ``load_recipe(name_or_path, overrides)`` its recipe reader."""
    from pathlib import Path

    given = given_options(options, table, models, resume=resume is not None, recipe=recipe, overrides=overrides,
                          output=output)
    if resume is not None:
        train(None, resume, console, resume=True, checkpoint_every=checkpoint_every, changes=given)
        return
    if needs_dev and given.get("train_file") is not None and given.get("dev_file") is None:
        raise TaggerError("--train needs --dev too (the dev data drives early stopping)")
    parsed = load_recipe(recipe, recipe_flags(given, table) + list(overrides))
    train(parsed, output or Path("runs") / parsed.name, console, checkpoint_every=checkpoint_every)
