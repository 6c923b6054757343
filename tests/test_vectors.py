import pytest
import torch

from tagger.batching import Vocabs
from tagger.errors import TaggerError
from tagger.vectors import extend_with_vectors, read_vectors
from tagger.vocab import PAD, UNK, Vocab


def write(tmp_path, text, name="vec.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_glove_layout(tmp_path):
    path = write(tmp_path, "the 0.1 0.2 0.3\n, -1 2.5 3e-1\nparis 1 0 -0.5\n")
    words, m = read_vectors(path, max_words=100)
    assert words == ["the", ",", "paris"]
    assert m.dtype == torch.float32 and m.shape == (3, 3)
    assert torch.allclose(m, torch.tensor([[0.1, 0.2, 0.3], [-1.0, 2.5, 0.3], [1.0, 0.0, -0.5]]))


def test_read_word2vec_layout_skips_header(tmp_path):
    path = write(tmp_path, "3 2\nthe 0.5 0.25\nParis 1 2\nlamb -3 4\n")
    words, m = read_vectors(path, max_words=100)
    assert words == ["the", "Paris", "lamb"]
    assert m.tolist() == [[0.5, 0.25], [1.0, 2.0], [-3.0, 4.0]]


def test_read_trailing_space_blank_lines_and_spaces_in_words(tmp_path):
    # fastText writes a trailing space; GloVe 840B has words containing spaces
    path = write(tmp_path, "a 1 2 \n\nnew york 3 4\n")
    words, m = read_vectors(path, max_words=100)
    assert words == ["a", "new york"]
    assert m.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_read_max_words(tmp_path):
    path = write(tmp_path, "".join(f"w{i} {i} {i}\n" for i in range(10)))
    words, m = read_vectors(path, max_words=4)
    assert words == ["w0", "w1", "w2", "w3"] and m.shape == (4, 2)
    assert m[3].tolist() == [3.0, 3.0]


def test_wrong_field_count_names_the_line(tmp_path):
    path = write(tmp_path, "the 0.1 0.2 0.3\nof 0.1 0.2 0.3\nand 0.4 0.5\nto 1 2 3\n")
    with pytest.raises(TaggerError) as info:
        read_vectors(path, 100)
    assert info.value.line == 3
    assert info.value.path == str(path)
    assert "expected a word and 3 numbers, found 3 fields" in str(info.value)
    assert f"{path}:3:" in str(info.value)


def test_wrong_field_count_after_header_counts_header_line(tmp_path):
    path = write(tmp_path, "2 3\nthe 1 2 3\nof 1 2\n")
    with pytest.raises(TaggerError) as info:
        read_vectors(path, 100)
    assert info.value.line == 3


def test_non_numeric_value_names_the_line(tmp_path):
    path = write(tmp_path, "the 1 2\nof 1 x\n")
    with pytest.raises(TaggerError, match="must be numbers") as info:
        read_vectors(path, 100)
    assert info.value.line == 2


def test_missing_empty_and_non_utf8_files(tmp_path):
    with pytest.raises(TaggerError, match="not found"):
        read_vectors(tmp_path / "nope.txt", 10)
    with pytest.raises(TaggerError, match="no vectors"):
        read_vectors(write(tmp_path, "\n\n", "empty.txt"), 10)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 1 2\n".encode("latin-1"))
    with pytest.raises(TaggerError, match="UTF-8"):
        read_vectors(bad, 10)


def make_vocabs(words, lowercase=True):
    return Vocabs(
        words=Vocab([PAD, UNK, *words]),
        chars=Vocab([PAD, UNK, "a"]),
        labels={"ner": Vocab([PAD, "O"])},
        lowercase=lowercase,
        normalize_digits=True,
    )


def test_extend_with_vectors_copies_and_adds(tmp_path):
    path = write(tmp_path, "the 1 2\nparis 3 4\nRome 5 6\n1999 7 8\nthe 9 9\n")
    words, m = read_vectors(path, 100)
    vocabs = make_vocabs(["the", "lamb", "rome", "0000"])
    new, init, coverage = extend_with_vectors(vocabs, words, m)
    # training words keep their ids; vector words not yet known are appended in file order
    assert new.words.itos == [PAD, UNK, "the", "lamb", "rome", "0000", "paris"]
    assert init.shape == (7, 2)
    assert init[0].tolist() == [0.0, 0.0]
    assert init[new.words.id("the")].tolist() == [1.0, 2.0]  # the first vector wins
    assert init[new.words.id("rome")].tolist() == [5.0, 6.0]  # "Rome" keyed as "rome"
    assert init[new.words.id("0000")].tolist() == [7.0, 8.0]  # digits normalised
    assert init[new.words.id("paris")].tolist() == [3.0, 4.0]
    # words without a vector get a small random init
    assert init[1].abs().max() <= 0.1 and init[new.words.id("lamb")].abs().max() <= 0.1
    # 3 of the 4 training word types (the, rome, 0000; not lamb) found a vector
    assert coverage == pytest.approx(3 / 4)
    # the other parts of the vocabulary are kept
    assert new.chars is vocabs.chars and new.labels is vocabs.labels and new.lowercase


def test_extend_lowercase_fallback_for_cased_vocab(tmp_path):
    words, m = read_vectors(write(tmp_path, "paris 1 2\nBerlin 3 4\n"), 100)
    vocabs = make_vocabs(["Paris", "Berlin", "Lamb"], lowercase=False)
    new, init, coverage = extend_with_vectors(vocabs, words, m)
    assert init[new.words.id("Paris")].tolist() == [1.0, 2.0]  # falls back to "paris"
    assert init[new.words.id("Berlin")].tolist() == [3.0, 4.0]
    assert new.words.itos == [PAD, UNK, "Paris", "Berlin", "Lamb", "paris"]
    assert init[new.words.id("paris")].tolist() == [1.0, 2.0]
    assert coverage == pytest.approx(2 / 3)


def test_extend_word_keeps_its_own_vector_when_a_cased_variant_comes_first(tmp_path):
    words, m = read_vectors(write(tmp_path, "Paris 1 2\nparis 3 4\n"), 100)
    vocabs = make_vocabs(["Paris", "paris"], lowercase=False)
    new, init, _ = extend_with_vectors(vocabs, words, m)
    assert init[new.words.id("Paris")].tolist() == [1.0, 2.0]
    assert init[new.words.id("paris")].tolist() == [3.0, 4.0]


def test_extend_coverage_zero_and_full(tmp_path):
    words, m = read_vectors(write(tmp_path, "x 1\ny 2\n"), 100)
    _, _, cov = extend_with_vectors(make_vocabs(["a", "b"]), words, m)
    assert cov == 0.0
    _, init, cov = extend_with_vectors(make_vocabs(["y", "x"]), words, m)
    assert cov == 1.0
    assert init[2:4, 0].tolist() == [2.0, 1.0]
