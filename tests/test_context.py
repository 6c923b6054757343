"""Document context (FLERT-style): documents from -DOCSTART- markers (one per file
without them), each sentence encoded with its neighbours' words while only its own
words are scored and tagged, the option stored in the model, and every way in
(evaluate, predict --input, the spaCy component) passing documents on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import tagger
from tagger.batching import Context, build_vocabs, collate, contexts, encode, encode_all
from tagger.chunked import chunked
from tagger.cli import app
from tagger.config import load_recipe
from tagger.data import DocWords, Sentence, document_spans
from tagger.errors import TaggerError
from tagger.io.conll import read_columns, read_conll2003
from tagger.model import SequenceTagger, own_states
from tagger.outputs import InputFormat, read_input
from tagger.predict import Tagger, decode_corpus
from tagger.recipe_check import check_recipe
from tagger.sources import demo_dir
from tagger.train import train

runner = CliRunner()
TINY = ["embed.word_dim=16", "embed.casing_dim=4", "embed.char_dim=8", "embed.char_hidden=16",
        "encoder.hidden=32", "train.threads=1"]

TWO_DOCS = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""


def test_docstart_lines_number_the_documents(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text(TWO_DOCS)
    sentences = read_conll2003(path)
    assert [s.doc for s in sentences] == [1, 1, 2]
    assert document_spans([s.doc for s in sentences]) == [(0, 2), (2, 3)]


def test_a_column_file_without_markers_is_one_document(tmp_path):
    path = tmp_path / "wnut.tsv"  # WNUT-17 style: word<TAB>tag, no -DOCSTART-
    path.write_text("@paul\tO\nlikes\tO\n\nNew\tB-location\nYork\tI-location\n\nok\tO\n")
    sentences = read_columns(path, columns={"ner": -1})
    assert [s.doc for s in sentences] == [0, 0, 0]
    assert document_spans([s.doc for s in sentences]) == [(0, 3)]
    # No key at all (a sentence from a list, a text classification line): a document of its own.
    assert document_spans([None, None, 5, 5]) == [(0, 1), (1, 2), (2, 4)]


def test_a_sentence_gets_only_the_context_its_document_has():
    words = [["a", "b"], ["c"], ["d", "e", "f"], ["g"]]
    got = contexts([1, 1, 1, 2], words, tokens=2)
    assert got[0] == Context(left=[], right=["c", "d"])  # first of its document: nothing to the left
    assert got[1] == Context(left=["a", "b"], right=["d", "e"])
    assert got[2] == Context(left=["b", "c"], right=[])  # last of its document: nothing to the right
    assert got[3] == Context()  # alone in its document
    # The char LMs may read further: one more word, or (-1) the whole document.
    assert contexts([1, 1, 1], words[:3], tokens=1, lm_tokens=1)[1] == Context(["b"], ["d"], ["a"], ["e"])
    assert contexts([1, 1, 1], words[:3], tokens=0, lm_tokens=-1)[2] == Context([], [], ["a", "b", "c"], [])


def tiny_context_tagger(context_tokens: int = 3) -> Tagger:
    recipe = load_recipe("demo", ["embed.word_dim=8", "embed.char_dim=4", "embed.char_hidden=4", "encoder.hidden=8",
                                  "embed.dropout=0.0", "encoder.dropout=0.0", f"data.context_tokens={context_tokens}"])
    train_set = read_conll2003(demo_dir() / "train.txt")
    vocabs = build_vocabs(train_set, recipe.heads, recipe.embed, [read_conll2003(demo_dir() / "valid.txt")])
    torch.manual_seed(0)
    return Tagger(SequenceTagger(recipe, vocabs).eval())


DOC = [Sentence(["EU", "rejects", "it"], tags={"ner": ["B-ORG", "O", "O"]}, doc=0),
       Sentence(["Berlin"], tags={"ner": ["B-LOC"]}, doc=0),
       Sentence(["Good", "news", "Berlin", "EU"], tags={"ner": ["O", "O", "B-LOC", "B-ORG"]}, doc=0)]


def test_context_words_are_read_but_only_own_words_are_labelled():
    model = tiny_context_tagger(3).model
    encoded = encode_all(DOC, model.vocabs, context_tokens=3)
    assert [(len(e), e.offset, e.own) for e in encoded] == [(6, 0, 3), (7, 3, 1), (7, 3, 4)]
    assert [len(e.labels["ner"]) for e in encoded] == [3, 1, 4]
    batch = collate(encoded, [0, 1, 2])
    assert batch.offsets.tolist() == [0, 3, 3] and batch.out_lengths.tolist() == [3, 1, 4]
    decoded = decode_corpus(model, encoded)
    assert [len(d["ner"]) for d in decoded] == [3, 1, 4]
    assert torch.isfinite(model.loss(batch))
    # A sentence's states are those of its context-extended word sequence, encoded alone, at its own words.
    whole = encode(["EU", "rejects", "it", "Berlin", "Good", "news", "Berlin"], model.vocabs, with_labels=False)
    with torch.inference_mode():
        alone = model.encoder(model.embedder(*_inputs(collate([whole], [0]))), torch.tensor([7]))
        in_context = model.states(collate([encoded[1]], [0]))
    assert torch.equal(in_context[0, 0], alone[0, 3])


def _inputs(batch):
    return batch.words, batch.casing, batch.chars, batch.mask, batch.lm, batch.lm_feats


def test_own_states_picks_each_rows_own_words():
    states = torch.arange(2 * 5, dtype=torch.float)[None, :].reshape(2, 5, 1)
    mask = torch.tensor([[True, True], [True, False]])
    picked = own_states(states, torch.tensor([1, 3]), mask)
    assert picked[:, :, 0].tolist() == [[1.0, 2.0], [8.0, 0.0]]


def test_context_zero_is_the_path_without_context():
    tagger_ = tiny_context_tagger(0)
    model = tagger_.model
    sentences = read_conll2003(demo_dir() / "valid.txt")
    assert len({s.doc for s in sentences}) > 1
    old = [encode(s, model.vocabs) for s in sentences]
    new = encode_all(sentences, model.vocabs, context_tokens=0)
    assert all(e.own is None and torch.equal(e.words, o.words) and torch.equal(e.chars, o.chars) for e, o in zip(new, old))
    batch_old, batch_new = collate(old, list(range(len(old)))), collate(new, list(range(len(new))))
    assert batch_new.offsets is None and batch_new.head_mask is batch_new.mask
    assert torch.equal(model.loss(batch_old), model.loss(batch_new))
    assert decode_corpus(model, new) == decode_corpus(model, old) == tagger_.predict_all([s.words for s in sentences])


def test_a_context_model_with_lone_sentences_matches_the_plain_path_exactly():
    model = tiny_context_tagger(5).model
    lone = [Sentence(s.words, s.tags) for s in DOC]  # no document: no context words
    in_context = encode_all(lone, model.vocabs, context_tokens=5)
    assert all(e.offset == 0 and e.own == len(e) for e in in_context)
    plain = [encode(s, model.vocabs) for s in lone]
    with_offsets, without = collate(in_context, [0, 1, 2]), collate(plain, [0, 1, 2])
    assert with_offsets.offsets is not None and without.offsets is None
    assert torch.equal(model.loss(with_offsets), model.loss(without))


def test_context_tokens_must_not_be_negative():
    with pytest.raises(TaggerError, match="context_tokens"):
        check_recipe(load_recipe("demo", ["data.context_tokens=-1"]))
    with pytest.raises(TaggerError, match="charlm_context"):
        check_recipe(load_recipe("demo", ["embed.charlm_context=-2"]))


TRAINED: dict[str, float] = {}


@pytest.fixture(scope="module")
def context_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("context_run")
    recipe = load_recipe("demo", TINY + ["train.max_epochs=8", "data.context_tokens=16"])
    result = train(recipe, out)
    TRAINED["best"] = result.best_score
    return out / "best"


def test_training_with_context_learns_and_round_trips(context_model):
    assert TRAINED["best"] > 0.3  # it learns: an untrained model scores 0
    config = json.loads((context_model / "config.json").read_text())
    assert config["recipe"]["data"]["context_tokens"] == 16
    loaded = tagger.load(context_model)
    assert loaded.reads_documents
    # Scored after loading, with documents from the file's -DOCSTART- lines: the dev score of training.
    report = loaded.evaluate(read_conll2003(demo_dir() / "valid.txt"))
    assert report["ner"]["f1"] == pytest.approx(TRAINED["best"], abs=1e-12)


def test_predict_input_keeps_documents(context_model, tmp_path):
    path = tmp_path / "in.conll"
    path.write_text(TWO_DOCS + "\nLondon NNP B-NP B-LOC\n\n\nParis NNP B-NP B-LOC\n")
    items = list(read_input(path, InputFormat.conll))
    assert [list(i) for i in items] == [["EU", "rejects"], ["Peter", "Blackburn"], ["BRUSSELS"], ["London"], ["Paris"]]
    assert [i.doc for i in items] == [1, 1, 2, 2, 3]  # -DOCSTART-, and two blank lines in a row
    text = tmp_path / "in.txt"
    text.write_text("EU rejects it\nPeter lives\n\nBerlin\n")
    assert [(str(i), i.doc) for i in read_input(text, InputFormat.text)] == [
        ("EU rejects it", 0), ("Peter lives", 0), ("", 0), ("Berlin", 1)]
    loaded = tagger.load(context_model)
    expected = loaded.predict_all([list(i) for i in items], docs=[1, 1, 2, 2, 3])
    result = runner.invoke(app, ["predict", str(context_model), "--input", str(path), "-f", "jsonl"])
    assert result.exit_code == 0, result.output
    got = [json.loads(line)["ner"] for line in result.stdout.splitlines()]
    assert got == [e["ner"] for e in expected]
    # The documents matter: each sentence alone reads other inputs than within its document.
    alone = loaded._encode([list(i) for i in items])
    grouped = loaded._encode([list(i) for i in items], docs=[1, 1, 2, 2, 3])
    assert [len(e) for e in alone] == [2, 2, 1, 1, 1] and [len(e) for e in grouped] == [4, 4, 2, 2, 1]


def test_the_html_page_keeps_the_input_files_documents(context_model, tmp_path, monkeypatch):
    from tagger.spacy_component import displacy_page

    path = tmp_path / "in.conll"
    path.write_text(TWO_DOCS)
    page = tmp_path / "page.html"
    seen = []
    original = Tagger.predict_all
    monkeypatch.setattr(Tagger, "predict_all", lambda self, s, docs=None: seen.append(docs) or original(self, s, docs))
    result = runner.invoke(app, ["predict", str(context_model), "--input", str(path), "-f", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert seen == [[1, 1, 2]]
    sentences = [["EU", "rejects"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    labels = tagger.load(context_model).predict_all(sentences, docs=[1, 1, 2])
    expected = displacy_page([(w, lab["ner"]) for w, lab in zip(sentences, labels)], title=f"tagger: {context_model}")
    assert page.read_text(encoding="utf-8") == expected


def test_a_served_request_is_one_document(context_model):
    from tagger.serve.batching import Job, run_jobs
    from tagger.serve.models import ServedModel

    loaded = tagger.load(context_model)
    seen = []
    original = loaded.predict_with_proba
    loaded.predict_with_proba = lambda words, docs=None: seen.append(docs) or original(words, docs)
    served = ServedModel("ctx", loaded, ["ner"], [])
    first = [["Peter", "Blackburn", "visited", "Brussels"], [], ["The", "EU", "rejects", "it"]]
    second = [["German", "officials", "met", "Peter"]]
    results = run_jobs(served, [Job(first, False, None), Job(second, False, None)])
    assert seen == [[0, 0, 1]]
    expected = loaded.predict_all([first[0], first[2], second[0]], docs=[0, 0, 1])
    assert [p.labels for p in results[0]] == [expected[0], {}, expected[1]]
    assert [p.labels for p in results[1]] == [expected[2]]
    # Each request is a document of its own: the second never reads the first's words.
    assert loaded._encode([first[0], first[2], second[0]], docs=[0, 0, 1])[2].words.shape[0] == 4


def test_chunks_do_not_cut_a_document():
    items = [DocWords(["w"], d) for d in (0, 0, 0, 1, 1, 2)]
    assert [[i.doc for i in c] for c in chunked(items, 2)] == [[0, 0, 0], [1, 1], [2]]
    assert [len(c) for c in chunked([["w"]] * 5, 2)] == [2, 2, 1]  # no document keys: as before


def test_a_spacy_doc_is_one_document(context_model):
    spacy = pytest.importorskip("spacy")
    from tagger.spacy_component import BilstmTaggerComponent

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp("Peter Blackburn visited Brussels . The EU rejects it .")
    component = BilstmTaggerComponent(model=str(context_model))
    units = component.model_words(doc)
    assert len(units) == 2
    expected = tagger.load(context_model).predict_all(units, docs=[0, 0])
    assert [labels for _, _, labels in component.predict([doc])[0]] == expected


def test_char_lms_read_their_further_context_but_are_read_at_own_words():
    recipe = load_recipe("demo")
    vocabs = build_vocabs([Sentence(["a", "b", "c", "z"], tags={"ner": ["O"] * 4})], recipe.heads, recipe.embed)
    chars = ["<pad>", "<unk>", "\n", " ", "a", "b", "c", "z"]
    vocabs.charlm = {"fwd": {"config": {"reverse": False}, "vocab": chars},
                     "bwd": {"config": {"reverse": True}, "vocab": chars}}
    encoded = encode(["b", "c"], vocabs, with_labels=False, context=Context(lm_left=["a"], lm_right=["z"]))
    (fwd_ids, fwd_pos), (bwd_ids, bwd_pos) = encoded.lm["fwd"], encoded.lm["bwd"]
    assert "".join(chars[i] for i in fwd_ids) == "\na b c z " and fwd_pos.tolist() == [4, 6]  # the space after b, c
    assert "".join(chars[i] for i in bwd_ids) == "\nz c b a " and bwd_pos.tolist() == [6, 4]  # right to left: the space before b, c
    assert len(encoded) == 2 and encoded.offset == 0  # the encoder reads b, c only


def test_conllu_newdoc_comments_start_documents(tmp_path):
    from tagger.io.conllu import read_conllu

    path = tmp_path / "docs.conllu"
    row = "1\t{w}\t{w}\tNOUN\tNN\t_\t0\troot\t_\t_\n"
    path.write_text("# newdoc id = a\n" + row.format(w="one") + "\n" + row.format(w="two") + "\n"
                    + "# newdoc id = b\n" + row.format(w="three") + "\n")
    assert [s.doc for s in read_conllu(path)] == [0, 0, 1]
    assert [i.doc for i in read_input(path, InputFormat.conllu)] == [0, 0, 1]


def test_export_refuses_a_context_model_in_one_line(context_model, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    result = runner.invoke(app, ["export", str(context_model), str(tmp_path / "out")])
    assert result.exit_code == 1 and "document context" in result.output and not (tmp_path / "out").exists()


def test_eval_batches_hold_a_bounded_number_of_char_lm_characters():
    from tagger.batching import LM_CHARS, Encoded, eval_batches

    def item(chars: int, char: int = 1) -> Encoded:
        return Encoded(words=torch.ones(3, dtype=torch.long), casing=torch.ones(3, dtype=torch.long),
                       chars=torch.ones(3, 2, dtype=torch.long),
                       lm={"fwd": (torch.full((chars,), char), torch.tensor([1, 2, 3]))})

    whole_documents = [item(LM_CHARS // 2, char) for char in range(1, 6)]  # e.g. embed.charlm_context = -1
    assert [len(b.index) for b in eval_batches(whole_documents, 256)] == [2, 2, 1]
    assert [len(b.index) for b in eval_batches([item(40, c) for c in range(1, 6)], 256)] == [5]  # sentences: as before
    # Five sentences of one document read one string: the LMs read it once, in one batch.
    one_document = [item(LM_CHARS // 2) for _ in range(5)]
    assert [(len(b.index), b.lm["fwd"][0].shape[0]) for b in eval_batches(one_document, 256)] == [(5, 1)]
