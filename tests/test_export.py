"""``tagger export`` and the torch-free runtime (``tagger.runtime``): the ONNX graph's
scores equal the PyTorch model's, the NumPy Viterbi picks the same labels on every
sentence (padding, a 1-token sentence, unknown words, raw text), the runtime never
imports torch, broken files are one-line errors; and int8 (PyTorch's dynamic
quantization and ONNX Runtime's) agrees with fp32 on nearly every token."""
from __future__ import annotations

import io
import itertools
import json
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")

import tagger  # noqa: E402
import tagger.runtime as runtime  # noqa: E402
from tagger.batching import build_vocabs, collate, encode  # noqa: E402
from tagger.cli import app  # noqa: E402
from tagger.config import load_recipe  # noqa: E402
from tagger.errors import TaggerError  # noqa: E402
from tagger.export import export_model  # noqa: E402
from tagger.io.conll import read_conll2003  # noqa: E402
from tagger.model import SequenceTagger  # noqa: E402
from tagger.predict import Tagger  # noqa: E402
from tagger.runtime.decode import viterbi as np_viterbi  # noqa: E402
from tagger.sources import demo_dir  # noqa: E402
from tagger.train import train  # noqa: E402

TINY = ["encoder.hidden=16", "embed.word_dim=8", "embed.char_dim=8", "embed.char_hidden=8", "embed.casing_dim=4",
        "train.threads=1"]


@pytest.fixture(scope="module")
def demo_sentences():
    return [s.words for s in read_conll2003(demo_dir() / "valid.txt")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A demo NER model (CRF, 2-layer BiLSTM, char CNN) trained for 6 epochs (valid F1 about 0.75), and its fp32 export."""
    out = tmp_path_factory.mktemp("export_ner")
    train(load_recipe("demo", TINY + ["encoder.layers=2", "train.max_epochs=6", "train.lr=0.03"]), out, Console(file=io.StringIO()))
    return out / "best", export_model(out / "best", out / "onnx")


def untrained(tmp_path, *overrides: str, recipe: str = "demo"):
    """A randomly initialised model of the recipe, saved: equality needs no training."""
    torch.manual_seed(0)
    rec = load_recipe(recipe, TINY + list(overrides))
    if recipe == "demo":
        train_sents = read_conll2003(demo_dir() / "train.txt")
    else:
        from tagger.corpus import load_corpus

        train_sents = load_corpus(rec.data, rec.heads, ("train",))["train"]
    model = SequenceTagger(rec, build_vocabs(train_sents, rec.heads, rec.embed)).eval()
    return model.save(tmp_path / "model")


def torch_scores(model: SequenceTagger, sentences) -> list[dict[str, np.ndarray]]:
    """What the graph outputs, computed by the PyTorch model: per token task the head's
    scores before decoding, per sentence task the class probabilities."""
    batch = collate([encode(s, model.vocabs, with_labels=False) for s in sentences], list(range(len(sentences))))
    out = [{} for _ in sentences]
    with torch.inference_mode():
        states = model.states(batch)
        for head in model.recipe.heads:
            module = model.heads[head.task]
            if head.task in model.sentence_tasks:
                values = module.decode(states, batch.mask)
            else:
                values = module.proj(states)
                if head.kind == "softmax" and head.span:
                    values = torch.log_softmax(values, dim=-1)
            for i, n in enumerate(batch.lengths.tolist()):
                out[i][head.task] = values[i].numpy() if head.task in model.sentence_tasks else values[i, :n].numpy()
    return out


def assert_same_scores(model_dir, export_dir, sentences, atol=1e-4):
    model = Tagger.load(model_dir).model
    expected = torch_scores(model, sentences)
    got = runtime.load(export_dir).scores(sentences)
    for e, g in zip(expected, got):
        assert e.keys() == g.keys()
        for task in e:
            assert e[task].shape == g[task].shape
            np.testing.assert_allclose(g[task], e[task], atol=atol, rtol=0)


def test_numpy_viterbi_is_the_best_path_by_brute_force():
    rng = np.random.default_rng(0)
    B, T, L = 4, 4, 3
    emissions = rng.normal(size=(B, T, L)).astype(np.float32)
    trans, start, end = (rng.normal(size=s).astype(np.float32) for s in ((L, L), (L,), (L,)))
    trans[0, 2] = -10000.0  # a forbidden transition
    lengths = np.array([4, 1, 3, 2])
    paths = np_viterbi(emissions, lengths, trans, start, end)
    import itertools

    for b, n in enumerate(lengths):
        def score(y):
            return start[y[0]] + sum(emissions[b, t, y[t]] for t in range(n)) + sum(
                trans[y[t - 1], y[t]] for t in range(1, n)) + end[y[-1]]

        best = max(itertools.product(range(L), repeat=int(n)), key=score)
        assert paths[b, :n].tolist() == list(best)
        assert (paths[b, n:] == 0).all()


def test_numpy_viterbi_equals_torch_ties_included():
    """Small integer scores make ties common: both decoders must take the same (first) maximum."""
    from tagger.nn.decode import viterbi as torch_viterbi

    rng = np.random.default_rng(1)
    for _ in range(50):
        B, T, L = rng.integers(1, 6), rng.integers(1, 9), rng.integers(1, 6)
        emissions = rng.integers(-2, 3, size=(B, T, L)).astype(np.float32)
        trans, start, end = (rng.integers(-2, 3, size=s).astype(np.float32) for s in ((L, L), (L,), (L,)))
        lengths = rng.integers(1, T + 1, size=B)
        mask = torch.arange(T)[None, :] < torch.from_numpy(lengths)[:, None]
        expected = torch_viterbi(torch.from_numpy(emissions), mask, *map(torch.from_numpy, (trans, start, end)))
        assert np_viterbi(emissions, lengths, trans, start, end).tolist() == expected.tolist()


def test_export_tags_like_torch_on_every_sentence(trained, demo_sentences):
    model_dir, export_dir = trained
    sentences = demo_sentences + [["Paris"], ["zzqx", "Müller", "1984", "visited", "qqq", "Ltd."]]
    assert runtime.load(export_dir).predict(sentences) == Tagger.load(model_dir).predict(sentences)
    # Padding: the longest sentence alone, and batched with 1-token ones, gives the same scores.
    assert_same_scores(model_dir, export_dir, sentences)
    text = ["The European Commission said on Thursday it disagreed with German advice.", ""]
    assert tagger.load(export_dir).predict_all(text) == Tagger.load(model_dir).predict_all(text)
    files = sorted(p.name for p in export_dir.iterdir())
    assert files == ["export.json", "model.onnx", "vocab.json"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(["EU", "Germany", "the", "said", "Peter", "XYZZY", ".", "3-2", "in", "Blair"]),
                         min_size=1, max_size=9), min_size=1, max_size=6))
def test_export_equals_torch_on_random_sentences(trained, sentences):
    model_dir, export_dir = trained
    assert runtime.load(export_dir).predict(sentences) == Tagger.load(model_dir).predict(sentences)


@pytest.mark.parametrize("overrides", [
    ("heads.0.kind=softmax", "embed.char_encoder=lstm", "encoder.cell=gru"),  # constrained softmax, char BiLSTM
    ("heads.0.kind=softmax", "heads.0.span=false", "encoder.bidirectional=false", "embed.casing_dim=0",
     "embed.char_encoder=none", "encoder.cell=rnn"),  # plain argmax, one direction, no char or casing features
    ("encoder.cell=rnn",),  # a bidirectional tanh RNN: ONNX's RNN op names an activation per direction
])
def test_other_heads_encoders_and_char_encoders(tmp_path, demo_sentences, overrides):
    model_dir = untrained(tmp_path, "encoder.layers=2", *overrides)
    export_dir = export_model(model_dir, tmp_path / "onnx")
    sentences = demo_sentences[:12] + [["x"]]
    assert_same_scores(model_dir, export_dir, sentences)
    assert runtime.load(export_dir).predict(sentences) == Tagger.load(model_dir).predict(sentences)


@pytest.mark.parametrize("pooling", ["attention", "last"])
def test_sentence_classifier_probabilities(tmp_path, pooling):
    model_dir = untrained(tmp_path, f"heads.0.pooling={pooling}", recipe="sentiment-demo")
    export_dir = export_model(model_dir, tmp_path / "onnx")
    texts = ["a gorgeous , witty , seductive movie .", "dull", "the plot is nothing but boilerplate clichés"]
    torch_tagger, onnx_tagger = Tagger.load(model_dir), runtime.load(export_dir)
    assert onnx_tagger.predict(texts) == torch_tagger.predict(texts)
    for got, want in zip(onnx_tagger.predict_proba(texts), torch_tagger.predict_proba(texts)):
        assert got.keys() == want.keys()
        assert np.allclose(list(got.values()), list(want.values()), atol=1e-5)


def test_runtime_never_imports_torch(trained):
    _, export_dir = trained
    code = (
        "import sys, tagger, tagger.runtime as rt\n"
        f"r = rt.load({str(export_dir)!r}, threads=1)\n"
        "labels = r.predict([['EU', 'rejects', 'German', 'call'], ['x']]) + r.predict(['Peter Blair went to Paris .'])\n"
        f"assert tagger.load({str(export_dir)!r}).predict([['EU']])\n"
        "assert r.predict_spans([['EU', 'rejects']]) is not None\n"
        "print(len(labels), sorted(m for m in ('torch', 'spacy', 'datasets', 'safetensors') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "[]"]


def test_cli_predict_on_an_export_directory_runs_without_torch(trained):
    model_dir, export_dir = trained
    text = "Peter Blair of the European Commission went to Paris ."
    code = (
        "import sys\nfrom tagger.cli import app\n"
        f"try:\n    app(['predict', {str(export_dir)!r}, {text!r}, '--format', 'jsonl', '--threads', '1'])\n"
        "except SystemExit as stop:\n    assert not stop.code, stop.code\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    record, verdict = done.stdout.strip().splitlines()
    assert verdict == "torch imported: False"
    expected = CliRunner().invoke(app, ["predict", str(model_dir), text, "--format", "jsonl"])
    assert json.loads(record) == json.loads(expected.stdout.strip())
    refused = CliRunner().invoke(app, ["predict", str(export_dir), text, "--quantize", "int8"])
    assert refused.exit_code == 1 and "no --quantize" in refused.output


def test_broken_or_foreign_onnx_files_are_one_line_errors(trained, tmp_path):
    _, export_dir = trained
    broken = tmp_path / "broken"
    shutil.copytree(export_dir, broken)
    data = (broken / "model.onnx").read_bytes()
    (broken / "model.onnx").write_bytes(data[: len(data) // 3])
    with pytest.raises(TaggerError) as err:
        runtime.load(broken)
    assert "model.onnx" in str(err.value) and "\n" not in str(err.value)

    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "foreign",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(broken / "model.onnx"))
    with pytest.raises(TaggerError, match="model.onnx: not a tagger graph"):
        runtime.load(broken)

    (broken / "model.onnx").unlink()
    with pytest.raises(TaggerError, match="model.onnx is missing"):
        runtime.load(broken)
    (broken / "export.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(TaggerError, match="export.json: not a tagger export"):
        runtime.load(broken)


def test_cli_export_int8_and_its_errors(trained, tmp_path, demo_sentences):
    model_dir, _ = trained
    runner = CliRunner()
    done = runner.invoke(app, ["export", str(model_dir), str(tmp_path / "int8"), "--quantize", "int8"])
    assert done.exit_code == 0, done.output
    int8 = runtime.load(tmp_path / "int8")
    assert int8.quantize == "int8"
    assert (tmp_path / "int8" / "model.onnx").stat().st_size < os.path.getsize(trained[1] / "model.onnx")
    assert agreement(Tagger.load(model_dir).predict(demo_sentences), int8.predict(demo_sentences)) >= 0.95
    for args, message in [(["--quantize", "int4"], "unknown --quantize 'int4' (choose: int8)"),
                          (["--format", "tflite"], "unknown export format 'tflite' (choose: onnx)")]:
        done = runner.invoke(app, ["export", str(model_dir), str(tmp_path / "bad"), *args])
        assert done.exit_code == 1
        assert done.output.strip().splitlines() == [f"error: {message}"]


def agreement(a: list[list[str]], b: list[list[str]]) -> float:
    pairs = [(x, y) for s, t in zip(a, b) for x, y in zip(s, t, strict=True)]
    return sum(x == y for x, y in pairs) / len(pairs)


def test_torch_int8_agrees_with_fp32_and_unknown_values_are_refused(trained, demo_sentences):
    model_dir, export_dir = trained
    fp32 = Tagger.load(model_dir)
    int8 = tagger.load(model_dir, quantize="int8")
    assert ".quantized." in type(int8.model.encoder.rnn).__module__
    assert agreement(fp32.predict(demo_sentences), int8.predict(demo_sentences)) >= 0.95
    with pytest.raises(TaggerError, match="unknown quantize 'fp8'"):
        tagger.load(model_dir, quantize="fp8")
    with pytest.raises(TaggerError, match="this export is fp32"):
        tagger.load(export_dir, quantize="int8")
    runner = CliRunner()
    done = runner.invoke(app, ["predict", str(model_dir), "EU rejects German call", "--quantize", "int8"])
    assert done.exit_code == 0 and "EU" in done.output
    done = runner.invoke(app, ["evaluate", str(model_dir), "--quantize", "int4"])
    assert done.exit_code == 1
    assert done.output.strip().splitlines() == ["error: unknown quantize 'int4' (choose: int8, bf16)"]


# -- char-LM embeddings ------------------------------------------------------------


@pytest.fixture(scope="module")
def charlm_trained(tmp_path_factory):
    """A demo NER model with char-LM embeddings (a 2-layer LSTM forward LM, a GRU backward
    LM: random, frozen) trained for 4 epochs, and its fp32 export."""
    from tagger.lm.config import LMModelConfig
    from tagger.lm.model import LanguageModel
    from tagger.lm.text import build_vocab, corpus_text

    out = tmp_path_factory.mktemp("export_charlm")
    torch.manual_seed(0)
    vocab = build_vocab(list(corpus_text(read_conll2003(demo_dir() / "train.txt"))), "char")
    for name, reverse, cell, layers in (("fwd", False, "lstm", 2), ("bwd", True, "gru", 1)):
        LanguageModel(LMModelConfig(hidden=12, embed_dim=6, reverse=reverse, cell=cell, layers=layers), vocab).save(out / name)
    recipe = load_recipe("demo", TINY + ["train.max_epochs=4", "train.lr=0.03", f"embed.charlm='{out / 'fwd'},{out / 'bwd'}'"])
    train(recipe, out / "run", Console(file=io.StringIO()))
    return out / "run" / "best", export_model(out / "run" / "best", out / "onnx")


def test_charlm_export_tags_like_torch(charlm_trained, demo_sentences):
    model_dir, export_dir = charlm_trained
    # a 1-token sentence, unknown words and characters (the LMs' <unk>), one long sentence: padding
    sentences = demo_sentences + [["Paris"], ["zzqx", "Müller", "1984", "visited", "qqq", "Ltd.", "東京"],
                                  [w for s in demo_sentences[:6] for w in s]]
    torch_tagger = Tagger.load(model_dir)
    assert torch_tagger.model.embedder.charlm is not None
    assert runtime.load(export_dir).predict(sentences) == torch_tagger.predict(sentences)
    assert_same_scores(model_dir, export_dir, sentences)
    assert_same_scores(model_dir, export_dir, [["Paris"]])  # alone: no padding at all
    text = ["The European Commission said on Thursday it disagreed with German advice.", ""]
    assert tagger.load(export_dir).predict_all(text) == torch_tagger.predict_all(text)
    assert sorted(p.name for p in export_dir.iterdir()) == ["export.json", "model.onnx", "vocab.json"]
    stored = json.loads((export_dir / "vocab.json").read_text())["charlm"]  # the LMs' character vocabularies
    assert {d: stored[d]["vocab"] for d in ("fwd", "bwd")} == {d: torch_tagger.model.vocabs.charlm[d]["vocab"]
                                                               for d in ("fwd", "bwd")}
    import onnx

    names = [i.name for i in onnx.load(str(export_dir / "model.onnx")).graph.input]
    assert names[-4:] == ["lm.fwd", "lm.fwd.positions", "lm.bwd", "lm.bwd.positions"]


def test_runtime_lm_inputs_are_the_ones_torch_batches(charlm_trained):
    from tagger.runtime.inputs import Features, lm_arrays

    model_dir, _ = charlm_trained
    model = Tagger.load(model_dir).model
    sentences = [["Peter", "Blair", "went", "to", "Paris", "."], ["x"], ["Müller", "東京"], ["x"]]
    batch = collate([encode(s, model.vocabs, with_labels=False) for s in sentences], list(range(len(sentences))))
    arrays = lm_arrays(sentences, Features(json.loads(model.vocabs.to_json())).lm)
    rows = getattr(batch, "lm_rows", None)  # the batch may hold a repeated sentence's string once
    rows = torch.arange(len(sentences)) if rows is None else rows
    for d in ("fwd", "bwd"):
        ids, positions = batch.lm[d]
        assert arrays[f"lm.{d}"].tolist() == ids[rows].tolist()
        assert arrays[f"lm.{d}.positions"].tolist() == positions.tolist()


def test_charlm_export_matches_torch_reading_in_windows(charlm_trained, monkeypatch):
    """The PyTorch model reads more than WINDOW characters in windows; the graph in one pass: the same scores."""
    from tagger.nn.charlm import CharLMEmbedding

    model_dir, export_dir = charlm_trained
    sentences = [["Peter", "lives", "in", "Berlin", "and", "works", "for", "Siemens", "."] * 8, ["EU", "rejects"]]
    monkeypatch.setattr(CharLMEmbedding, "WINDOW", 16)
    assert_same_scores(model_dir, export_dir, sentences)


def test_batch_order_sorts_by_lm_characters_when_there_are_lms_and_bounds_words_per_batch(monkeypatch):
    from tagger.runtime import inputs

    monkeypatch.setattr(inputs, "CALL_COST", float("inf"))  # the bounds alone: no batch is split by length
    # Without LMs the longest sentence in words comes first; with them the longest in characters.
    assert list(inputs.batch_order([1, 5, 3], 1)) == [[1], [2], [0]]
    assert list(inputs.batch_order([1, 5, 3], 1, chars=[50, 10, 20])) == [[0], [2], [1]]
    # max_tokens counts the longest sentence in words of the batch, wherever it sorts by characters.
    assert list(inputs.batch_order([1, 5, 3], 8, max_tokens=10, chars=[50, 10, 20])) == [[0, 2], [1]]
    # Every sentence exactly once, in batches within both bounds.
    lengths, chars = [7, 1, 4, 4, 9, 2], [30, 60, 12, 40, 25, 8]
    batches = list(inputs.batch_order(lengths, 3, max_tokens=16, chars=chars, max_chars=90))
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 16 or len(b) == 1
        assert len(b) * max(chars[i] for i in b) <= 90 or len(b) == 1


def run_cost(run: list[int], key: list[int]) -> float:
    from tagger.runtime import inputs

    return inputs.CALL_COST + key[run[0]] * (inputs.STEP_COST + len(run))


def test_split_by_length_is_the_cheapest_cut_by_brute_force():
    from tagger.runtime.inputs import split_by_length

    rng = random.Random(0)
    for _ in range(300):
        key = [rng.choice([1, 2, 3, 5, 8, 13, 40, 90]) for _ in range(rng.randint(1, 9))]
        batch = sorted(range(len(key)), key=lambda i: -key[i])
        runs = split_by_length(batch, key)
        assert [i for run in runs for i in run] == batch  # every sentence once, in order
        cheapest = min(sum(run_cost(batch[a:b], key) for a, b in zip((0, *cuts), (*cuts, len(batch))))
                       for n in range(len(batch)) for cuts in itertools.combinations(range(1, len(batch)), n))
        assert sum(run_cost(run, key) for run in runs) == pytest.approx(cheapest)
        for run in runs[1:]:  # sentences of one length share a run
            assert key[run[0]] != key[batch[batch.index(run[0]) - 1]]


def test_a_server_batch_of_mixed_lengths_is_split_and_one_of_equal_lengths_is_not():
    from tagger.runtime import inputs

    # One sentence of 60 words and 15 of 3: one batch pads 16 x 60 = 960 words for 105.
    lengths = [60] + [3] * 15
    assert [len(b) for b in inputs.batch_order(lengths, 256)] == [1, 15]
    assert [len(b) for b in inputs.batch_order([12] * 16, 256)] == [16]
    # Long sentences: batches of at most MAX_TOKENS padded words (ONNX Runtime's LSTM slows past it).
    assert [len(b) for b in inputs.batch_order([100] * 30, 256)] == [10, 10, 10]


def test_charlm_export_refuses_sentences_past_its_limit_and_bounds_lm_characters_per_batch(charlm_trained, monkeypatch):
    from tagger.runtime import inputs

    _, export_dir = charlm_trained
    monkeypatch.setattr(inputs, "CALL_COST", float("inf"))
    assert [len(b) for b in inputs.batch_order([3, 2, 1, 1], 64, chars=[30, 20, 10, 10], max_chars=40)] == [1, 2, 1]
    monkeypatch.undo()
    monkeypatch.setattr(inputs, "MAX_LM_CHARS", 24)
    model = runtime.load(export_dir)
    assert model.predict([["EU", "rejects", "German", "call"]])  # 24 characters: "\nEU rejects German call "
    with pytest.raises(TaggerError) as err:
        model.predict([["EU"], ["EU", "rejects", "German", "calls"]])
    assert "a sentence of 4 words (25 characters) is longer than an export with char-LM embeddings reads (24 characters" \
        in str(err.value) and "\n" not in str(err.value)


def test_charlm_int8_export_and_cli_predict_without_torch(charlm_trained, tmp_path, demo_sentences):
    model_dir, export_dir = charlm_trained
    done = CliRunner().invoke(app, ["export", str(model_dir), str(tmp_path / "int8"), "--quantize", "int8"])
    assert done.exit_code == 0, done.output
    int8 = runtime.load(tmp_path / "int8")
    assert int8.quantize == "int8"
    assert agreement(Tagger.load(model_dir).predict(demo_sentences), int8.predict(demo_sentences)) >= 0.95
    text = "Peter Blair of the European Commission went to Paris ."
    code = (
        "import sys\nfrom tagger.cli import app\n"
        f"try:\n    app(['predict', {str(export_dir)!r}, {text!r}, '--format', 'jsonl'])\n"
        "except SystemExit as stop:\n    assert not stop.code, stop.code\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-m", "tagger", "predict", str(export_dir), text, "--format", "jsonl"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    launched = done.stdout.strip()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    record, verdict = done.stdout.strip().splitlines()
    assert verdict == "torch imported: False"
    expected = json.loads(CliRunner().invoke(app, ["predict", str(model_dir), text, "--format", "jsonl"]).stdout.strip())
    assert json.loads(record) == expected == json.loads(launched)


def test_charlm_reading_document_context_is_refused(charlm_trained, tmp_path):
    model_dir, _ = charlm_trained
    copy = tmp_path / "context"
    shutil.copytree(model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["recipe"]["embed"]["charlm_context"] = 8
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(TaggerError, match=r"char LMs read document context \(embed.charlm_context\) cannot be exported"):
        export_model(copy, tmp_path / "onnx")


def test_cli_evaluate_on_an_export_directory_reports_what_the_model_does(trained, tmp_path):
    model_dir, export_dir = trained
    runner = CliRunner()
    reports = []
    for directory, name in ((model_dir, "model.json"), (export_dir, "export.json")):
        done = runner.invoke(app, ["evaluate", str(directory), "--json", str(tmp_path / name)])
        assert done.exit_code == 0, done.output
        reports.append(json.loads((tmp_path / name).read_text())["report"]["ner"])
    for key in ("f1", "precision", "recall", "token_accuracy", "oov_token_accuracy"):
        assert reports[1][key] == reports[0][key]
    done = runner.invoke(app, ["evaluate", str(export_dir), "--quantize", "int8"])
    assert done.exit_code == 1 and "--quantize is for model directories, not export directories" in done.output
