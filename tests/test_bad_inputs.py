"""Bad input gets one clear line on stderr, never a traceback, and changes nothing.

Every case runs through the command line (``typer.testing.CliRunner`` on
``tagger.cli.app``; a few also as a real ``python -m tagger`` process). For a bad
input: the exit status is non-zero, stderr is exactly one line naming the file,
the line where there is one, and what is wrong, stdout is empty, and no file
was written or changed (every file under the test's folder, the shared model
and ``tests/bad_inputs`` hash the same afterwards). Odd but valid inputs
(tab/space mix, CRLF, a UTF-8 BOM, a 50,000-token sentence) must work.

The small inputs live in ``tests/bad_inputs/``; big or binary ones and damaged
model directories are generated into ``tmp_path``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tagger.cli import app
from tagger.config import load_recipe
from tagger.io.conll import read_conll2003
from tagger.sources import demo_dir
from tagger.train import train

ROOT = Path(__file__).resolve().parents[1]
BAD = Path(__file__).resolve().parent / "bad_inputs"
DEMO = demo_dir()
UD_DEV = ROOT / "data" / "ud" / "en_sample-ud-dev.conllu"
runner = CliRunner()

TINY = [
    "encoder.hidden=16", "embed.word_dim=8", "embed.casing_dim=4", "embed.char_dim=8",
    "embed.char_hidden=8", "train.threads=1",
]
TINY_FLAGS = ["--max-epochs", "1", "--threads", "1"] + [arg for o in TINY[:-1] for arg in ("--set", o)]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad_inputs_model")
    train(load_recipe("demo", TINY + ["train.max_epochs=2"]), out, Console(file=io.StringIO()))
    return out / "best"


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file and folder under ``roots`` with a hash of its bytes."""
    seen: dict[str, str] = {}
    for root in roots:
        for path in [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]:
            if path.is_file():
                seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                seen[str(path)] = "<dir>"
    return seen


def demo_slice(n: int = 40, split: str = "train") -> str:
    """The first ``n`` sentences of a demo split (without -DOCSTART-), LF line ends."""
    blocks = (DEMO / f"{split}.txt").read_text(encoding="utf-8").split("\n\n")
    blocks = [b.strip("\n") for b in blocks if b.strip() and not b.startswith("-DOCSTART-")]
    return "\n\n".join(blocks[:n]) + "\n"


def not_utf8_file(tmp: Path) -> tuple[Path, int]:
    """A demo slice with one Latin-1 byte (é) on a known line."""
    lines = demo_slice(5).split("\n")
    bad_line = 7
    assert lines[bad_line - 1]
    path = tmp / "latin1.txt"
    path.write_bytes("\n".join(lines[: bad_line - 1]).encode() + b"\nr\xe9sum\xe9 NN B-NP O\n"
                     + "\n".join(lines[bad_line:]).encode())
    return path, bad_line


# -- the bad cases -------------------------------------------------------------------


@dataclass
class Bad:
    args: list[str]  # the command line
    names: Path  # the file (or folder) the message must name
    line: int | None  # and the line, where there is one
    says: str  # a phrase the message must contain


def train_on(tmp: Path, data: Path, *extra: str) -> list[str]:
    return ["train", "demo", "--train", str(data), "--dev", str(DEMO / "valid.txt"),
            "-o", str(tmp / "run"), *TINY_FLAGS, *extra]


def evaluate_on(tmp: Path, model: Path, data: Path) -> list[str]:
    return ["evaluate", str(model), "--file", str(data), "--json", str(tmp / "report.json")]


def damaged_model(tmp: Path, model: Path, how: str) -> Path:
    copy = tmp / "model"
    shutil.copytree(model, copy)
    weights = copy / "model.safetensors"
    if how == "missing":
        weights.unlink()
    elif how == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif how == "mismatch":
        config = json.loads((copy / "config.json").read_text())
        config["recipe"]["encoder"]["hidden"] *= 2
        (copy / "config.json").write_text(json.dumps(config, indent=2))
    return copy


def _latin1_train(tmp: Path, model: Path) -> Bad:
    path, line = not_utf8_file(tmp)
    return Bad(train_on(tmp, path), path, line, "not valid UTF-8 (byte 0xe9")


def _latin1_evaluate(tmp: Path, model: Path) -> Bad:
    path, line = not_utf8_file(tmp)
    return Bad(evaluate_on(tmp, model, path), path, line, "not valid UTF-8 (byte 0xe9")


def _latin1_predict(tmp: Path, model: Path) -> Bad:
    path = tmp / "latin1_sentences.txt"
    path.write_bytes(b"EU rejects German call .\nPeter Blackburn\nr\xe9sum\xe9 of the talks\nlast line\n")
    return Bad(["predict", str(model), "--input", str(path), "-o", str(tmp / "out.conll"), "-f", "conll"],
               path, 3, "not valid UTF-8 (byte 0xe9 at column 2)")


def _latin1_predict_conll(tmp: Path, model: Path) -> Bad:
    path, line = not_utf8_file(tmp)
    return Bad(["predict", str(model), "--input", str(path), "--input-format", "conll", "-o", str(tmp / "out.txt")],
               path, line, "not valid UTF-8")


def _model_case(how: str, command: str, names: str, says: str) -> Callable[[Path, Path], Bad]:
    def build(tmp: Path, model: Path) -> Bad:
        bad = damaged_model(tmp, model, how)
        if command == "predict":
            args = ["predict", str(bad), "EU rejects German call .", "-o", str(tmp / "out.txt")]
        else:
            args = evaluate_on(tmp, bad, DEMO / "valid.txt")
        return Bad(args, bad / names if names else bad, None, says)

    return build


BAD_CASES: dict[str, Callable[[Path, Path], Bad]] = {
    "wrong_column_count/train": lambda tmp, m: Bad(
        train_on(tmp, BAD / "wrong_columns.txt"), BAD / "wrong_columns.txt", 9, "expected 4 columns, found 2"),
    "wrong_column_count/dev": lambda tmp, m: Bad(  # the dev file is read before the run folder is made, too
        ["train", "demo", "--train", str(DEMO / "valid.txt"), "--dev", str(BAD / "wrong_columns.txt"),
         "-o", str(tmp / "run"), *TINY_FLAGS], BAD / "wrong_columns.txt", 9, "expected 4 columns, found 2"),
    "wrong_column_count/evaluate": lambda tmp, m: Bad(
        evaluate_on(tmp, m, BAD / "wrong_columns.txt"), BAD / "wrong_columns.txt", 9, "expected 4 columns, found 2"),
    "tag_not_in_scheme/train": lambda tmp, m: Bad(
        train_on(tmp, BAD / "tag_not_in_scheme.txt"), BAD / "tag_not_in_scheme.txt", 4, "invalid tag 'X-PER'"),
    "tag_not_in_scheme/evaluate": lambda tmp, m: Bad(
        evaluate_on(tmp, m, BAD / "tag_not_in_scheme.txt"), BAD / "tag_not_in_scheme.txt", 4, "invalid tag 'X-PER'"),
    "i_tag_forbidden_by_bio/conll2003": lambda tmp, m: Bad(
        train_on(tmp, BAD / "bio_forbidden_i.txt", "--scheme", "bio"), BAD / "bio_forbidden_i.txt", 6,
        "invalid BIO in ner: 'I-PER' after 'O' does not continue an entity"),
    "i_tag_forbidden_by_bio/column": lambda tmp, m: Bad(
        train_on(tmp, BAD / "bio_forbidden_i.txt", "--format", "column", "--scheme", "bio"),
        BAD / "bio_forbidden_i.txt", 6, "invalid BIO in ner: 'I-PER' after 'O'"),
    "empty_file/train": lambda tmp, m: Bad(
        train_on(tmp, BAD / "empty.txt"), BAD / "empty.txt", None, "no sentences found"),
    "empty_file/evaluate": lambda tmp, m: Bad(
        evaluate_on(tmp, m, BAD / "empty.txt"), BAD / "empty.txt", None, "no sentences found"),
    "docstart_only/train": lambda tmp, m: Bad(
        train_on(tmp, BAD / "docstart_only.txt"), BAD / "docstart_only.txt", None, "no sentences found"),
    "docstart_only/evaluate": lambda tmp, m: Bad(
        evaluate_on(tmp, m, BAD / "docstart_only.txt"), BAD / "docstart_only.txt", None, "no sentences found"),
    "unknown_label_at_evaluation": lambda tmp, m: Bad(
        evaluate_on(tmp, m, BAD / "unknown_label.txt"), BAD / "unknown_label.txt", 7,
        "unknown ner label 'B-PLANET' for the word 'Zorbland'"),
    "conllu_broken_ids": lambda tmp, m: Bad(
        ["train", "ud", "--train", str(BAD / "broken_ids.conllu"), "--dev", str(UD_DEV), "-o", str(tmp / "run"),
         *TINY_FLAGS], BAD / "broken_ids.conllu", 11, "word IDs must be consecutive: expected 2 after 1, found 3"),
    "recipe_unknown_field": lambda tmp, m: Bad(
        ["train", str(BAD / "recipe_unknown_field.toml"), "-o", str(tmp / "run")], BAD / "recipe_unknown_field.toml",
        11, "unknown field 'train.max_epoch'"),
    "recipe_wrong_type": lambda tmp, m: Bad(
        ["train", str(BAD / "recipe_wrong_type.toml"), "-o", str(tmp / "run")], BAD / "recipe_wrong_type.toml",
        9, "'train.lr' must be float, got 'fast'"),
    "weights_missing/predict": _model_case("missing", "predict", "", "model.safetensors is missing"),
    "weights_missing/evaluate": _model_case("missing", "evaluate", "", "model.safetensors is missing"),
    "weights_truncated/predict": _model_case("truncated", "predict", "model.safetensors", "not a complete safetensors file"),
    "weights_truncated/evaluate": _model_case("truncated", "evaluate", "model.safetensors", "not a complete safetensors file"),
    "config_does_not_match_weights/predict": _model_case(
        "mismatch", "predict", "model.safetensors", "weights do not match config.json"),
    "config_does_not_match_weights/evaluate": _model_case(
        "mismatch", "evaluate", "model.safetensors", "weights do not match config.json"),
    "not_utf8/train": _latin1_train,
    "not_utf8/evaluate": _latin1_evaluate,
    "not_utf8/predict_text": _latin1_predict,
    "not_utf8/predict_conll": _latin1_predict_conll,
}

# Sentence classification (TSV/CSV/JSONL) may not exist yet in a checkout: its case runs when it does.
HAVE_CLASSIFICATION = (ROOT / "recipes" / "classify.toml").exists() and (
    importlib.util.find_spec("tagger.io.text_classification") is not None)
if HAVE_CLASSIFICATION:
    BAD_CASES["tsv_missing_label"] = lambda tmp, m: Bad(
        ["train", "classify", "--train", str(BAD / "missing_label.tsv"), "--dev", str(BAD / "missing_label.tsv"),
         "-o", str(tmp / "run"), *TINY_FLAGS], BAD / "missing_label.tsv", 3, "missing label (column 'label' is empty)")


def check_one_line(stderr: str, bad: Bad) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    where = f"{bad.names}:{bad.line}: " if bad.line is not None else f"{bad.names}: "
    assert lines[0].startswith(f"error: {where}"), lines[0]
    assert bad.says in lines[0], lines[0]


@pytest.mark.parametrize("name", [n for n in BAD_CASES if n != "tsv_missing_label"])
def test_bad_input_is_one_line_and_changes_nothing(name, tmp_path, model):
    bad = BAD_CASES[name](tmp_path, model)
    before = snapshot(tmp_path, model, BAD)
    result = runner.invoke(app, bad.args)
    assert isinstance(result.exception, SystemExit), result.exception  # typer.Exit, not a crash
    assert result.exit_code == 1
    check_one_line(result.stderr, bad)
    assert result.stdout == ""
    assert snapshot(tmp_path, model, BAD) == before  # no run dir, no output, no report, model untouched


@pytest.mark.parametrize("name", ["wrong_column_count/train", "recipe_unknown_field", "not_utf8/predict_text",
                                  "weights_truncated/evaluate"])
def test_bad_input_in_a_real_process(name, tmp_path, model):
    bad = BAD_CASES[name](tmp_path, model)
    before = snapshot(tmp_path, model, BAD)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "tagger", *bad.args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 1
    check_one_line(done.stderr, bad)
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert snapshot(tmp_path, model, BAD) == before


def test_tsv_with_a_missing_label(tmp_path, model):
    if not HAVE_CLASSIFICATION:
        pytest.skip("sentence classification (TSV files: text TAB label) is not implemented in this checkout; "
                    "tests/bad_inputs/missing_label.tsv is ready for it")
    test_bad_input_is_one_line_and_changes_nothing("tsv_missing_label", tmp_path, model)


# -- odd but valid -------------------------------------------------------------------


def plain_sentences(conll: str) -> str:
    """One sentence per line, words separated by spaces: predict's text input."""
    return "".join(" ".join(row.split()[0] for row in block.splitlines()) + "\n"
                   for block in conll.split("\n\n") if block.strip())


def mixed_whitespace(conll: str, seed: int = 0) -> str:
    """The same columns separated by random runs of tabs and spaces, with some trailing."""
    rng = random.Random(seed)
    out = []
    for line in conll.split("\n"):
        if not line:
            out.append("")
            continue
        seps = [rng.choice([" ", "\t", "  ", " \t", "\t\t"]) for _ in line.split()]
        out.append("".join(c + s for c, s in zip(line.split(), seps)).rstrip(" \t" if rng.random() < 0.5 else ""))
    return "\n".join(out)


VARIANTS: dict[str, Callable[[str], bytes]] = {
    "crlf": lambda text: text.replace("\n", "\r\n").encode("utf-8"),
    "bom": lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
    "crlf_and_bom": lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"),
    "tab_space_mix": lambda text: mixed_whitespace(text).encode("utf-8"),
}


def test_committed_tab_space_mix_reads_like_single_spaces():
    text = (BAD / "tab_space_mix.txt").read_text(encoding="utf-8")
    assert "\t" in text and "  " in text and " \t" in text
    sentences = read_conll2003(BAD / "tab_space_mix.txt")
    assert [s.words for s in sentences] == [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"]]
    assert [s.tags["ner"] for s in sentences] == [["B-ORG", "O", "B-MISC", "O", "O"], ["B-PER", "I-PER"]]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_odd_but_valid_input_works(variant, tmp_path, model):
    train_text, dev_text = demo_slice(40), demo_slice(15, "valid")
    clean = {"train": tmp_path / "train.txt", "dev": tmp_path / "dev.txt", "text": tmp_path / "text.txt"}
    odd = {k: tmp_path / f"{variant}_{p.name}" for k, p in clean.items()}
    for key, text in (("train", train_text), ("dev", dev_text), ("text", plain_sentences(dev_text))):
        clean[key].write_text(text, encoding="utf-8")
        odd[key].write_bytes(VARIANTS[variant](text))

    # the reader sees exactly the clean corpus
    assert read_conll2003(odd["train"]) == read_conll2003(clean["train"])

    # train on it
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "demo", "--train", str(odd["train"]), "--dev", str(odd["dev"]),
                                 "-o", str(run), *TINY_FLAGS])
    assert result.exit_code == 0, result.stderr
    assert (run / "best" / "model.safetensors").is_file()

    # evaluate it: same scores as the clean file
    reports = {}
    for kind, files in (("clean", clean), ("odd", odd)):
        out = tmp_path / f"{kind}.json"
        result = runner.invoke(app, ["evaluate", str(model), "--file", str(files["dev"]), "--json", str(out)])
        assert result.exit_code == 0, result.stderr
        reports[kind] = json.loads(out.read_text())["report"]
    assert reports["odd"] == reports["clean"]

    # predict from it, as text and as CoNLL: same output as the clean file
    for fmt, key, source in (("text", "text", "text"), ("conll", "dev", "dev")):
        outputs = {}
        for kind, files in (("clean", clean), ("odd", odd)):
            out = tmp_path / f"{kind}.{fmt}.out"
            result = runner.invoke(app, ["predict", str(model), "--input", str(files[source]), "--input-format", fmt,
                                         "-f", "conll", "-o", str(out)])
            assert result.exit_code == 0, result.stderr
            outputs[kind] = out.read_text(encoding="utf-8")
        assert outputs["odd"] == outputs["clean"]
        assert outputs["clean"].count("\n\n") == 15


def test_a_50000_token_sentence_trains_evaluates_and_predicts(tmp_path):
    rng = random.Random(0)
    vocab = [("the", "DT", "O"), ("council", "NN", "O"), ("met", "VBD", "O"), ("in", "IN", "O"),
             ("Lyon", "NNP", "B-LOC"), ("Anna", "NNP", "B-PER"), ("said", "VBD", "O"), (".", ".", "O")]
    rows = [rng.choice(vocab) for _ in range(50_000)]
    long_sentence = "".join(f"{w} {p} O {t}\n" for w, p, t in rows)
    data = tmp_path / "long.txt"
    data.write_text(demo_slice(20) + "\n" + long_sentence + "\n" + demo_slice(5, "valid"), encoding="utf-8")
    assert max(len(s) for s in read_conll2003(data)) == 50_000
    dev = tmp_path / "dev.txt"
    dev.write_text(demo_slice(15, "valid"), encoding="utf-8")

    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "demo", "--train", str(data), "--dev", str(dev), "-o", str(run), *TINY_FLAGS])
    assert result.exit_code == 0, result.stderr

    result = runner.invoke(app, ["evaluate", str(run), "--file", str(data), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.stderr
    total = sum(len(s) for s in read_conll2003(data))
    assert f"{total:,} tokens" in result.stdout
    assert json.loads((tmp_path / "r.json").read_text())["report"]["ner"]["token_accuracy"] > 0

    text = tmp_path / "long_sentence.txt"
    text.write_text(" ".join(w for w, _, _ in rows) + "\n", encoding="utf-8")
    out = tmp_path / "long.out"
    result = runner.invoke(app, ["predict", str(run), "--input", str(text), "-f", "conll", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[-1] == "" and len(lines) == 50_001
    assert [row.split("\t")[0] for row in lines[:-1]] == [w for w, _, _ in rows]
    assert all(row.split("\t")[1] in {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"}
               for row in lines[:-1])
