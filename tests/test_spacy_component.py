"""The spaCy component, on a real blank English pipeline with a small model trained on data/demo."""
from __future__ import annotations

import copy
import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import torch
from spacy.tokens import Doc, Span
from spacy.training import Example
from typer.testing import CliRunner

from tagger import Tagger, TaggerError
from tagger.batching import build_vocabs
from tagger.cli import app
from tagger.config import HeadConfig, load_recipe
from tagger.io.conll import read_conll2003
from tagger.io.spacy_docbin import read_docbin, write_docbin
from tagger.metrics import span_report
from tagger.model import SequenceTagger
from tagger.schemes import spans
from tagger.sources import demo_dir
from tagger.spacy_component import UPOS, BilstmTaggerComponent, looks_upos
from tagger.train import train

runner = CliRunner()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("spacy_demo_run")
    train(load_recipe("demo", ["encoder.hidden=32", "train.max_epochs=8", "train.threads=1"]), out)
    return out / "best"


@pytest.fixture(scope="session")
def gold():
    return read_conll2003(demo_dir() / "valid.txt")


@pytest.fixture
def nlp(model_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir)})
    return nlp


def ents(doc: Doc) -> list[tuple[str, int, int]]:
    return [(e.label_, e.start, e.end) for e in doc.ents]


def texts(gold) -> list[str]:
    return [" ".join(s.words) for s in gold]


# -- registration -----------------------------------------------------------


def test_factory_is_registered_through_the_entry_point():
    names = [ep.name for ep in importlib.metadata.entry_points(group="spacy_factories")]
    assert "bilstm_tagger" in names
    spacy.blank("en")  # a Language loads the spacy_factories entry points
    assert "bilstm_tagger" in spacy.registry.factories
    meta = spacy.Language.get_factory_meta("bilstm_tagger")
    assert "doc.ents" in meta.assigns and meta.default_score_weights["ents_f"] == 1.0


def test_add_pipe_works_without_importing_tagger(model_dir):
    text = "Anna Lindqvist visited Oslo on Monday ."
    script = (
        "import json, spacy\n"
        "nlp = spacy.blank('en')\n"
        f"nlp.add_pipe('bilstm_tagger', config={{'model': {str(model_dir)!r}}})\n"
        f"doc = nlp({text!r})\n"
        "print(json.dumps([[e.label_, e.start, e.end] for e in doc.ents]))\n"
    )
    assert "tagger" not in script.replace("bilstm_tagger", "")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = spans(Tagger.load(model_dir).predict([text.split()])[0])
    assert [tuple(e) for e in json.loads(done.stdout)] == expected


# -- tagging ------------------------------------------------------------------


def expected_ents(component, doc, tagger) -> list[tuple[str, int, int]]:
    """The tagger's spans on the words the component gives it, as Doc token spans."""
    found = []
    for first, last, words in component._units(doc):
        for label, s, e in spans(tagger.predict([words])[0]):
            found.append((label, first[s], last[e - 1] + 1))
    return found


def test_ents_are_the_taggers_spans_on_the_docs_tokens(nlp, model_dir, gold):
    tagger = Tagger.load(model_dir)
    component = nlp.get_pipe("bilstm_tagger")
    docs = [nlp(text) for text in texts(gold)]
    assert [ents(doc) for doc in docs] == [expected_ents(component, doc, tagger) for doc in docs]
    assert any(doc.ents for doc in docs)
    # A Doc with the gold tokens gets exactly the tagger's spans on the gold tokens.
    for sentence in gold:
        doc = nlp(Doc(nlp.vocab, words=sentence.words))
        assert ents(doc) == spans(tagger.predict([sentence.words])[0])
    assert set(component.labels) == {"LOC", "MISC", "ORG", "PER"}


def test_hyphenated_words_are_read_whole(model_dir):
    text = "Anna Lindqvist-Berg left ex-Oslo club Marrow on 1996-08-30 , a well - known case ."
    tagger = Tagger.load(model_dir)
    for join in (True, False):
        nlp = spacy.blank("en")
        component = nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir), "join_hyphens": join})
        doc = nlp(text)
        words = component.model_words(doc)
        if join:
            assert words == [text.split()]
        else:
            assert words == [[t.text for t in doc]] and "Lindqvist-Berg" not in words[0]
        assert ents(doc) == expected_ents(component, doc, tagger)
        if join:
            for ent in doc.ents:  # entities start and end on the text's words
                assert ent.start_char == 0 or text[ent.start_char - 1] == " "
                assert ent.end_char == len(text) or text[ent.end_char] == " "


def test_pipe_equals_one_doc_at_a_time(nlp, gold):
    inputs = texts(gold) + ["", "   ", "Oslo\n\nand  Lyon .", "x"]
    one_by_one = [ents(nlp(t)) for t in inputs]
    for batch_size in (1, 3, 1000):
        assert [ents(d) for d in nlp.pipe(inputs, batch_size=batch_size)] == one_by_one


def test_whitespace_tokens_are_not_shown_to_the_model(nlp, model_dir):
    tagger = Tagger.load(model_dir)
    doc = nlp("Anna  Lindqvist\n\nvisited Oslo\n on Monday .")
    words = [t for t in doc if not t.is_space]
    assert len(words) < len(doc)
    assert nlp.get_pipe("bilstm_tagger").model_words(doc) == [[t.text for t in words]]
    predicted = spans(tagger.predict([[t.text for t in words]])[0])
    assert ents(doc) == [(label, words[s].i, words[e - 1].i + 1) for label, s, e in predicted]
    for ent in doc.ents:
        assert not ent[0].is_space and not ent[-1].is_space


def test_sentences_are_tagged_one_by_one_when_the_doc_has_them(model_dir, gold):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir)})
    first, second = [s.words for s in gold if s.words[-1] == "."][:2]
    doc = nlp(" ".join(first + second))
    tagger = Tagger.load(model_dir)
    component = nlp.get_pipe("bilstm_tagger")
    sents = list(doc.sents)
    assert len(sents) >= 2 and len(component.model_words(doc)) == len(sents)
    expected = []
    for sent in sents:
        expected += [(label, sent.start + s, sent.start + e) for label, s, e in
                     expected_ents(component, sent.as_doc(), tagger)]
    assert ents(doc) == expected


def test_fill_keeps_earlier_entities_and_overwrite_replaces_them(model_dir, gold):
    probe = spacy.blank("en")
    probe.add_pipe("bilstm_tagger", config={"model": str(model_dir)})
    text = next(t for t in texts(gold) if len(probe(t).ents) >= 2)
    predicted = probe(text).ents
    first, rest = predicted[0], [(e.label_, e.start, e.end) for e in predicted[1:]]
    outside = next(t for t in probe(text) if not t.ent_type_)
    patterns = [
        {"label": "RULE", "pattern": [{"ORTH": first[0].text}]},  # overlaps the first predicted entity
        {"label": "RULE", "pattern": [{"ORTH": outside.text}]},  # overlaps none
    ]
    modes = {}
    for mode in ("fill", "overwrite"):
        nlp = spacy.blank("en")
        nlp.add_pipe("entity_ruler").add_patterns(patterns)
        nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir), "ents_mode": mode})
        modes[mode] = nlp(text)
    assert ents(modes["overwrite"]) == ents(probe(text))
    filled = ents(modes["fill"])
    rules = [e for e in filled if e[0] == "RULE"]
    assert ("RULE", first[0].i, first[0].i + 1) in rules
    assert ("RULE", outside.i, outside.i + 1) in rules
    assert (first.label_, first.start, first.end) not in filled
    ruled = {i for _, s, e in rules for i in range(s, e)}
    assert [e for e in filled if e[0] != "RULE"] == [e for e in rest if not ruled & set(range(e[1], e[2]))]
    assert all(t.ent_iob_ in ("B", "I", "O") for t in modes["fill"])


def test_bad_options_and_a_missing_model_are_errors(model_dir, tmp_path):
    nlp = spacy.blank("en")
    with pytest.raises(TaggerError, match="ents_mode"):
        nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir), "ents_mode": "merge"})
    nlp.add_pipe("bilstm_tagger", name="empty")
    with pytest.raises(TaggerError, match="has no model"):
        nlp("Oslo")
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(tmp_path / "nowhere")})
    with pytest.raises(TaggerError, match="nowhere"):
        nlp("Oslo")


# -- multitask models --------------------------------------------------------


def untrained(heads: list[HeadConfig], gold) -> SequenceTagger:
    """A random model with these heads: enough to see where each head's labels go."""
    recipe = load_recipe("demo", ["encoder.hidden=16"])
    recipe.heads = heads
    torch.manual_seed(0)
    return SequenceTagger(recipe, build_vocabs(gold, heads, recipe.embed)).eval()


def test_token_heads_write_tag_or_pos(gold):
    gold = copy.deepcopy(gold)
    for sent in gold:  # a UPOS task made up from the PTB tags, for the UPOS path
        sent.tags["upos"] = ["PROPN" if t.startswith("NNP") else "NOUN" if t.startswith("NN") else "X"
                             for t in sent.tags["pos"]]
    heads = [HeadConfig("ner", "crf", True), HeadConfig("pos", "softmax", False), HeadConfig("upos", "softmax", False),
             HeadConfig("chunk", "softmax", True)]
    model = untrained(heads, gold)
    assert not looks_upos(model.vocabs.labels["pos"].itos) and looks_upos(model.vocabs.labels["upos"].itos)
    words = gold[1].words
    expected = Tagger(model).predict_all([words])[0]
    nlp = spacy.blank("en")
    component = nlp.add_pipe("bilstm_tagger")
    component._use(model)
    doc = nlp(Doc(nlp.vocab, words=words))
    assert [t.tag_ for t in doc] == expected["pos"]
    assert [t.pos_ for t in doc] == expected["upos"] and set(expected["upos"]) <= UPOS
    assert ents(doc) == spans(expected["ner"])
    assert [(g.label_, g.start, g.end) for g in doc.spans["chunk"]] == spans(expected["chunk"])
    # Override: keep the PTB head out of the Doc.
    nlp = spacy.blank("en")
    component = nlp.add_pipe("bilstm_tagger", config={"token_attrs": {"pos": "none"}})
    component._use(model)
    doc = nlp(Doc(nlp.vocab, words=words))
    assert [t.tag_ for t in doc] == [""] * len(words)
    # tag_acc and pos_acc come with the token heads.
    reference = Doc(nlp.vocab, words=words, tags=gold[1].tags["pos"], pos=gold[1].tags["upos"])
    scores = component.score([Example(doc, reference)])
    assert {"pos_acc", "ents_f", "spans_chunk_f"} <= set(scores) and "tag_acc" not in scores


# -- evaluation --------------------------------------------------------------


def gold_doc(nlp, sentence) -> Doc:
    doc = Doc(nlp.vocab, words=sentence.words)
    doc.set_ents([Span(doc, s, e, label=t) for t, s, e in spans(sentence.tags["ner"])], default="outside")
    return doc


def test_evaluate_gives_the_taggers_seqeval_f1(nlp, model_dir, gold):
    examples = [Example(Doc(nlp.vocab, words=s.words), gold_doc(nlp, s)) for s in gold]
    scores = nlp.evaluate(examples)
    tagger = Tagger.load(model_dir)
    report = span_report([s.tags["ner"] for s in gold], tagger.predict([s.words for s in gold]))
    assert report["f1"] > 0
    assert scores["ents_f"] == pytest.approx(report["f1"], abs=1e-9)
    assert scores["ents_p"] == pytest.approx(report["precision"], abs=1e-9)
    assert scores["ents_r"] == pytest.approx(report["recall"], abs=1e-9)
    assert tagger.evaluate(gold)["ner"]["f1"] == pytest.approx(report["f1"], abs=1e-9)
    for label, row in report["per_type"].items():
        assert scores["ents_per_type"][label]["f"] == pytest.approx(row["f1"], abs=1e-9)


# -- serialization -----------------------------------------------------------


def test_to_disk_and_spacy_load_without_the_original_model(model_dir, gold, tmp_path):
    copy = shutil.copytree(model_dir, tmp_path / "model")
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(copy), "ents_mode": "fill"})
    before = [ents(d) for d in nlp.pipe(texts(gold))]
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(copy)
    saved = tmp_path / "pipeline" / "bilstm_tagger"
    assert {p.name for p in saved.iterdir()} == {"config.json", "vocab.json", "model.safetensors"}
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["bilstm_tagger"]
    assert loaded.get_pipe("bilstm_tagger").ents_mode == "fill"
    assert [ents(d) for d in loaded.pipe(texts(gold))] == before


@pytest.mark.parametrize("quantize", ["int8", "bf16"])
def test_quantize_tags_as_the_quantized_tagger_and_saves_fp32_weights(model_dir, gold, tmp_path, quantize):
    nlp = spacy.blank("en")
    component = nlp.add_pipe("bilstm_tagger", config={"model": str(model_dir), "quantize": quantize})
    quantized = Tagger.load(model_dir, quantize=quantize)
    docs = [Doc(nlp.vocab, words=s.words) for s in gold]
    assert [ents(nlp(doc)) for doc in docs] == [spans(tags) for tags in quantized.predict([s.words for s in gold])]
    rnn = component.model.encoder.rnn
    if quantize == "int8":
        assert ".quantized." in type(rnn).__module__
    else:
        assert next(rnn.parameters()).dtype == torch.bfloat16
    # Saved: the fp32 weights the component was given, and the setting, which quantizes again at load.
    nlp.to_disk(tmp_path / "pipeline")
    fp32 = Tagger.load(tmp_path / "pipeline" / "bilstm_tagger").model.state_dict()
    assert all(torch.equal(value, fp32[key]) for key, value in Tagger.load(model_dir).model.state_dict().items())
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("bilstm_tagger").quantize == quantize
    assert type(loaded.get_pipe("bilstm_tagger").model.encoder.rnn) is type(rnn)
    assert [ents(loaded(Doc(loaded.vocab, words=s.words))) for s in gold] == [ents(doc) for doc in docs]
    again = spacy.blank("en")
    again.add_pipe("bilstm_tagger", config={"quantize": quantize}).from_bytes(component.to_bytes())
    assert [ents(again(Doc(again.vocab, words=s.words))) for s in gold] == [ents(doc) for doc in docs]


def test_quantize_must_be_a_known_kind(model_dir):
    with pytest.raises(TaggerError, match="quantize must be one of int8, bf16 .or null., got 'int4'"):
        spacy.blank("en").add_pipe("bilstm_tagger", config={"model": str(model_dir), "quantize": "int4"})


def test_from_disk_refuses_a_link_out_of_the_folder(nlp, tmp_path):
    nlp.to_disk(tmp_path / "pipeline")
    weights = tmp_path / "pipeline" / "bilstm_tagger" / "model.safetensors"
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(weights, outside)
    weights.symlink_to(outside)
    with pytest.raises(TaggerError, match="outside"):
        spacy.load(tmp_path / "pipeline")


def test_to_bytes_and_from_bytes(nlp, gold):
    data = nlp.to_bytes()
    fresh = spacy.blank("en")
    fresh.add_pipe("bilstm_tagger")  # no model until from_bytes
    fresh.from_bytes(data)
    assert [ents(d) for d in fresh.pipe(texts(gold))] == [ents(d) for d in nlp.pipe(texts(gold))]
    component = BilstmTaggerComponent().from_bytes(nlp.get_pipe("bilstm_tagger").to_bytes())
    assert component.labels == nlp.get_pipe("bilstm_tagger").labels
    with pytest.raises(TaggerError, match="not a serialized"):
        BilstmTaggerComponent().from_bytes(b"\x00garbage")


# -- spaCy training data and displaCy ---------------------------------------


def test_docbin_round_trip_and_errors(gold, tmp_path):
    heads = [HeadConfig("ner", "crf", True), HeadConfig("pos", "softmax", False)]
    path = write_docbin(gold, tmp_path / "valid.spacy")
    back = read_docbin(path, heads)
    assert [(s.words, s.tags["ner"], s.tags["pos"]) for s in back] == [
        (s.words, s.tags["ner"], s.tags["pos"]) for s in gold
    ]
    with pytest.raises(TaggerError, match="valid.spacy.*token task 'chunk'"):
        read_docbin(path, [HeadConfig("chunk", "softmax", False)])
    (tmp_path / "bad.spacy").write_bytes(b"not a docbin")
    with pytest.raises(TaggerError, match="bad.spacy.*not a spaCy DocBin"):
        read_docbin(tmp_path / "bad.spacy", heads)
    with pytest.raises(TaggerError, match="missing.spacy"):
        read_docbin(tmp_path / "missing.spacy", heads)


def test_docbin_reader_splits_sentences_and_drops_spaces(tmp_path):
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp("Anna Lindqvist left Oslo.\n\nShe met Marrow Pharmaceuticals.")
    doc.set_ents([Span(doc, 0, 2, "PER"), Span(doc, 3, 4, "LOC"), Span(doc, 8, 10, "ORG")], default="outside")
    DocBin(docs=[doc]).to_disk(tmp_path / "two.spacy")
    sents = read_docbin(tmp_path / "two.spacy", [HeadConfig()])
    assert [s.words for s in sents] == [["Anna", "Lindqvist", "left", "Oslo", "."],
                                        ["She", "met", "Marrow", "Pharmaceuticals", "."]]
    assert [spans(s.tags["ner"]) for s in sents] == [[("PER", 0, 2), ("LOC", 3, 4)], [("ORG", 2, 4)]]
    no_ents = nlp("Nothing here .")
    DocBin(docs=[no_ents]).to_disk(tmp_path / "none.spacy")
    with pytest.raises(TaggerError, match="none.spacy: document 1 has neither entities"):
        read_docbin(tmp_path / "none.spacy", [HeadConfig()])


def test_docbin_reader_reads_cats_for_classification_heads(tmp_path):
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    liked, hated, both = nlp("Great film. Loved it."), nlp("Awful ."), nlp("Odd .")
    liked.cats, hated.cats, both.cats = {"POS": 1.0, "NEG": 0.0}, {"POS": 0.0, "NEG": 1.0}, {"POS": 1.0, "NEG": 1.0}
    DocBin(docs=[liked, hated], store_user_data=True).to_disk(tmp_path / "cats.spacy")
    head = HeadConfig("sentiment", "classify", False)
    sents = read_docbin(tmp_path / "cats.spacy", [head])
    assert [(s.words, s.cats) for s in sents] == [
        (["Great", "film", ".", "Loved", "it", "."], {"sentiment": ["POS"]}),  # one Doc, one text: not split
        (["Awful", "."], {"sentiment": ["NEG"]}),
    ]
    DocBin(docs=[both]).to_disk(tmp_path / "both.spacy")
    with pytest.raises(TaggerError, match="both.spacy: document 1 has 2 categories"):
        read_docbin(tmp_path / "both.spacy", [head])
    head.multi_label = True
    assert read_docbin(tmp_path / "both.spacy", [head])[0].cats == {"sentiment": ["NEG", "POS"]}


def test_train_reads_spacy_files(gold, tmp_path):
    train_file = write_docbin(read_conll2003(demo_dir() / "train.txt")[:40], tmp_path / "train.spacy")
    dev_file = write_docbin(gold, tmp_path / "dev.spacy")
    result = runner.invoke(app, [
        "train", "demo", "--train", str(train_file), "--dev", str(dev_file), "--format", "spacy",
        "--max-epochs", "1", "--threads", "1", "--set", "encoder.hidden=16", "-o", str(tmp_path / "run"),
    ])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["recipe"]["data"]["format"] == "spacy"
    result = runner.invoke(app, ["train", "demo", "--train", str(tmp_path / "nope.spacy"), "--dev", str(dev_file),
                                 "--format", "spacy", "-o", str(tmp_path / "run2")])
    assert result.exit_code == 1 and "nope.spacy" in result.output


def test_predict_writes_a_displacy_page(model_dir, tmp_path):
    page = tmp_path / "page.html"
    result = runner.invoke(app, ["predict", str(model_dir), "Anna Lindqvist visited Oslo .",
                                 "Marrow Pharmaceuticals <b> hired Viktor Tanaka .", "--format", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    tagger = Tagger.load(model_dir)
    predicted = tagger.predict(["Anna Lindqvist visited Oslo .", "Marrow Pharmaceuticals <b> hired Viktor Tanaka ."])
    labels = [label for tags in predicted for label, _, _ in spans(tags)]
    assert labels and html.count('<mark class="entity"') == len(labels)
    for label in set(labels):
        assert f">{label}</span>" in html
    assert "&lt;" in html and "<b>" not in html  # text is escaped


def test_pipe_with_several_processes(model_dir, gold, tmp_path):
    # A forked worker must not hang in PyTorch's thread pool, and must give the same entities.
    script = tmp_path / "mp.py"
    script.write_text(
        "import json, sys, spacy\n"
        "if __name__ == '__main__':\n"
        "    nlp = spacy.blank('en')\n"
        f"    nlp.add_pipe('bilstm_tagger', config={{'model': {str(model_dir)!r}}})\n"
        "    texts = json.loads(sys.stdin.read())\n"
        "    one = [[(e.label_, e.start, e.end) for e in d.ents] for d in nlp.pipe(texts)]\n"
        "    two = [[(e.label_, e.start, e.end) for e in d.ents] for d in nlp.pipe(texts, n_process=2, batch_size=8)]\n"
        "    print(one == two, sum(map(len, one)))\n"
    )
    done = subprocess.run([sys.executable, str(script)], input=json.dumps(texts(gold)), capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    same, count = done.stdout.split()
    assert same == "True" and int(count) > 0


def test_classifier_writes_doc_cats_and_spacy_scores_them(tmp_path):
    from tagger.metrics import classification_report
    from tagger.sources import load_source

    out = tmp_path / "cls"
    train(load_recipe("sentiment-demo", ["train.max_epochs=4", "train.threads=1"]), out)
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": str(out / "best")})
    dev = load_source("sentiment-demo", None, ("valid",))["valid"]
    docs = list(nlp.pipe(" ".join(s.words) for s in dev))
    for doc in docs:
        assert set(doc.cats) == {"negative", "positive"} and sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)
    examples = []
    for sent, doc in zip(dev, docs):
        reference = Doc(nlp.vocab, words=[t.text for t in doc])
        reference.cats = {label: float(label in sent.cats["sentiment"]) for label in ("negative", "positive")}
        examples.append(Example(doc, reference))
    scores = nlp.get_pipe("bilstm_tagger").score(examples)
    predicted = [max(doc.cats, key=doc.cats.get) for doc in docs]
    ours = classification_report([s.cats["sentiment"][0] for s in dev], predicted)
    assert scores["cats_macro_f"] == pytest.approx(ours["macro_f1"], abs=1e-9)


# -- the life cycle under every hash seed -------------------------------------

LIFE_CYCLE = """
import shutil, sys, json
from pathlib import Path
import spacy
model, work = Path(sys.argv[1]), Path(sys.argv[2])
empty = spacy.blank("en")
empty.add_pipe("bilstm_tagger")  # no model yet: spaCy probes it with hasattr
assert not hasattr(empty.get_pipe("bilstm_tagger"), "model")
copy = shutil.copytree(model, work / "model")
nlp = spacy.blank("en")
nlp.add_pipe("bilstm_tagger", config={"model": str(copy)})
before = [[e.label_, e.start, e.end] for e in nlp("Anna Lindqvist visited Oslo .").ents]
nlp.to_disk(work / "pipeline")
shutil.rmtree(copy)
loaded = spacy.load(work / "pipeline")
after = [[[e.label_, e.start, e.end] for e in d.ents] for d in loaded.pipe(["Anna Lindqvist visited Oslo ."] * 2)]
print(json.dumps([before] * 2 == after))
"""


def test_life_cycle_passes_under_twenty_hash_seeds(model_dir, tmp_path):
    """spaCy links components through set iteration, so what it probes first depends
    on PYTHONHASHSEED: each seed is its own process (two at a time, for two cores)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    def run(seed: int) -> tuple[int, subprocess.CompletedProcess]:
        work = tmp_path / f"seed{seed}"
        work.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": str(seed), "OMP_NUM_THREADS": "1"}
        return seed, subprocess.run(
            [sys.executable, "-c", LIFE_CYCLE, str(model_dir), str(work)],
            capture_output=True, text=True, timeout=300, env=env,
        )

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, range(20)))
    failed = {seed: done.stderr.strip().splitlines()[-1:] for seed, done in results if done.returncode != 0}
    assert not failed, failed
    assert all(done.stdout.strip() == "true" for _, done in results)
