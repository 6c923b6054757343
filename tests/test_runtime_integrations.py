"""The torch-free runtime behind the integrations: the spaCy component and ``map_predict``
(and ``predict_batch``) given a ``tagger export`` directory tag exactly as with the PyTorch
model, a saved pipeline round-trips, none of it imports torch, and ``tagger predict
EXPORT`` imports neither torch nor spaCy nor datasets."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from rich.console import Console

pytest.importorskip("onnxruntime")
spacy = pytest.importorskip("spacy")
datasets = pytest.importorskip("datasets")

import tagger  # noqa: E402
from tagger.config import load_recipe  # noqa: E402
from tagger.export import export_model  # noqa: E402
from tagger.io.conll import read_conll2003  # noqa: E402
from tagger.sources import demo_dir  # noqa: E402
from tagger.train import train  # noqa: E402

TINY = ["encoder.hidden=16", "embed.word_dim=8", "embed.char_dim=8", "embed.char_hidden=8", "embed.casing_dim=4",
        "train.threads=1", "train.max_epochs=4", "train.lr=0.03"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A demo NER model trained for 4 epochs (a few seconds; it finds entities) and its export."""
    out = tmp_path_factory.mktemp("runtime_integrations")
    train(load_recipe("demo", TINY), out, Console(file=io.StringIO()))
    return out / "best", export_model(out / "best", out / "onnx")


@pytest.fixture(scope="module")
def texts():
    sentences = [s.words for s in read_conll2003(demo_dir() / "valid.txt")]
    return [" ".join(words) for words in sentences[:20]]


def ents(nlp, texts):
    return [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]


def test_spacy_component_on_an_export_equals_the_pytorch_model(exported, texts, tmp_path):
    model_dir, export_dir = exported
    torch_nlp, onnx_nlp = spacy.blank("en"), spacy.blank("en")
    torch_nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir)})
    onnx_nlp.add_pipe("bilstm_tagger", config={"model": str(export_dir)})
    expected = ents(torch_nlp, texts)
    assert sum(map(len, expected)) >= 5  # the model finds entities: the comparison means something
    assert ents(onnx_nlp, texts) == expected
    component = onnx_nlp.get_pipe("bilstm_tagger")
    assert isinstance(component.model, tagger.runtime.Runtime)
    assert component.labels == torch_nlp.get_pipe("bilstm_tagger").labels == ("LOC", "MISC", "ORG", "PER")
    # to_disk -> spacy.load: the export's own files, and the original folder is not needed.
    onnx_nlp.to_disk(tmp_path / "pipeline")
    assert sorted(p.name for p in (tmp_path / "pipeline" / "bilstm_tagger").iterdir()) == [
        "export.json", "model.onnx", "vocab.json"]
    (export_dir / "export.json").rename(export_dir / "export.json.away")
    try:
        loaded = spacy.load(tmp_path / "pipeline")
    finally:
        (export_dir / "export.json.away").rename(export_dir / "export.json")
    assert ents(loaded, texts) == expected
    # to_bytes -> from_bytes.
    again = spacy.blank("en")
    again.add_pipe("bilstm_tagger")
    again.from_bytes(onnx_nlp.to_bytes())
    assert ents(again, texts) == expected


def test_an_export_is_cpu_only_in_the_component(exported):
    _, export_dir = exported
    nlp = spacy.blank("en")
    with pytest.raises(tagger.TaggerError, match="runs on the CPU"):
        nlp.add_pipe("bilstm_tagger", config={"model": str(export_dir), "device": "cuda"})("EU rejects it .")


def test_quantize_in_the_component_must_say_what_the_export_is(exported, texts):
    _, export_dir = exported  # an fp32 export
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(export_dir), "quantize": "int8"})
    with pytest.raises(tagger.TaggerError, match="quantize is 'int8' but this export is fp32"):
        nlp(texts[0])


def test_map_predict_and_predict_batch_on_an_export_equal_the_pytorch_model(exported, texts):
    model_dir, export_dir = exported
    rows = datasets.Dataset.from_dict({"text": texts + [""]})
    want = tagger.map_predict(rows, str(model_dir), batch_size=8, load_from_cache_file=False)
    got = tagger.map_predict(rows, str(export_dir), batch_size=8, load_from_cache_file=False)
    assert got.column_names == want.column_names == ["text", "tokens", "ner"]
    assert got["ner"] == want["ner"] and got["tokens"] == want["tokens"]
    assert any(tag != "O" for tags in want["ner"] for tag in tags)
    batch = {"tokens": [t.split() for t in texts[:5]]}
    assert tagger.predict_batch(batch, str(export_dir))["ner"] == tagger.predict_batch(batch, str(model_dir))["ner"]


# torch is installed here, and spaCy's thinc imports it whenever it can: the probe makes
# it unimportable while spaCy loads (as on a machine without it: None in sys.modules),
# then lets it be importable again, notes every module whose ``import`` statement asks
# for it, and checks the integrations work, torch was never loaded, and no tagger module asked.
PROBE = """
import builtins, sys, json
tried = []
real_import = builtins.__import__
def noting_import(name, globals=None, *args, **kwargs):
    if name.split('.')[0] in ('torch', 'safetensors'):
        tried.append((globals or {}).get('__name__', '?'))
    return real_import(name, globals, *args, **kwargs)
builtins.__import__ = noting_import
sys.modules['torch'] = None
import spacy
del sys.modules['torch']
import datasets, tagger
export = sys.argv[1]
nlp = spacy.blank('en')
nlp.add_pipe('bilstm_tagger', config={'model': export})
doc = nlp('Peter Blair of the European Commission went to Paris .')
nlp.to_disk(sys.argv[2])
again = spacy.load(sys.argv[2])
rows = tagger.map_predict(datasets.Dataset.from_dict({'text': ['EU rejects German call .', '']}), export)
batch = tagger.predict_batch({'tokens': [['EU', 'rejects']]}, export)
print(json.dumps({'ents': len(doc.ents) == len(again('Peter Blair of the European Commission went to Paris .').ents),
                  'rows': len(rows['ner'][0]), 'batch': len(batch['ner'][0]),
                  'torch': 'torch' in sys.modules, 'tagger_tried': sorted({t for t in tried if t.startswith('tagger')})}))
"""


def test_spacy_component_and_map_predict_on_an_export_never_import_torch(exported, tmp_path):
    _, export_dir = exported
    done = subprocess.run([sys.executable, "-c", PROBE, str(export_dir), str(tmp_path / "nlp")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "ents": True, "rows": 5, "batch": 2, "torch": False, "tagger_tried": []}


def test_cli_predict_on_an_export_imports_no_torch_spacy_or_datasets(exported):
    _, export_dir = exported
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tagger", "predict", str(export_dir),
                           "Peter Blair went to Paris .", "--threads", "1"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Paris" in done.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "onnxruntime" in imported and "tagger" in imported  # the parse sees the imports
    assert imported & {"torch", "spacy", "datasets", "thinc", "safetensors", "pyarrow"} == set()
    assert "typer" not in imported and "rich" not in imported  # tagger.launch's short way, not tagger.cli


@pytest.mark.parametrize("args", [
    ["Peter Blair went to Paris .", "EU rejects it", "--format", "conll"],
    ["--format=jsonl", "Peter Blair went to Paris .", "--batch-size", "2", "--threads=1"],
    ["Peter Blair went to Paris .", "--format", "html"],  # refused, as one line
    ["Peter Blair went to Paris .", "--quantize", "int8"],  # not the short way's: tagger.cli refuses it
])
def test_the_short_way_to_predict_an_export_writes_what_tagger_cli_writes(exported, args):
    from typer.testing import CliRunner

    from tagger.cli import app

    _, export_dir = exported
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "tagger", "predict", str(export_dir), *args], capture_output=True,
                          text=True, timeout=120, env=env)
    want = CliRunner().invoke(app, ["predict", str(export_dir), *args])
    assert done.returncode == want.exit_code
    assert (done.stdout + done.stderr).strip() == want.output.strip()


def test_workers_and_resume_on_an_export_write_what_one_process_writes(exported, tmp_path):
    """``--workers 2`` (spawned processes, each with its own ONNX Runtime session) and
    ``--resume`` after a cut in the middle of a record give the one-process output."""
    from typer.testing import CliRunner

    from tagger.cli import app

    _, export_dir = exported
    sentences = 2 * [s.words for s in read_conll2003(demo_dir() / "train.txt")][:150]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"tokens": words}) + "\n" for words in sentences), encoding="utf-8")
    run = lambda *args: CliRunner().invoke(app, ["predict", str(export_dir), "--input", str(source),  # noqa: E731
                                                 "--format", "jsonl", "--batch-size", "16", *args])
    one = tmp_path / "one.jsonl"
    assert run("-o", str(one)).exit_code == 0
    expected = one.read_text(encoding="utf-8")
    assert len(expected.splitlines()) == 300 and '"B-' in expected

    two = tmp_path / "two.jsonl"
    done = run("-o", str(two), "--workers", "2")
    assert done.exit_code == 0, done.output
    assert two.read_text(encoding="utf-8") == expected

    cut = tmp_path / "cut.jsonl"
    lines = expected.splitlines(keepends=True)
    cut.write_text("".join(lines[:123]) + lines[123][:10], encoding="utf-8")  # killed while writing record 124
    done = run("-o", str(cut), "--resume")
    assert done.exit_code == 0, done.output
    assert cut.read_text(encoding="utf-8") == expected
    assert "123" in done.output  # it says how many it kept

    refused = run("--quantize", "int8")
    assert refused.exit_code != 0 and "--quantize" in refused.output and "Traceback" not in refused.output


@pytest.mark.parametrize("given, session", [([], 1), (["--threads", "0"], None), (["--threads", "2"], 2)])
def test_predict_on_an_export_runs_one_thread_unless_told(exported, monkeypatch, given, session):
    """As with PyTorch: one thread by default (a dynamic int8 graph can label a rare word
    differently on another number of threads, so --workers, whose workers run one thread
    each, then writes what one process writes); 0 leaves the choice to ONNX Runtime."""
    from typer.testing import CliRunner

    import tagger.runtime as runtime
    from tagger.cli import app

    seen = []
    real = runtime._session
    monkeypatch.setattr(runtime, "_session", lambda source, threads, origin: seen.append(threads) or real(source, threads, origin))
    _, export_dir = exported
    result = CliRunner().invoke(app, ["predict", str(export_dir), "Peter Blair went to Paris .", *given])
    assert result.exit_code == 0, result.output
    assert seen == [session]
