"""``tagger predict --workers N`` and ``--resume``: the same output as one process, in
input order, with bounded work in flight; a killed run continues where it stopped.

Worker pools are real (spawned processes), so the tests that start one share inputs
and keep their number small.
"""
from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tagger.cli import app
from tagger.config import load_recipe
from tagger.errors import TaggerError
from tagger.io.conll import read_conll2003
from tagger.parallel import chunked, complete_records, prepare_resume, tag_chunks
from tagger.sources import demo_dir
from tagger.train import train

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
TINY = ["encoder.hidden=16", "embed.word_dim=8", "embed.casing_dim=4", "embed.char_dim=8", "embed.char_hidden=8",
        "train.threads=1", "train.max_epochs=2"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("workers_model")
    train(load_recipe("demo", TINY), out, Console(file=io.StringIO()))
    return out / "best"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """The same 600 sentences as text, JSONL (tokens and text, mixed) and CoNLL, with
    blank lines (text) and empty token lists (JSONL) that each give an empty record."""
    folder = tmp_path_factory.mktemp("workers_inputs")
    rng = random.Random(0)
    words = [s.words for s in read_conll2003(demo_dir() / "train.txt")]
    sentences = [rng.choice(words)[: rng.randint(1, 30)] for _ in range(600)]
    text, jsonl, conll = [], [], []
    for i, s in enumerate(sentences):
        text.append(" ".join(s) + "\n" + ("\n" if i % 97 == 0 else ""))
        jsonl.append(json.dumps({"tokens": s} if i % 2 else {"text": " ".join(s)}) + "\n")
        if i % 101 == 0:
            jsonl.append(json.dumps({"tokens": []}) + "\n")
        conll.append("".join(w + " X X O\n" for w in s) + "\n")
    files = {"text": folder / "in.txt", "jsonl": folder / "in.jsonl", "conll": folder / "in.conll"}
    files["text"].write_text("".join(text), encoding="utf-8")
    files["jsonl"].write_text("".join(jsonl), encoding="utf-8")
    files["conll"].write_text("".join(conll), encoding="utf-8")
    return files


def predict(model: Path, source: Path, out: Path, fmt: str, *extra: str) -> None:
    result = runner.invoke(app, ["predict", str(model), "--input", str(source), "-f", fmt, "-o", str(out),
                                 "--batch-size", "4", *extra])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def reference(model, inputs, tmp_path_factory) -> dict[tuple[str, str], str]:
    """One process, the ordinary streaming path: the output every other run must equal."""
    folder = tmp_path_factory.mktemp("workers_reference")
    out = {}
    for kind, source in inputs.items():
        for fmt in ("jsonl", "conll", "spans"):
            target = folder / f"{kind}.{fmt}"
            predict(model, source, target, fmt)
            out[kind, fmt] = target.read_text(encoding="utf-8")
    return out


def test_two_workers_write_what_one_process_writes(model, inputs, reference, tmp_path):
    # --batch-size 4: chunks of 16 sentences, so ~40 chunks pass through 2 workers, 4 in flight.
    for kind, fmt in [("jsonl", "jsonl"), ("text", "conll"), ("conll", "spans")]:
        out = tmp_path / f"{kind}.{fmt}"
        predict(model, inputs[kind], out, fmt, "--workers", "2")
        assert out.read_text(encoding="utf-8") == reference[kind, fmt], (kind, fmt)
    records = [json.loads(line) for line in reference["jsonl", "jsonl"].splitlines()]
    assert len(records) == 606 and all(len(r["ner"]) == len(r["tokens"]) for r in records)
    assert [i for i, r in enumerate(records) if not r["tokens"]] == [1 + 101 * k + k for k in range(6)]
    assert len(reference["text", "spans"].splitlines()) == 607  # 600 lines and 7 blank ones, in place
    assert reference["text", "conll"].count("\n\n") == 607


@pytest.mark.parametrize("fmt", ["jsonl", "conll", "spans"])
def test_resume_after_a_cut_at_any_byte_ends_with_the_full_output(model, inputs, reference, tmp_path, fmt):
    full = reference["jsonl", fmt]
    data = full.encode("utf-8")
    out = tmp_path / f"out.{fmt}"
    rng = random.Random(fmt)
    for cut in [0, 1, len(data) // 3, len(data) // 2 + 1, len(data) - 1, len(data), *rng.sample(range(len(data)), 3)]:
        out.write_bytes(data[:cut])  # what a kill at that moment leaves
        result = predict(model, inputs["jsonl"], out, fmt, "--resume")
        assert out.read_text(encoding="utf-8") == full, cut
        if cut > 0 and data[:cut].count(b"\n\n" if fmt == "conll" else b"\n"):
            assert "resuming:" in result.stderr


def test_sigkill_of_a_worker_run_then_resume_gives_the_straight_output(model, tmp_path):
    """A real kill: the whole process group (parent and workers) gets SIGKILL while
    writing; ``--resume`` with 2 workers finishes, and the file equals a straight run."""
    rng = random.Random(1)
    words = [s.words for s in read_conll2003(demo_dir() / "train.txt")]
    source = tmp_path / "big.txt"
    source.write_text("".join(" ".join(rng.choice(words)) + "\n" for _ in range(12_000)), encoding="utf-8")
    straight, killed = tmp_path / "straight.jsonl", tmp_path / "killed.jsonl"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "tagger", "predict", str(model), "--input", str(source), "-f", "jsonl",
               "--batch-size", "16", "--workers", "2"]
    proc = subprocess.Popen([*command, "-o", str(killed)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if killed.exists() and killed.stat().st_size > 100_000:
                break
            time.sleep(0.005)
        assert proc.poll() is None, f"predict ended before it could be killed: {proc.communicate()[1][-2000:]!r}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done, _ = complete_records(killed, "jsonl")
    assert 0 < done < 12_000
    resumed = subprocess.run([*command, "-o", str(killed), "--resume"], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"already holds {done:,} tagged sentences" in resumed.stderr
    subprocess.run([*command, "-o", str(straight), "--workers", "1"], env=env, cwd=ROOT, check=True, timeout=300,
                   capture_output=True)
    assert killed.read_bytes() == straight.read_bytes()


def test_bad_input_with_workers_is_one_line_and_leaves_no_output(model, inputs, tmp_path):
    lines = inputs["jsonl"].read_text(encoding="utf-8").splitlines(keepends=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(lines[:300]) + "{not json\n" + "".join(lines[300:]), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["predict", str(model), "--input", str(bad), "-f", "jsonl", "-o", str(out),
                                 "--batch-size", "4", "--workers", "2"])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and f"{bad}:301: not valid JSON" in result.stderr
    assert not out.exists()  # a fresh run's partial output is removed, as without workers

    # resuming keeps what was already done, whatever the input does later
    out.write_text("".join(lines[:5]).replace('"text"', '"x"'), encoding="utf-8")  # 5 complete records
    result = runner.invoke(app, ["predict", str(model), "--input", str(bad), "-f", "jsonl", "-o", str(out),
                                 "--batch-size", "4", "--resume"])
    assert result.exit_code == 1 and ":301: not valid JSON" in result.stderr
    assert out.exists() and complete_records(out, "jsonl")[0] >= 5


def test_option_errors_are_one_line(model, inputs, tmp_path):
    cases = [
        (["--workers", "2", "-f", "html", "-o", str(tmp_path / "x.html")], "--workers and --resume write"),
        (["--resume"], "give it with --output"),
        (["--workers", "0"], "Invalid value"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["predict", str(model), "--input", str(inputs["text"]), *extra])
        assert result.exit_code != 0 and message in result.output + result.stderr, (extra, result.output)
    # an output longer than the input is not this input's output
    long = tmp_path / "long.jsonl"
    long.write_text('{"tokens": ["a"]}\n' * 700, encoding="utf-8")
    result = runner.invoke(app, ["predict", str(model), "--input", str(inputs["text"]), "-f", "jsonl", "-o", str(long),
                                 "--resume"])
    assert result.exit_code == 1 and "not this input's output" in result.stderr


def test_work_in_flight_is_bounded(model):
    """The parent reads ahead at most 2 chunks per worker: memory does not follow the input."""
    pulled = 0

    def source():
        nonlocal pulled
        for i in range(200):
            pulled += 1
            yield ["Anna", "visited", "Oslo", str(i)]

    ahead = []
    outputs = []
    for text in tag_chunks(model, chunked(source(), 5), "jsonl", workers=2, batch_size=5):
        outputs.append(text)
        ahead.append(pulled - 5 * len(outputs))
    assert len(outputs) == 40
    assert max(ahead) <= 5 * 4  # 2 workers x 2 chunks
    numbers = [json.loads(line)["tokens"][3] for text in outputs for line in text.splitlines()]
    assert numbers == [str(i) for i in range(200)]


def test_prepare_resume_cuts_the_incomplete_record(tmp_path):
    out = tmp_path / "o.conll"
    out.write_text("EU\tB-ORG\n\nPeter\tB-PER\nBlack", encoding="utf-8")
    assert prepare_resume(out, "conll") == 1
    assert out.read_text(encoding="utf-8") == "EU\tB-ORG\n\n"
    assert prepare_resume(tmp_path / "missing.conll", "conll") == 0


def test_tagger_error_keeps_file_and_line_across_processes():
    # What pickle (and so multiprocessing) rebuilds the error from: its class and arguments.
    cls, args = TaggerError("not valid JSON", "in.jsonl", 7).__reduce__()
    err = cls(*args)
    assert isinstance(err, TaggerError) and str(err) == "in.jsonl:7: not valid JSON"
