"""Crash-safe training: a run killed with SIGKILL mid-epoch resumes to the same result."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file

SMALL = [
    "--batch-size", "4", "--threads", "1", "--seed", "5",
    "--set", "encoder.hidden=24", "--set", "embed.word_dim=16", "--set", "embed.char_hidden=16",
]
ARGS = ["--max-epochs", "3", *SMALL]


def run_tagger(*args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.Popen([sys.executable, "-m", "tagger", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def checkpoint_position(path: Path) -> tuple[int, int] | None:
    try:
        with safe_open(str(path), framework="pt") as handle:
            loop = json.loads(handle.metadata()["loop"])
        return loop["epoch"], loop["step"]
    except Exception:  # not written yet, or being replaced at this instant
        return None


def final_weights(run: Path) -> dict:
    return {k: v for k, v in load_file(run / "checkpoint.safetensors").items() if k.startswith("model/")}


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    straight = tmp_path / "straight"
    done = run_tagger("train", "demo", "-o", str(straight), *ARGS)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err

    killed = tmp_path / "killed"
    proc = run_tagger("train", "demo", "-o", str(killed), "--checkpoint-every", "5", *ARGS)
    deadline = time.time() + 240
    position = None
    while time.time() < deadline and proc.poll() is None:
        position = checkpoint_position(killed / "checkpoint.safetensors")
        if position and position[0] == 2 and position[1] > 0:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert position is not None and position[0] == 2 and position[1] > 0  # killed inside epoch 2

    resumed = run_tagger("train", "--resume", str(killed))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming" in err

    a, b = final_weights(straight), final_weights(killed)
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)
    metrics = [[json.loads(line)["dev_score"] for line in (run / "metrics.jsonl").read_text().splitlines()]
               for run in (straight, killed)]
    assert metrics[0] == metrics[1] and len(metrics[0]) == 3


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    proc = run_tagger("train", "--resume", str(tmp_path))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err.strip().count("\n") == 0 and "no checkpoint" in err


def test_sigint_stops_cleanly_and_says_where(tmp_path):
    run = tmp_path / "run"
    proc = run_tagger("train", "demo", "-o", str(run), "--checkpoint-every", "5", "--max-epochs", "50", *SMALL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not (run / "best" / "model.safetensors").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Stopped on request" in err and "--resume" in err
    assert checkpoint_position(run / "checkpoint.safetensors") is not None


def test_resume_honours_how_the_run_goes_on_and_refuses_what_it_learns(tmp_path):
    from typer.testing import CliRunner

    from tagger.cli import app

    runner = CliRunner()
    run = tmp_path / "run"
    first = runner.invoke(app, ["train", "demo", "-o", str(run), "--max-epochs", "1", *SMALL])
    assert first.exit_code == 0, first.stderr
    for option in (["--lr", "0.1"], ["--batch-size", "8"], ["--set", "encoder.hidden=8"], ["--scheme", "bio"],
                   ["--max-epochs", "5"], ["--output", str(tmp_path / "elsewhere")], ["demo"]):
        refused = runner.invoke(app, ["train", "--resume", str(run), *option])
        assert refused.exit_code == 1, option
        name = option[0] if option[0].startswith("-") else "recipe"
        assert refused.stderr.strip() == (
            f"error: --resume continues a run with its own recipe, so {name} cannot be given with it "
            "(only --threads, --device, --max-minutes, --checkpoint-every can change between runs)"), refused.stderr
    import torch

    try:
        resumed = runner.invoke(app, ["train", "--resume", str(run), "--threads", "2", "--max-minutes", "9",
                                      "--device", "cpu"])
    finally:
        torch.set_num_threads(1)  # this process is the test session's: leave it as conftest set it
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming with train.threads = 2 (was 1)" in resumed.stderr
    assert "resuming with train.max_minutes = 9.0 (was None)" in resumed.stderr


def test_language_model_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    """The LM trains through the shared trainer: killed mid-epoch, resumed, it ends as an
    uninterrupted run would (the carried recurrent state is part of the checkpoint)."""
    text = tmp_path / "text.txt"
    text.write_text((Path(__file__).resolve().parents[1] / "data" / "lm" / "harbour.txt").read_text() * 4)
    args = [str(text), "--hidden", "16", "--embed-dim", "8", "--batch-size", "4", "--bptt", "12", "--max-epochs", "3",
            "--patience", "5", "--threads", "1", "--seed", "3"]
    straight = tmp_path / "straight"
    done = run_tagger("lm", "train", *args, "-o", str(straight))
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err

    killed = tmp_path / "killed"
    proc = run_tagger("lm", "train", *args, "-o", str(killed), "--checkpoint-every", "3")
    deadline, position = time.time() + 240, None
    while time.time() < deadline and proc.poll() is None:
        position = checkpoint_position(killed / "checkpoint.safetensors")
        if position and position[0] == 2 and position[1] > 0:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert position is not None and position[0] == 2 and position[1] > 0  # killed inside epoch 2

    resumed = run_tagger("lm", "train", "--resume", str(killed), "--threads", "1")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming" in err

    a, b = final_weights(straight), final_weights(killed)
    assert a.keys() == b.keys() and any(k.startswith("model/carry.") for k in a)  # the carried state too
    assert all((a[k] == b[k]).all() for k in a)
    metrics = [[json.loads(line)["dev_score"] for line in (run / "metrics.jsonl").read_text().splitlines()]
               for run in (straight, killed)]
    assert metrics[0] == metrics[1] and len(metrics[0]) == 3


def test_language_model_resume_refuses_other_settings(tmp_path):
    proc = run_tagger("lm", "train", "--resume", str(tmp_path), "--hidden", "8")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and err.strip().count("\n") == 0 and "hidden cannot be given" in err
