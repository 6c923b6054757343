"""Translation (tagger.seq2seq): attention, decoding against brute force, a tiny model
that learns a handful of pairs, readers, the Multi30k source, model directories and the
commands. Tiny models on tiny data written here."""
from __future__ import annotations

import itertools
import json
import random

import pytest
import torch
from typer.testing import CliRunner

from tagger.errors import TaggerError
from tagger.seq2seq.config import Seq2SeqModelConfig, Seq2SeqRecipe, load_seq2seq_recipe
from tagger.seq2seq.model import ATTENTIONS, Seq2Seq, attend
from tagger.seq2seq.search import _beam, beam_search, greedy, length_limits
from tagger.seq2seq.subword import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from tagger.seq2seq.text import Parallel, read_aligned, read_pairs_file

PAIRS = [
    ("ein mann fährt fahrrad.", "a man rides a bike."),
    ("eine frau liest ein buch.", "a woman reads a book."),
    ("zwei hunde spielen im schnee.", "two dogs play in the snow."),
    ("ein kind isst einen apfel.", "a child eats an apple."),
    ("der mann liest.", "the man reads."),
    ("eine frau fährt.", "a woman rides."),
]


def tiny_cfg(**changes) -> Seq2SeqModelConfig:
    base = dict(embed_dim=8, hidden=4, dec_hidden=8, attention_dim=5, dropout=0.0)
    return Seq2SeqModelConfig(**(base | changes))


# ---------------------------------------------------------------- attention


def test_attention_weights_sum_to_one_and_ignore_padding():
    torch.manual_seed(0)
    for name in ("bahdanau", "luong", "dot"):
        model = Seq2Seq(tiny_cfg(attention=name), 12, 9).eval()
        src = torch.tensor([[4, 5, 6, 3], [7, 3, 0, 0]])
        enc, _ = model.encode(src, torch.tensor([4, 2]))
        weights = attend(model.attention.scores(torch.randn(2, 3, 8), enc.prepared), enc.mask)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
        assert (weights[1, :, 2:] == 0).all() and (weights[1, :, :2] > 0).all()
        # the padded sentence alone gives the same encoder states and weights
        alone, _ = model.encode(src[1:, :2], torch.tensor([2]))
        assert torch.allclose(alone.keys[0], enc.keys[1, :2], atol=1e-6)


def test_score_functions_by_hand():
    torch.manual_seed(1)
    q, k = torch.randn(1, 1, 3), torch.randn(1, 2, 4)
    bahdanau = ATTENTIONS["bahdanau"](3, 4, 5)
    W1 = torch.cat([bahdanau.query.weight, bahdanau.key.weight], dim=1)  # W1 [q; k] as one matrix
    for j in range(2):
        expected = bahdanau.w2.weight[0] @ torch.tanh(W1 @ torch.cat([q[0, 0], k[0, j]]) + bahdanau.key.bias)
        assert torch.allclose(bahdanau.scores(q, bahdanau.prepare(k))[0, 0, j], expected, atol=1e-6)
    luong = ATTENTIONS["luong"](3, 4, 5)
    W = luong.W.weight  # (3, 4): q^T W k
    assert torch.allclose(luong.scores(q, luong.prepare(k))[0, 0], torch.stack([q[0, 0] @ W @ k[0, j] for j in range(2)]),
                          atol=1e-6)
    dot = ATTENTIONS["dot"](4, 4, 5)
    q4 = torch.randn(1, 1, 4)
    assert torch.allclose(dot.scores(q4, dot.prepare(k))[0, 0], torch.stack([q4[0, 0] @ k[0, j] for j in range(2)]))
    hand = torch.softmax(torch.tensor([1.0, 2.0]), 0)
    assert torch.allclose(attend(torch.tensor([[[1.0, 2.0, 9.0]]]), torch.tensor([[True, True, False]]))[0, 0, :2], hand)


# ---------------------------------------------------------------- decoding


def sequence_score(model, src, length, seq):
    full = [BOS_ID, *seq, EOS_ID]
    logits = model(src, length, torch.tensor([full[:-1]]))
    log_probs = torch.log_softmax(logits, -1)[0]
    return sum(log_probs[j, full[j + 1]].item() for j in range(len(full) - 1))


@pytest.mark.parametrize("attention,cell", [("bahdanau", "gru"), ("luong", "lstm"), ("dot", "gru"), ("none", "rnn")])
def test_beam_search_finds_the_brute_force_best(attention, cell):
    torch.manual_seed(3)
    model = Seq2Seq(tiny_cfg(attention=attention, cell=cell), 10, 7).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)  # sharper distributions: the greedy and the best sequence often differ
    src, lengths, limit = torch.tensor([[4, 5, 6, 3]]), torch.tensor([4]), 4
    words = [w for w in range(7) if w not in (PAD_ID, BOS_ID, EOS_ID)]
    candidates = [list(seq) for n in range(limit) for seq in itertools.product(words, repeat=n)]
    for penalty in (1.0, 0.0):
        scored = [(sequence_score(model, src, lengths, seq) / (len(seq) + 1) ** penalty, seq) for seq in candidates]
        best_score, best = max(scored)
        found = beam_search(model, src, lengths, torch.tensor([limit]), beam=len(candidates), length_penalty=penalty)
        assert found.tokens[0] == best
        assert found.scores[0] / (len(best) + 1) ** penalty == pytest.approx(best_score, abs=1e-4)


def test_beam_of_one_is_greedy_and_padding_changes_nothing():
    torch.manual_seed(4)
    model = Seq2Seq(tiny_cfg(attention="bahdanau", cell="lstm"), 12, 9).eval()
    src = torch.tensor([[4, 5, 6, 7, 8, 3], [9, 10, 3, 0, 0, 0], [5, 3, 0, 0, 0, 0]])
    lengths = torch.tensor([6, 3, 2])
    limits = length_limits(lengths, 1.5, 3, 50)
    g = greedy(model, src, lengths, limits)
    b1 = _beam(model, src, lengths, limits, 1, 1.0, False, True)
    assert g.tokens == b1.tokens and g.scores == pytest.approx(b1.scores, abs=1e-5)
    for k in (1, 4):
        batch = beam_search(model, src, lengths, limits, k)
        for i in range(3):
            n = int(lengths[i])
            alone = beam_search(model, src[i : i + 1, :n], lengths[i : i + 1], limits[i : i + 1], k)
            assert alone.tokens[0] == batch.tokens[i]
            assert len(batch.tokens[i]) < int(limits[i])


def test_length_limit_and_long_source():
    assert length_limits(torch.tensor([1, 10, 1000]), 1.5, 10, 256).tolist() == [11, 25, 256]
    torch.manual_seed(5)
    model = Seq2Seq(tiny_cfg(), 20, 9).eval()
    src = torch.randint(4, 20, (1, 2000))
    out = beam_search(model, src, torch.tensor([2000]), torch.tensor([30]), 5, want_attention=True)
    assert len(out.tokens[0]) < 30 and out.attention[0].shape[1] == 2000
    assert torch.allclose(out.attention[0].sum(-1), torch.ones(out.attention[0].shape[0]), atol=1e-5)
    assert all(t not in (PAD_ID, BOS_ID) for t in out.tokens[0])
    no_unk = greedy(model, src, torch.tensor([2000]), torch.tensor([30]), allow_unk=False)
    assert UNK_ID not in no_unk.tokens[0]


# ---------------------------------------------------------------- a tiny model learns


def write_pairs(folder, pairs, src="train.de", tgt="train.en"):
    (folder / src).write_text("".join(p[0] + "\n" for p in pairs), encoding="utf-8")
    (folder / tgt).write_text("".join(p[1] + "\n" for p in pairs), encoding="utf-8")


def tiny_recipe(tmp_path, *overrides):
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    write_pairs(folder, PAIRS)
    write_pairs(folder, PAIRS[:3], "val.de", "val.en")
    return load_seq2seq_recipe("multi30k", [
        f"data.data_dir='{folder}'", "vocab.kind='word'", "model.embed_dim=32", "model.hidden=32", "model.dec_hidden=48",
        "model.attention_dim=32", "model.dropout=0.0", "model.label_smoothing=0.0", "data.batch_tokens=0",
        "train.batch_size=6", *overrides])


def overfit(recipe, steps=60):
    from tagger.seq2seq.data import load_parallel
    from tagger.seq2seq.task import Translation, build_vocabs

    torch.manual_seed(0)
    data = load_parallel(recipe.data)
    src_vocab, tgt_vocab = build_vocabs(recipe, data["train"])
    task = Translation(recipe, Seq2Seq(recipe.model, len(src_vocab), len(tgt_vocab)), src_vocab, tgt_vocab, data)
    optimizer = torch.optim.Adam(task.model.parameters(), lr=0.01)
    rng = random.Random(0)
    for _ in range(steps):
        for batch in task.batches(rng):
            step = task.loss(batch)
            optimizer.zero_grad()
            step.loss.backward()
            optimizer.step()
    return task, step.loss.item(), step.items, step.units


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny word-level model that has learnt PAIRS, saved as a model directory."""
    tmp = tmp_path_factory.mktemp("s2s")
    task, loss, items, units = overfit(tiny_recipe(tmp))
    task.save(tmp / "model")
    return task, loss, items, units, tmp / "model"


def test_tiny_model_overfits_and_reproduces_the_pairs(trained):
    task, loss, items, units, _ = trained
    assert loss < 0.05
    assert items == 6 and units == sum(len(t.replace(".", " .").split()) + 1 for _, t in PAIRS)
    sources = [s for s, _ in PAIRS]
    assert [t.text for t in task.translate(sources, beam=1)] == [t for _, t in PAIRS]
    assert [t.text for t in task.translate(sources, beam=4)] == [t for _, t in PAIRS]
    report, score = task.evaluate()
    assert score == report["bleu"] == 100.0 and report["chrf"] == 100.0


@pytest.mark.parametrize("attention,feeding,sampling", [("none", True, 0.25), ("dot", False, 0.0)])
def test_other_attentions_learn_too(tmp_path, attention, feeding, sampling):
    recipe = tiny_recipe(tmp_path, f"model.attention='{attention}'", f"model.input_feeding={str(feeding).lower()}",
                         f"model.scheduled_sampling={sampling}",
                         "model.hidden=24", "model.cell='lstm'", "model.tie_embeddings=false")
    task, loss, _, _ = overfit(recipe, 60)
    assert loss < 0.1
    assert [t.text for t in task.translate([s for s, _ in PAIRS], beam=1)] == [t for _, t in PAIRS]


def test_batches_cover_every_pair_once_and_respect_the_token_budget(tmp_path):
    from tagger.seq2seq.task import Translation, build_vocabs

    recipe = tiny_recipe(tmp_path, "data.batch_tokens=16")
    pairs = Parallel([f"w{i} " * (1 + i % 5) for i in range(40)], [f"v{i} " * (1 + i % 7) for i in range(40)])
    src_vocab, tgt_vocab = build_vocabs(recipe, pairs)
    task = Translation(recipe, Seq2Seq(recipe.model, len(src_vocab), len(tgt_vocab)), src_vocab, tgt_vocab, {"train": pairs})
    batches = task.batches(random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(40))
    for b in batches:
        assert len(b) == 1 or max(len(task.pairs[i][1]) + 1 for i in b) * len(b) <= 16
    assert batches == task.batches(random.Random(0))


# ---------------------------------------------------------------- readers and sources


def test_parallel_readers(tmp_path):
    (tmp_path / "a.de").write_text("eins\n\nzwei\ndrei\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("one\ntwo-ish\n\nthree\n", encoding="utf-8")
    pairs = read_aligned(tmp_path / "a.de", tmp_path / "a.en")
    assert (pairs.src, pairs.tgt, pairs.skipped) == (["eins", "drei"], ["one", "three"], 2)
    (tmp_path / "b.en").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(TaggerError) as info:
        read_aligned(tmp_path / "a.de", tmp_path / "b.en")
    message = str(info.value)
    assert "a.de has 4 lines but" in message and "b.en has 2" in message and "\n" not in message
    (tmp_path / "bad.de").write_bytes("gut\nschl\xe9cht\n".encode("latin-1"))
    with pytest.raises(TaggerError, match=r"bad\.de:2: not valid UTF-8"):
        read_aligned(tmp_path / "bad.de", tmp_path / "b.en")
    (tmp_path / "p.tsv").write_text("de\ten\nHallo\tHello\n\nJa\tYes\n", encoding="utf-8")
    tsv = read_pairs_file(tmp_path / "p.tsv", "de", "en")
    assert (tsv.src, tsv.tgt, tsv.skipped) == (["Hallo", "Ja"], ["Hello", "Yes"], 1)
    rows = [{"de": "Hallo", "en": "Hello"}, {"translation": {"de": "Ja", "en": "Yes"}}, {"src": "Nein", "tgt": "No"}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert read_pairs_file(tmp_path / "p.jsonl", "de", "en").tgt == ["Hello", "Yes", "No"]
    (tmp_path / "q.jsonl").write_text('{"de": "Hallo"}\n', encoding="utf-8")
    with pytest.raises(TaggerError, match=r"q\.jsonl:1: expected the fields 'de' and 'en'"):
        read_pairs_file(tmp_path / "q.jsonl", "de", "en")


def test_multi30k_local_then_hub_through_datasets_then_cache(tmp_path, monkeypatch, hf_offline):
    from tagger.seq2seq import source

    repo = tmp_path / "repo"
    repo.mkdir()
    for split, rows in (("train", PAIRS), ("validation", PAIRS[:2]), ("test", PAIRS[2:3])):
        (repo / f"{split}.jsonl").write_text("".join(json.dumps({"en": t, "de": s}) + "\n" for s, t in rows))
    monkeypatch.setattr(source, "HUB_CANDIDATES", ((str(tmp_path / "missing"), {}), (str(repo), {})))
    corpus = source.load_multi30k(splits=("train", "valid"))
    assert corpus["train"].src == [s for s, _ in PAIRS] and corpus["valid"].tgt == [t for _, t in PAIRS[:2]]
    cached = tmp_path / "cache" / "multi30k"
    assert (cached / "val.en").read_text(encoding="utf-8").splitlines() == [t for _, t in PAIRS[:2]]
    monkeypatch.setattr(source, "HUB_CANDIDATES", ())  # the next run reads the cache
    again = source.load_multi30k(splits=("train", "valid", "test"))
    assert again["train"].tgt == corpus["train"].tgt and again["test"].src == [PAIRS[2][0]]
    reverse = source.load_multi30k(splits=("valid",), source_lang="en", target_lang="de")
    assert reverse["valid"].src == [t for _, t in PAIRS[:2]]
    with pytest.raises(TaggerError, match="Multi30k de-en train/valid not found. Looked in: data_dir"):
        source.load_multi30k(tmp_path / "empty")


def test_recipe_checks():
    recipe = load_seq2seq_recipe("multi30k")
    assert (recipe.family, recipe.model.attention, recipe.vocab.kind, recipe.train.monitor) == ("seq2seq", "bahdanau", "bpe", "bleu")
    with pytest.raises(TaggerError, match="unknown attention 'mlp'"):
        load_seq2seq_recipe("multi30k", ["model.attention='mlp'"])
    with pytest.raises(TaggerError, match="dec_hidden must be 2"):
        load_seq2seq_recipe("multi30k", ["model.attention='dot'", "model.dec_hidden=100"])
    assert Seq2SeqRecipe.from_dict(recipe.to_dict()) == recipe


# ---------------------------------------------------------------- vocabularies and model directories


def test_subword_vocabularies_round_trip(tmp_path):
    from tagger.seq2seq.subword import train_vocab, vocab_from_json

    texts = [t for _, t in PAIRS] * 5
    for kind in ("bpe", "unigram", "word", "char"):
        vocab = train_vocab(texts, kind, 60)
        again = vocab_from_json(json.loads(json.dumps(vocab.to_json())), "vocab.json")
        for text in ("a man rides a bike.", "two dogs play in the snow."):
            assert vocab.encode(text) == again.encode(text)
            assert min(vocab.encode(text)) > EOS_ID or kind == "word"
            assert again.decode(again.encode(text)) == text
    with pytest.raises(TaggerError, match=r"vocab\.json: malformed vocabulary"):
        vocab_from_json({"kind": "bpe", "model": "not base64!"}, "vocab.json")


def test_model_directory_round_trip_and_wrong_family(trained, tmp_path):
    from tagger import load
    from tagger.seq2seq.predict import Translator

    task, *_, model_dir = trained
    assert {p.name for p in model_dir.iterdir()} == {"config.json", "vocab.json", "model.safetensors"}
    translator = load(model_dir)
    assert isinstance(translator, Translator)
    assert translator.predict(["ein mann fährt fahrrad.", ""]) == ["a man rides a bike.", ""]
    assert translator.predict("der mann liest.") == ["the man reads."]
    assert json.loads((model_dir / "config.json").read_text())["family"] == "seq2seq"
    other = tmp_path / "tree"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"family": "tree"}))
    (other / "vocab.json").write_text("{}")
    (other / "model.safetensors").write_bytes(b"")
    with pytest.raises(TaggerError, match="this is a tree model directory, not a translation"):
        Translator.load(other)


def test_a_model_saved_before_the_shared_encoder_still_loads(trained, tmp_path):
    """Before the encoder was ``nn.encode.Encoder`` its weights were ``encoder.weight_ih_l0``...:
    such a directory loads and translates as before."""
    import shutil

    from safetensors.torch import load_file, save_file

    from tagger import load

    *_, model_dir = trained
    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    weights = load_file(model_dir / "model.safetensors")
    assert "encoder.rnn.weight_ih_l0" in weights
    renamed = {k.replace("encoder.rnn.", "encoder."): v.clone() for k, v in weights.items()}
    save_file(renamed, old / "model.safetensors")
    assert load(old).predict([s for s, _ in PAIRS]) == [t for _, t in PAIRS]


def test_bpe_model_directory_holds_the_sentencepiece_models(tmp_path):
    import sentencepiece as spm

    recipe = tiny_recipe(tmp_path, "vocab.kind='bpe'", "vocab.size=40", "vocab.shared=true")
    task, *_ = overfit(recipe, 1)
    task.save(tmp_path / "model")
    proto = (tmp_path / "model" / "source.spm.model").read_bytes()
    assert spm.SentencePieceProcessor(model_proto=proto).encode("ein mann") == task.src_vocab.encode("ein mann")
    from tagger.seq2seq.predict import Translator

    loaded = Translator.load(tmp_path / "model")
    assert loaded.src_vocab is loaded.tgt_vocab
    assert loaded.translate(["ein mann"], beam=2) == [t.text for t in task.translate(["ein mann"], beam=2)]


# ---------------------------------------------------------------- commands


def test_predict_and_evaluate_commands(trained, tmp_path):
    from tagger.cli import app

    *_, model_dir = trained
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(model_dir), "ein kind isst einen apfel.", "--beam", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "a child eats an apple.\n"
    lines = tmp_path / "in.txt"
    lines.write_text("der mann liest.\n\neine frau fährt.\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", str(model_dir), "--input", str(lines), "-o", str(tmp_path / "out.txt")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == "the man reads.\n\na woman rides.\n"
    page = tmp_path / "page.html"
    result = runner.invoke(app, ["predict", str(model_dir), "der mann liest.", "--explain", "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert html.count("<tr>") == 1 + len(["the", "man", "reads", ".", "</s>"]) and "&rarr; the man reads." in html
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    write_pairs(tmp_path, PAIRS, "src.txt", "ref.txt")
    result = runner.invoke(app, ["evaluate", str(model_dir), "--src", str(src), "--ref", str(ref), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "BLEU (lowercased, 13a)    100.00" in result.stdout and "1-10: 100.00  (6 sentences)" in result.stdout
    assert json.loads((tmp_path / "r.json").read_text())["report"]["chrf"] == 100.0
    ref.write_text("only one line\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(model_dir), "--src", str(src), "--ref", str(ref)])
    assert result.exit_code == 1 and "has 6 lines but" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["predict", str(model_dir), "x", "--beam", "0"])
    assert result.exit_code == 1 and "--beam must be at least 1" in result.output


# ---------------------------------------------------------------- training through the shared trainer


def test_train_command_and_an_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import os
    import signal

    from safetensors.torch import load_file

    from tagger.cli import app
    from tagger.seq2seq.task import Translation
    from tagger.seq2seq.train import train_seq2seq

    recipe = lambda: tiny_recipe(tmp_path, "model.dropout=0.1", "train.max_epochs=3", "train.batch_size=2", "train.lr=0.01")
    straight = train_seq2seq(recipe(), tmp_path / "straight")
    calls = {"n": 0}
    real_loss = Translation.loss

    def loss_then_ctrl_c(self, batch):
        calls["n"] += 1
        if calls["n"] == 5:  # in the second epoch (3 batches an epoch): as if the user pressed Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
        return real_loss(self, batch)

    monkeypatch.setattr(Translation, "loss", loss_then_ctrl_c)
    stopped = train_seq2seq(recipe(), tmp_path / "stopped")
    assert stopped.stopped_because == "interrupted" and len(stopped.epochs) == 1
    monkeypatch.setattr(Translation, "loss", real_loss)
    result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "stopped")])
    assert result.exit_code == 0, result.output
    a, b = (load_file(run / "checkpoint.safetensors") for run in (tmp_path / "straight", tmp_path / "stopped"))
    model_keys = [k for k in a if k.startswith("model/")]
    assert model_keys and all(torch.equal(a[k], b[k]) for k in model_keys)
    scores = [[json.loads(line)["dev_score"] for line in (run / "metrics.jsonl").read_text().splitlines()]
              for run in (tmp_path / "straight", tmp_path / "stopped")]
    assert scores[0] == scores[1] == [e.dev_score for e in straight.epochs]
    result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "stopped"), "--lr", "0.1"])
    assert result.exit_code == 1 and "--lr cannot be given with it" in result.output
    result = CliRunner().invoke(app, ["train", "multi30k", "--data-dir", str(tmp_path / "data"), "--vectors", "v.txt"])
    assert result.exit_code == 1 and "--vectors is not an option for translation models" in result.output
    data = tmp_path / "data"
    tiny = ["--set", "vocab.kind='word'", "--set", "model.embed_dim=8", "--set", "model.hidden=4", "--set", "model.dec_hidden=8"]
    result = CliRunner().invoke(app, ["train", "multi30k", "--train-src", str(data / "train.de"), "--train-tgt",
                                      str(data / "train.en"), "--dev-src", str(data / "val.de"), "--dev-tgt",
                                      str(data / "val.en"), "--max-epochs", "1", "-o", str(tmp_path / "files"), *tiny])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "files" / "best" / "config.json").read_text())["recipe"]
    assert saved["data"]["train_src"] == str(data / "train.de") and saved["model"]["hidden"] == 4


# ---------------------------------------------------------------- several processes (DDP, gloo)


def _ddp_rank(rank: int, world: int, port: int, base: str) -> None:
    """One of ``world`` training processes, as torchrun would start it."""
    import io
    import os
    from pathlib import Path

    from rich.console import Console
    from safetensors.torch import save_file

    from tagger.seq2seq.train import train_seq2seq

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = train_seq2seq(tiny_recipe(Path(base) / f"rank{rank}", *DDP_EXACT, "train.batch_size=2"),
                           Path(base) / "ddp", Console(file=io.StringIO()))
    save_file({k: v.detach().clone() for k, v in result.model.state_dict().items()},
              os.path.join(base, f"rank{rank}.safetensors"))
    Path(base, f"rank{rank}.json").write_text(json.dumps([r.dev_score for r in result.epochs]))


DDP_EXACT = ["train.max_epochs=2", "train.lr=0.01", "train.seed=3", "train.threads=1", "train.device='cpu'"]


def test_two_processes_train_what_one_process_trains_with_the_whole_batch(tmp_path):
    """torchrun's environment, 2 processes of 2 pairs a batch each, against one process
    with 4: the same weights (up to float rounding), bit-identical on both ranks, the
    same dev BLEU, and only rank 0 writes."""
    import socket

    import torch.multiprocessing as mp
    from safetensors.torch import load_file

    from tagger.seq2seq.train import train_seq2seq

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for rank in (0, 1):
        (tmp_path / f"rank{rank}").mkdir()
    mp.start_processes(_ddp_rank, args=(2, port, str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    before = torch.get_num_threads()
    try:
        single = train_seq2seq(tiny_recipe(tmp_path, *DDP_EXACT, "train.batch_size=4"), tmp_path / "single")
    finally:
        torch.set_num_threads(before)
    rank0, rank1 = (load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    for key, value in single.model.state_dict().items():
        # Adam divides by the root of tiny second moments, which magnifies float rounding
        # in the summed gradients of rarely used weights to ~1e-5 after a few steps.
        assert torch.allclose(rank0[key], value, rtol=1e-4, atol=1e-4), key
    assert single.epochs[1].train_loss < single.epochs[0].train_loss  # it did learn
    scores = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert scores[0] == scores[1] == [r.dev_score for r in single.epochs]
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # one writer
