import random
from collections import Counter

import pytest
import torch

from tagger.batching import (
    Vocabs,
    build_vocabs,
    collate,
    encode,
    eval_batches,
    singleton_mask,
    train_batches,
)
from tagger.config import EmbedConfig, HeadConfig
from tagger.data import Sentence
from tagger.errors import TaggerError
from tagger.vocab import CASINGS, PAD, UNK, Vocab, casing, word_key

# ----------------------------------------------------------------------------- vocab


def test_vocab_build_order_is_count_then_symbol():
    counts = Counter({"b": 2, "a": 2, "c": 5, "d": 1, "e": 1})
    v = Vocab.build(counts)
    assert v.itos == [PAD, UNK, "c", "a", "b", "d", "e"]
    # insertion order of the counter does not matter
    v2 = Vocab.build(Counter(dict(reversed(list(counts.items())))))
    assert v2.itos == v.itos
    assert v.id(PAD) == 0 and v.id(UNK) == 1 and v.unk_id == 1


def test_vocab_min_freq_and_unknown_ids():
    v = Vocab.build(Counter({"x": 3, "y": 1, "z": 2}), min_freq=2)
    assert v.itos == [PAD, UNK, "x", "z"]
    assert v.id("y") == 1 and v.id("never") == 1
    assert v.ids(["x", "y", "z", "q"]) == [2, 1, 3, 1]
    assert "x" in v and "y" not in v and len(v) == 4


def test_vocab_specials_are_not_duplicated():
    v = Vocab.build(Counter({UNK: 10, "a": 1}))
    assert v.itos == [PAD, UNK, "a"]


def test_vocab_without_unk_raises_keyerror():
    v = Vocab([PAD, "O", "B-PER"])
    assert v.unk_id is None
    assert v.ids(["B-PER", "O"]) == [2, 1]
    with pytest.raises(KeyError):
        v.id("I-PER")


@pytest.mark.parametrize(
    "word, lower, digits, key",
    [
        ("Paris", True, True, "paris"),
        ("Paris", False, True, "Paris"),
        ("1996", True, True, "0000"),
        ("A4-Größe9", True, True, "a0-größe0"),
        ("1996", True, False, "1996"),
        ("EU-27", False, True, "EU-00"),
    ],
)
def test_word_key(word, lower, digits, key):
    assert word_key(word, lower, digits) == key


@pytest.mark.parametrize(
    "word, kind",
    [
        ("EU", "upper"),
        ("Paris", "title"),
        ("1996", "numeric"),
        ("iPhone", "mixed"),
        (",", "punct"),
        ("...", "punct"),
        ("lamb", "lower"),
        ("_", "other"),
    ],
)
def test_casing(word, kind):
    assert CASINGS[casing(word)] == kind


@pytest.mark.parametrize("word", ["3rd", "A1", "1990s"])
def test_casing_has_digit(word):
    assert CASINGS[casing(word)] == "has_digit"


def test_casing_ids_are_never_padding():
    for w in ["EU", "Paris", "1996", "iPhone", ",", "3rd", "lamb", "_", "é"]:
        assert 1 <= casing(w) < len(CASINGS)


# ----------------------------------------------------------------------------- build_vocabs

TRAIN = [
    Sentence(["EU", "rejects", "German", "call"], {"ner": ["B-ORG", "O", "B-MISC", "O"]}),
    Sentence(["Peter", "Blackburn", "in", "1996"], {"ner": ["B-PER", "I-PER", "O", "O"]}),
    Sentence(["The", "EU", "said"], {"ner": ["O", "B-ORG", "O"]}),
]


def test_build_vocabs_span_labels_get_b_and_i():
    v = build_vocabs(TRAIN, [HeadConfig()], EmbedConfig())
    assert v.labels["ner"].itos == [
        PAD, "O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"
    ]


def test_build_vocabs_extra_label_sources_and_non_span_head():
    dev = [Sentence(["Rome"], {"ner": ["B-LOC"], "pos": ["NNP"]})]
    train = [Sentence(s.words, {**s.tags, "pos": ["X"] * len(s)}) for s in TRAIN]
    v = build_vocabs(train, [HeadConfig(), HeadConfig(task="pos", kind="softmax", span=False)], EmbedConfig(), [dev])
    assert "B-LOC" in v.labels["ner"] and "I-LOC" in v.labels["ner"]
    assert v.labels["pos"].itos == [PAD, "NNP", "X"]
    # words come from training data only
    assert "rome" not in v.words


def test_build_vocabs_words_and_chars():
    v = build_vocabs(TRAIN, [HeadConfig()], EmbedConfig())
    # "eu" twice, then the rest alphabetically; digits normalised, lowercased
    assert v.words.itos[:3] == [PAD, UNK, "eu"]
    assert sorted(v.words.itos[3:]) == v.words.itos[3:]
    assert "0000" in v.words and "1996" not in v.words and "german" in v.words
    assert v.chars.itos[:2] == [PAD, UNK]
    assert "E" in v.chars and "e" in v.chars and "9" in v.chars  # chars keep case and digits
    v2 = build_vocabs(TRAIN, [HeadConfig()], EmbedConfig(lowercase=False, normalize_digits=False))
    assert "EU" in v2.words and "1996" in v2.words and not v2.lowercase


def test_build_vocabs_missing_task_is_error():
    with pytest.raises(TaggerError, match="no 'pos' labels"):
        build_vocabs(TRAIN, [HeadConfig(task="pos")], EmbedConfig())


def test_vocabs_json_round_trip():
    v = build_vocabs(TRAIN, [HeadConfig()], EmbedConfig(max_word_len=7))
    again = Vocabs.from_json(v.to_json())
    assert again.words.itos == v.words.itos and again.chars.itos == v.chars.itos
    assert again.labels["ner"].itos == v.labels["ner"].itos
    assert (again.lowercase, again.normalize_digits, again.max_word_len) == (True, True, 7)


# ----------------------------------------------------------------------------- encode / collate


@pytest.fixture
def vocabs():
    return build_vocabs(TRAIN, [HeadConfig()], EmbedConfig(max_word_len=5))


def test_encode_shapes_and_values(vocabs):
    e = encode(TRAIN[1], vocabs)
    assert len(e) == 4
    assert e.words.tolist() == [vocabs.words.id(w) for w in ["peter", "blackburn", "in", "0000"]]
    assert [CASINGS[c] for c in e.casing.tolist()] == ["title", "title", "lower", "numeric"]
    # "Blackburn" is cut to max_word_len=5 characters; shorter words are padded with 0
    assert e.chars.shape == (4, 5)
    assert e.chars[0].tolist() == vocabs.chars.ids("Peter")
    assert e.chars[1].tolist() == vocabs.chars.ids("Black")
    assert e.chars[2].tolist() == vocabs.chars.ids("in") + [0, 0, 0]
    assert e.chars[3].tolist() == vocabs.chars.ids("1996") + [0]
    assert (e.chars[2:, :2] != 0).all()
    ner = vocabs.labels["ner"]
    assert e.labels["ner"].tolist() == [ner.id("B-PER"), ner.id("I-PER"), ner.id("O"), ner.id("O")]


def test_encode_unknown_words_and_chars(vocabs):
    e = encode(["Zürich", "EU"], vocabs)
    assert e.words.tolist() == [1, vocabs.words.id("eu")]
    assert e.chars[0, 1].item() == 1  # ü was never seen
    assert e.labels == {}


def test_encode_unknown_label_is_error(vocabs):
    bad = Sentence(["EU", "said"], {"ner": ["B-ORG", "B-LOC"]})
    with pytest.raises(TaggerError, match="unknown ner label 'B-LOC'"):
        encode(bad, vocabs)
    assert encode(bad, vocabs, with_labels=False).labels == {}


def test_encode_empty_sentence_is_error(vocabs):
    with pytest.raises(TaggerError, match="empty"):
        encode([], vocabs)


def test_collate_pads_and_masks(vocabs):
    items = [encode(TRAIN[2], vocabs), encode(TRAIN[1], vocabs), encode(["EU"], vocabs)]
    b = collate(items, [5, 6, 7])
    assert b.lengths.tolist() == [3, 4, 1]
    assert b.mask.tolist() == [
        [True, True, True, False],
        [True, True, True, True],
        [True, False, False, False],
    ]
    assert b.words.shape == (3, 4) and b.casing.shape == (3, 4)
    assert b.words[~b.mask].eq(0).all() and b.casing[~b.mask].eq(0).all()
    assert torch.equal(b.words[1], items[1].words)
    # chars: one row per real token, in row-major order, width = widest in the batch
    assert b.chars.shape == (8, 5)
    assert torch.equal(b.chars[3:7], items[1].chars)
    assert b.chars[0, 3:].eq(0).all()  # "The" padded with 0
    assert b.index == [5, 6, 7] and b.num_tokens == 8
    assert b.labels == {}  # the last item carries no labels


def test_collate_labels(vocabs):
    items = [encode(TRAIN[0], vocabs), encode(TRAIN[2], vocabs)]
    b = collate(items, [0, 1])
    assert b.labels["ner"].shape == (2, 4)
    assert b.labels["ner"][1, 3].item() == 0
    assert b.labels["ner"][0].tolist() == items[0].labels["ner"].tolist()


def test_singleton_mask(vocabs):
    m = singleton_mask(TRAIN, vocabs)
    assert m.shape == (len(vocabs.words),)
    assert not m[vocabs.words.id("eu")]  # seen twice
    assert m[vocabs.words.id("german")]
    assert not m[0] and not m[1]
    assert int(m.sum()) == len(vocabs.words) - 3


# ----------------------------------------------------------------------------- batching


def _fake(lengths):
    """Encoded sentences of the given lengths (batch.lengths tells which is which)."""
    vocabs = Vocabs(Vocab([PAD, UNK, "a"]), Vocab([PAD, UNK, "a"]), {})
    return [encode(["a"] * n, vocabs) for n in lengths]


def test_eval_batches_cover_every_sentence_once_longest_first():
    rng = random.Random(0)
    lengths = [rng.randint(1, 40) for _ in range(203)]
    data = _fake(lengths)
    batches = list(eval_batches(data, batch_size=16))
    seen = [i for b in batches for i in b.index]
    assert sorted(seen) == list(range(203))
    for b in batches:
        assert len(b.index) <= 16
        assert b.lengths.tolist() == [lengths[i] for i in b.index]
    longest = [max(b.lengths.tolist()) for b in batches]
    assert longest == sorted(longest, reverse=True)
    assert batches[0].lengths[0].item() == max(lengths)


def test_eval_batches_token_budget():
    lengths = [100] * 10 + [3] * 10
    batches = list(eval_batches(_fake(lengths), batch_size=64, max_tokens=250))
    # 250 // 100 = 2 long sentences per batch
    assert [len(b.index) for b in batches][:5] == [2, 2, 2, 2, 2]
    for b in batches:
        assert b.words.numel() <= 250 or len(b.index) == 1


def test_huge_sentence_gets_its_own_batch():
    lengths = [5000, 12, 7, 30, 9, 4]
    data = _fake(lengths)
    batches = list(eval_batches(data, batch_size=32, max_tokens=8000))
    assert batches[0].index == [0] and batches[0].words.shape == (1, 5000)
    assert sorted(i for b in batches[1:] for i in b.index) == [1, 2, 3, 4, 5]
    # a sentence longer than the whole budget is still tagged, alone
    batches = list(eval_batches(_fake([30000, 5, 5]), batch_size=32))
    assert batches[0].index == [0] and batches[1].index == [1, 2]


def test_eval_batches_default_budget_bounds_padded_tokens():
    lengths = [5000, 12, 7, 30, 9, 4]
    batches = list(eval_batches(_fake(lengths), batch_size=32))
    assert sorted(i for b in batches for i in b.index) == list(range(6))
    first = batches[0]
    assert first.index[0] == 0
    assert first.words.numel() <= 20_000  # 20,000 // 5,000 = at most 4 sentences share it


def test_train_batches_cover_each_sentence_once_per_epoch():
    rng = random.Random(0)
    lengths = [rng.randint(1, 30) for _ in range(157)]
    data = _fake(lengths)
    epoch_rng = random.Random(42)
    for _ in range(3):
        batches = train_batches(data, batch_size=8, rng=epoch_rng, pool=3)
        seen = [i for b in batches for i in b.index]
        assert sorted(seen) == list(range(157))
        assert all(1 <= len(b.index) <= 8 for b in batches)
        for b in batches:
            assert b.lengths.tolist() == [lengths[i] for i in b.index]
            assert b.lengths.tolist() == sorted(b.lengths.tolist())  # sorted within a pool


def test_train_batches_deterministic_for_a_seed():
    data = _fake([random.Random(1).randint(1, 30) for _ in range(100)])
    a = [b.index for b in train_batches(data, 8, random.Random(7))]
    b = [b.index for b in train_batches(data, 8, random.Random(7))]
    c = [b.index for b in train_batches(data, 8, random.Random(8))]
    assert a == b
    assert a != c


def test_the_encoding_cache_keeps_short_spellings_only():
    """A server reads hostile text: a word of a million characters is encoded, never kept."""
    vocabs = build_vocabs([Sentence(["EU", "rejects"], {"ner": ["B-ORG", "O"]})], [HeadConfig()], EmbedConfig())
    long_word = "x" * 100_000
    assert vocabs.features(long_word) == vocabs.features(long_word)
    assert long_word not in vocabs._features
    vocabs.features("EU")
    assert "EU" in vocabs._features
