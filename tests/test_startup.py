"""Start-up stays fast: importing the package and asking any command for --help load
neither PyTorch nor spaCy nor datasets (each costs a second or more)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "spacy", "datasets", "pyarrow", "matplotlib")

PROBE = """
import json, sys
args = sys.argv[1:]
if args == ["import"]:
    import tagger
    tagger.__version__, tagger.__all__
else:
    from tagger.cli import app
    try:
        app(args, standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
""".format(heavy=HEAVY)


@pytest.mark.parametrize("args", [
    ["import"], ["--help"], ["train", "--help"], ["predict", "--help"], ["evaluate", "--help"],
    ["lm", "--help"], ["lm", "train", "--help"],
])
def test_no_heavy_import_before_a_model_is_needed(args):
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_public_names_load_on_first_use():
    import tagger

    assert tagger.load is tagger.loading.load and tagger.Tagger.__name__ == "Tagger"
    assert set(tagger.__all__) <= set(dir(tagger))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        tagger.nonsense  # noqa: B018


MODEL_COMMANDS = [["train"], ["predict"], ["evaluate"], ["lm", "train"], ["lm", "score"], ["lm", "generate"],
                  ["lm", "inspect"]]


@pytest.mark.parametrize("command", MODEL_COMMANDS, ids=" ".join)
def test_every_command_that_runs_a_model_takes_threads(command):
    from typer.testing import CliRunner

    from tagger.cli import app

    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--threads" in result.stdout


THREADS_PROBE = """
import sys, torch
from tagger.cli import app
torch.set_num_threads(2)
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print("threads", torch.get_num_threads())
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import io

    from rich.console import Console

    from tagger.config import load_recipe
    from tagger.train import train

    out = tmp_path_factory.mktemp("threads_model")
    train(load_recipe("demo", ["encoder.hidden=16", "train.max_epochs=1"]), out, Console(file=io.StringIO()))
    return out / "best"


@pytest.mark.parametrize("threads,expected", [(None, 1), ("1", 1), ("0", 2)])
def test_predict_sets_torch_threads(threads, expected, tiny_model):
    """Default one thread; 0 leaves PyTorch's own setting (2 here) alone."""
    args = ["predict", str(tiny_model), "EU rejects German call ."] + (["--threads", threads] if threads else [])
    done = subprocess.run([sys.executable, "-c", THREADS_PROBE, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"threads {expected}"
    assert "[ORG EU]" in done.stdout or "EU" in done.stdout


def test_all_lists_exactly_the_lazy_exports():
    import tagger

    assert set(tagger.__all__) == set(tagger._EXPORTS) | {"__version__"}
