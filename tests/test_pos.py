"""POS tagging, chunking and multitask models: CoNLL-U training through the CLI, tag
reports (OOV accuracy, per-tag scores, confusion matrix), multitask predict/evaluate,
and the ud-ewt source (local files and the hub path, offline)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger import sources
from tagger.cli import app
from tagger.config import load_recipe
from tagger.errors import TaggerError
from tagger.io.conll import read_conll2003
from tagger.io.conllu import read_conllu
from tagger.metrics import format_tag_report, most_confused, tag_report
from tagger.predict import Tagger, main_score, oov_mask
from tagger.sources import load_source, sentences_from_hf_ud

ROOT = Path(__file__).resolve().parents[1]
UD = ROOT / "data" / "ud"
UD_TRAIN, UD_DEV = UD / "en_sample-ud-train.conllu", UD / "en_sample-ud-dev.conllu"
DEMO = ROOT / "data" / "demo"
runner = CliRunner()

TINY = [
    "--threads", "1", "--batch-size", "8", "--lr", "0.01",
    "--set", "embed.word_dim=16", "--set", "embed.casing_dim=4", "--set", "embed.char_dim=8",
    "--set", "embed.char_hidden=16", "--set", "embed.dropout=0.1", "--set", "embed.word_dropout=0.0",
    "--set", "encoder.hidden=32", "--set", "encoder.layers=1", "--set", "encoder.dropout=0.1",
]


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


# `isolated` and `hf_offline` come from conftest.py.
pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="module")
def upos_model(tmp_path_factory) -> Path:
    """A tiny UPOS tagger trained on data/ud through the CLI."""
    out = tmp_path_factory.mktemp("ud_run")
    invoke("train", "ud", "--train", UD_TRAIN, "--dev", UD_DEV, "-o", out,
           "--max-epochs", "30", "--patience", "30", *TINY)
    return out / "best"


@pytest.fixture(scope="module")
def multitask_model(tmp_path_factory) -> Path:
    """The conll2003-multitask recipe (NER + POS + chunk, one encoder), tiny, on data/demo."""
    out = tmp_path_factory.mktemp("mt_run")
    invoke("train", "conll2003-multitask", "--set", "data.source=demo", "-o", out, "--max-epochs", "4", *TINY)
    return out / "best"


# -- the tag report, by hand -------------------------------------------------------


def test_tag_report_on_a_hand_made_case():
    gold = [["DET", "NOUN", "VERB"], ["NOUN", "VERB", "ADJ", "PUNCT"]]
    pred = [["DET", "NOUN", "NOUN"], ["NOUN", "VERB", "NOUN", "PUNCT"]]
    oov = [[False, True, True], [False, False, True, False]]
    r = tag_report(gold, pred, oov)
    assert r["tokens"] == 7 and r["accuracy"] == pytest.approx(5 / 7)
    # OOV tokens: NOUN->NOUN (right), VERB->NOUN (wrong), ADJ->NOUN (wrong)
    assert (r["oov_tokens"], r["oov_accuracy"]) == (3, pytest.approx(1 / 3))
    assert (r["iv_tokens"], r["iv_accuracy"]) == (4, 1.0)
    noun = r["per_tag"]["NOUN"]  # predicted 4 times, 2 right; gold twice, both found
    assert (noun["precision"], noun["recall"], noun["f1"], noun["support"]) == (0.5, 1.0, pytest.approx(2 / 3), 2)
    verb = r["per_tag"]["VERB"]  # predicted once (right); gold twice
    assert (verb["precision"], verb["recall"], verb["f1"], verb["support"]) == (1.0, 0.5, pytest.approx(2 / 3), 2)
    assert r["per_tag"]["ADJ"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["per_tag"]["DET"]["f1"] == r["per_tag"]["PUNCT"]["f1"] == 1.0
    assert r["macro avg"]["f1"] == pytest.approx((2 / 3 + 2 / 3 + 0 + 1 + 1) / 5)
    assert r["weighted avg"]["recall"] == pytest.approx((2 * 1.0 + 2 * 0.5 + 0 + 1 + 1) / 7)
    assert r["confusion"] == {"ADJ": {"NOUN": 1}, "DET": {"DET": 1}, "NOUN": {"NOUN": 2},
                              "PUNCT": {"PUNCT": 1}, "VERB": {"NOUN": 1, "VERB": 1}}
    assert "f1" not in r  # a tag report is not a span report
    assert most_confused(r["confusion"]) == ["NOUN", "ADJ", "VERB"]  # NOUN wrongly given twice
    assert most_confused(r["confusion"], 1) == ["NOUN"]
    text = format_tag_report(r)
    assert "OOV accuracy      33.33  (3 tokens)" in text and "token accuracy      71.43  (7 tokens)" in text
    assert "NOUN      50.00     100.00      66.67          2" in text


def test_tag_report_without_oov_tokens_or_mask():
    r = tag_report([["A", "B"]], [["A", "A"]], [[False, False]])
    assert r["oov_tokens"] == 0 and r["oov_accuracy"] is None
    assert "n/a" in format_tag_report(r)
    assert "oov_accuracy" not in tag_report([["A"]], [["A"]])
    with pytest.raises(ValueError):
        tag_report([["A"]], [["A"]], [[True, False]])


def test_main_score_can_watch_one_task():
    report = {"ner": {"f1": 0.8, "token_accuracy": 0.9}, "pos": {"token_accuracy": 0.96}}
    assert main_score(report) == pytest.approx(0.88)
    assert main_score(report, "pos") == 0.96
    assert main_score(report, "") == pytest.approx(0.88)  # an empty monitor in a recipe: the mean
    with pytest.raises(TaggerError, match="no task 'chunk'"):
        main_score(report, "chunk")


# -- UPOS from CoNLL-U, through the CLI ----------------------------------------------


def test_upos_model_learns_its_training_data(upos_model):
    tagger = Tagger.load(upos_model)
    assert tagger.tasks == ["upos"]
    gold = read_conllu(UD_TRAIN)
    report = tagger.evaluate(gold)["upos"]
    assert report["token_accuracy"] >= 0.95
    assert report["oov_tokens"] == 0  # every training word is in the vocabulary
    dev = tagger.evaluate(read_conllu(UD_DEV))["upos"]
    assert dev["oov_tokens"] > 0 and dev["token_accuracy"] > 0.6


def test_evaluate_prints_oov_accuracy_and_per_tag_report(upos_model, tmp_path):
    out = tmp_path / "report.json"
    png = tmp_path / "confusion.png"
    result = invoke("evaluate", upos_model, "--file", UD_DEV, "--json", out, "--confusion", png, "--top", "6")
    report = json.loads(out.read_text())["report"]["upos"]
    # the numbers, recomputed by hand from the model's predictions and vocabulary
    tagger = Tagger.load(upos_model)
    gold = read_conllu(UD_DEV)
    pred = tagger.predict([s.words for s in gold])
    vocab = tagger.model.vocabs
    flags = [(g == p, vocab.key(w) not in vocab.words) for s, ps in zip(gold, pred)
             for w, g, p in zip(s.words, s.tags["upos"], ps)]
    oov = [ok for ok, unseen in flags if unseen]
    assert report["oov_tokens"] == len(oov) > 0
    assert report["oov_accuracy"] == pytest.approx(sum(oov) / len(oov))
    assert report["accuracy"] == report["token_accuracy"] == pytest.approx(sum(ok for ok, _ in flags) / len(flags))
    gold_flat = [t for s in gold for t in s.tags["upos"]]
    pred_flat = [t for p in pred for t in p]
    for tag in ("NOUN", "VERB", "PUNCT"):
        tp = sum(g == p == tag for g, p in zip(gold_flat, pred_flat))
        assert report["per_tag"][tag]["support"] == gold_flat.count(tag)
        assert report["per_tag"][tag]["precision"] == pytest.approx(tp / pred_flat.count(tag) if pred_flat.count(tag) else 0.0)
        assert report["per_tag"][tag]["recall"] == pytest.approx(tp / gold_flat.count(tag))
    text = result.output
    assert "== upos ==" in text and "OOV accuracy" in text and "precision" in text and "NOUN" in text
    assert f"{100 * report['oov_accuracy']:.2f}  ({len(oov):,} tokens)" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "confusion matrix of upos" in text


def test_evaluate_py_script_is_the_same_command(upos_model):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), str(upos_model), "--file", str(UD_DEV)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "OOV accuracy" in done.stdout and "token accuracy" in done.stdout


def test_predict_conllu_fills_upos_into_the_input(upos_model, tmp_path):
    out = tmp_path / "tagged.conllu"
    invoke("predict", upos_model, "-i", UD_DEV, "-f", "conllu", "-o", out)
    before = UD_DEV.read_text(encoding="utf-8").split("\n")
    after = out.read_text(encoding="utf-8").split("\n")
    assert len(before) == len(after)
    for a, b in zip(before, after):
        if not a or a.startswith("#") or not a.split("\t")[0].isdigit():
            assert a == b  # comments, multiword tokens, empty nodes as they were
        else:
            ca, cb = a.split("\t"), b.split("\t")
            assert ca[:3] + ca[4:] == cb[:3] + cb[4:]
    predicted = read_conllu(out)
    assert [s.tags["upos"] for s in predicted] == Tagger.load(upos_model).predict([s.words for s in predicted])
    # other inputs get fresh CoNLL-U lines; a .conllu input also works with the other output formats
    result = invoke("predict", upos_model, "I don't like soup.", "-f", "conllu")
    assert result.output.startswith("1\tI\t_\t")
    result = invoke("predict", upos_model, "-i", UD_DEV, "-f", "conll")
    assert result.output.split("\n")[0].split("\t")[0] == "The"


def test_field_xpos_renames_the_head(tmp_path):
    invoke("train", "ud", "--train", UD_TRAIN, "--dev", UD_DEV, "--field", "xpos", "-o", tmp_path / "run",
           "--max-epochs", "2", *TINY)
    tagger = Tagger.load(tmp_path / "run")
    assert tagger.tasks == ["xpos"]
    assert {"NN", "VBD", "PRP$"} <= set(tagger.model.vocabs.labels["xpos"].itos)
    assert tagger.model.recipe.data.field == "xpos"
    bad = runner.invoke(app, ["train", "ud", "--train", str(UD_TRAIN), "--dev", str(UD_DEV), "--field", "lemma"])
    assert bad.exit_code == 1 and "unknown --field 'lemma'" in bad.output
    mismatch = runner.invoke(app, ["train", "ud", "--train", str(UD_TRAIN), "--dev", str(UD_DEV),
                                   "--set", "data.field=xpos", "-o", str(tmp_path / "x")])
    assert mismatch.exit_code == 1 and "data.field is 'xpos'" in mismatch.output


def test_ud_recipe_needs_files():
    result = runner.invoke(app, ["train", "ud", "--threads", "1"])
    assert result.exit_code == 1 and "give --train FILE" in result.output


# -- multitask ------------------------------------------------------------------------


def test_multitask_recipe_is_one_encoder_with_three_heads():
    recipe = load_recipe("conll2003-multitask")
    assert [(h.task, h.kind, h.span) for h in recipe.heads] == [("ner", "crf", True), ("pos", "softmax", False),
                                                                  ("chunk", "crf", True)]
    single = {name: load_recipe(name) for name in ("conll2003", "conll2003-pos", "conll2003-chunk")}
    assert [(h.task, h.kind, h.span) for r in single.values() for h in r.heads] == [
        ("ner", "crf", True), ("pos", "softmax", False), ("chunk", "crf", True)]
    for r in single.values():  # the same embeddings and encoder everywhere
        assert (r.embed, r.encoder) == (recipe.embed, recipe.encoder)
    # NER leads: the auxiliary losses count half and NER F1 picks the best epoch
    assert [h.weight for h in recipe.heads] == [1.0, 0.5, 0.5] and recipe.train.monitor == "ner"


def test_multitask_predict_outputs_every_task(multitask_model, monkeypatch):
    tagger = Tagger.load(multitask_model)
    assert tagger.tasks == ["ner", "pos", "chunk"]
    calls = []
    original = type(tagger.model).states
    monkeypatch.setattr(type(tagger.model), "states", lambda self, batch: calls.append(1) or original(self, batch))
    labels = tagger.predict_all([["Anna", "Lindqvist", "visited", "Oslo", "."]])
    assert len(calls) == 1  # one forward pass of the encoder serves all three heads
    assert set(labels[0]) == {"ner", "pos", "chunk"} and all(len(v) == 5 for v in labels[0].values())
    monkeypatch.undo()

    result = invoke("predict", multitask_model, "-i", DEMO / "valid.txt", "--input-format", "conll", "-f", "conll")
    rows = [line.split("\t") for line in result.output.split("\n") if line]
    assert rows and all(len(r) == 4 for r in rows)  # word + one column per task
    gold = [s for s in read_conll2003(DEMO / "valid.txt")]
    assert [r[0] for r in rows] == [w for s in gold for w in s.words]
    result = invoke("predict", multitask_model, "Anna Lindqvist visited Oslo.", "-f", "jsonl")
    record = json.loads(result.output)
    assert {"tokens", "ner", "pos", "chunk", "ner_spans", "chunk_spans"} <= set(record)
    assert len(record["pos"]) == len(record["tokens"]) == 5


def test_multitask_evaluate_reports_every_task(multitask_model, tmp_path):
    out = tmp_path / "report.json"
    result = invoke("evaluate", multitask_model, "--json", out, "--confusion", tmp_path / "c.png")
    for task in ("ner", "pos", "chunk"):
        assert f"== {task} ==" in result.output
        assert (tmp_path / f"c.{task}.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads(out.read_text())["report"]
    assert set(report) == {"ner", "pos", "chunk"}
    assert {"f1", "per_type", "oov_token_accuracy"} <= set(report["ner"]) and "f1" in report["chunk"]
    assert {"per_tag", "oov_accuracy", "confusion"} <= set(report["pos"]) and "f1" not in report["pos"]
    assert "OOV accuracy" in result.output


def test_oov_mask_uses_the_word_keys(multitask_model):
    tagger = Tagger.load(multitask_model)
    from tagger.data import Sentence

    known = next(w for w in tagger.model.vocabs.words.itos[2:])
    mask = oov_mask([Sentence([known, known.upper(), "Zqxv", "1999"])], tagger.model)
    assert mask[0][:3] == [False, False, True]  # keys are lowercased, as the embedding lookup is


# -- the ud-ewt source ---------------------------------------------------------------


def copy_samples(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for ours, theirs in (("train", "train"), ("dev", "dev"), ("test", "test")):
        (folder / f"en_ewt-ud-{theirs}.conllu").write_bytes((UD / f"en_sample-ud-{ours}.conllu").read_bytes())
    return folder


def no_hub(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the hub must not be tried")

    monkeypatch.setattr(sources, "load_from_hub", fail)


def test_ud_ewt_local_places(tmp_path, monkeypatch):
    no_hub(monkeypatch)
    folder = copy_samples(tmp_path / "d")
    corpus = load_source("ud-ewt", folder)
    assert [len(corpus[s]) for s in ("train", "valid", "test")] == [60, 20, 20]
    assert set(corpus["train"][0].tags) == {"upos", "xpos"}
    copy_samples(tmp_path / "env" / "ud-ewt")
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "env"))
    assert len(load_source("ud-ewt", splits=("valid",))["valid"]) == 20
    monkeypatch.delenv("TAGGER_DATA_DIR")
    copy_samples(tmp_path / "cache" / "ud-ewt")
    assert len(load_source("ud-ewt", splits=("test",))["test"]) == 20
    with pytest.raises(TaggerError, match="en_ewt-ud-dev.conllu") as info:
        load_source("ud-ewt", tmp_path / "empty")  # an explicit folder is final
    assert "\n" not in str(info.value)


def test_train_ud_ewt_recipe_from_a_data_dir(tmp_path):
    copy_samples(tmp_path / "data" / "ud-ewt")
    invoke("train", "ud-ewt", "--data-dir", tmp_path / "data", "--field", "xpos", "-o", tmp_path / "run",
           "--max-epochs", "1", *TINY)
    assert Tagger.load(tmp_path / "run").tasks == ["xpos"]
    result = invoke("evaluate", tmp_path / "run", "--data-dir", tmp_path / "data", "--split", "test")
    assert "== xpos ==" in result.output and "OOV accuracy" in result.output


UPOS_NAMES = ["NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET", "CCONJ", "PROPN", "PRON", "X",
              "_", "ADV", "INTJ", "VERB", "AUX"]


def make_hf_ud_repo(root: Path) -> Path:
    """A copy laid out like the hub's parquet export of universal_dependencies: one folder
    per treebank, one per split, every CoNLL-U line a row (multiword tokens and empty
    nodes included, with head 'None'), UPOS a ClassLabel, XPOS strings."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    features = Features({
        "idx": Value("string"), "text": Value("string"), "tokens": Sequence(Value("string")),
        "lemmas": Sequence(Value("string")), "upos": Sequence(ClassLabel(names=UPOS_NAMES)),
        "xpos": Sequence(Value("string")), "feats": Sequence(Value("string")), "head": Sequence(Value("string")),
        "deprel": Sequence(Value("string")), "deps": Sequence(Value("string")), "misc": Sequence(Value("string")),
    })
    # (form, upos, xpos, head) per line
    rows = {
        "train": [
            ("en-train-1", "I don't know.", [("I", "PRON", "PRP", "3"), ("don't", "_", None, "None"),
                                             ("do", "AUX", "VBP", "3"), ("n't", "PART", "RB", "3"),
                                             ("know", "VERB", "VB", "0"), (".", "PUNCT", ".", "3")]),
            ("en-train-2", "Mia ordered tea and Leo coffee", [("Mia", "PROPN", "NNP", "2"), ("ordered", "VERB", "VBD", "0"),
                                                      ("tea", "NOUN", "NN", "2"), ("and", "CCONJ", "CC", "5"),
                                                      ("Leo", "PROPN", "NNP", "2"), ("ordered", "VERB", "VBD", "None"),
                                                      ("coffee", "NOUN", "NN", "5")]),
        ],
        "validation": [("en-dev-1", "Hi!", [("Hi", "INTJ", "UH", "0"), ("!", "PUNCT", ".", "1")])],
        "test": [("en-test-1", "Go home", [("Go", "VERB", "VB", "0"), ("home", "ADV", "RB", "1")])],
    }
    for treebank in ("en_ewt", "fr_gsd"):
        for split, sents in rows.items():
            table = {k: [] for k in features}
            for idx, text, lines in sents:
                forms = [f if treebank == "en_ewt" else f.upper() for f, _, _, _ in lines]
                table["idx"].append(idx)
                table["text"].append(text)
                table["tokens"].append(forms)
                table["lemmas"].append(forms)
                table["upos"].append([UPOS_NAMES.index(u) for _, u, _, _ in lines])
                table["xpos"].append([x for _, _, x, _ in lines])
                table["head"].append([h for _, _, _, h in lines])
                for col in ("feats", "deprel", "deps", "misc"):
                    table[col].append(["None"] * len(lines))
            folder = root / treebank / split
            folder.mkdir(parents=True)
            Dataset.from_dict(table, features=features).to_parquet(str(folder / "0000.parquet"))
    return root


def test_ud_ewt_hub_path_through_datasets(tmp_path, monkeypatch, hf_offline):
    repo = make_hf_ud_repo(tmp_path / "repo")
    monkeypatch.setattr(sources, "UD_EWT_HUB_CANDIDATES",
                        ((str(tmp_path / "missing"), {"data_dir": "en_ewt"}), (str(repo), {"data_dir": "en_ewt"})))
    corpus = load_source("ud-ewt")
    assert list(corpus) == ["train", "valid", "test"]
    first, second = corpus["train"]
    assert first.words == ["I", "do", "n't", "know", "."]  # the multiword token row is dropped
    assert first.tags == {"upos": ["PRON", "AUX", "PART", "VERB", "PUNCT"], "xpos": ["PRP", "VBP", "RB", "VB", "."]}
    assert first.meta == {"sent_id": "en-train-1", "text": "I don't know."}
    assert second.words == ["Mia", "ordered", "tea", "and", "Leo", "coffee"]  # the empty node is dropped
    assert corpus["valid"][0].words == ["Hi", "!"]  # en_ewt, not the other treebank

    # cached as CoNLL-U; the next run is local and gives the same words and tags
    cached = tmp_path / "cache" / "ud-ewt"
    assert sorted(p.name for p in cached.iterdir()) == ["en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu",
                                                        "en_ewt-ud-train.conllu"]
    no_hub(monkeypatch)
    again = load_source("ud-ewt")
    assert [[(s.words, s.tags, s.meta["sent_id"]) for s in again[k]] for k in again] == \
           [[(s.words, s.tags, s.meta["sent_id"]) for s in corpus[k]] for k in corpus]


def test_sentences_from_hf_ud_without_a_head_column(tmp_path, hf_offline):
    repo = make_hf_ud_repo(tmp_path / "repo")
    split = hf_offline.load_dataset(str(repo), data_dir="en_ewt")["train"].remove_columns(["head"])
    first = sentences_from_hf_ud(split)[0]
    assert first.words == ["I", "do", "n't", "know", "."]  # UPOS "_" marks the multiword token


def test_ud_ewt_real_hub_ids_fail_fast_offline(hf_offline):
    start = time.perf_counter()
    with pytest.raises(TaggerError) as info:
        load_source("ud-ewt")
    assert time.perf_counter() - start < 30
    message = str(info.value)
    assert "universal-dependencies/universal_dependencies" in message and "offline" in message
    assert "en_ewt-ud-train.conllu" in message and "TAGGER_DATA_DIR" in message and "\n" not in message
