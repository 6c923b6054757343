"""tagger.textfile: one opener for every reader, and every reader gives the same UTF-8 error."""
from pathlib import Path

import pytest

from tagger.errors import TaggerError, not_utf8
from tagger.textfile import read_text, text_lines


def write(tmp_path: Path, data: bytes, name: str = "f.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_lines_numbered_bom_dropped_once_line_ends_kept(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfone\r\ntwo\n\xef\xbb\xbfthree")
    assert list(text_lines(path)) == [(1, "one\r\n"), (2, "two\n"), (3, "\ufeffthree")]
    assert read_text(path) == "one\r\ntwo\n\ufeffthree"


def test_lone_carriage_return_is_data_unless_asked(tmp_path):
    path = write(tmp_path, b"a\rb\nc")
    assert list(text_lines(path)) == [(1, "a\rb\n"), (2, "c")]
    assert list(text_lines(path, newline="")) == [(1, "a\r"), (2, "b\n"), (3, "c")]


@pytest.mark.parametrize("newline", ["\n", ""])
def test_bad_byte_names_line_and_character_column(tmp_path, newline):
    # far into the file, so a reader that decodes ahead in blocks must still find the line
    good = "".join(f"ligne {i} déjà\n" for i in range(5000)).encode()
    path = write(tmp_path, b"\xef\xbb\xbf" + good + "Zürich caf".encode() + b"\xe9\n" + b"\xff\n")
    with pytest.raises(TaggerError) as info:
        list(text_lines(path, newline=newline))
    assert str(info.value) == f"{path}:5001: not valid UTF-8 (byte 0xe9 at column 11); save the file as UTF-8"
    assert str(not_utf8(path)) == str(info.value)


def test_the_bom_is_not_counted_in_the_column(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfab\xe9")
    with pytest.raises(TaggerError, match=r":1: not valid UTF-8 \(byte 0xe9 at column 3\)"):
        read_text(path)


def test_open_errors_are_one_line_and_come_at_the_call(tmp_path):
    with pytest.raises(TaggerError) as info:
        text_lines(tmp_path / "nope.txt", "vectors file")  # not iterated: the open itself fails
    assert str(info.value) == f"{tmp_path / 'nope.txt'}: vectors file not found"
    with pytest.raises(TaggerError, match="is a directory, not a file"):
        text_lines(tmp_path)


# -- every reader of user files says the same ---------------------------------------------


def _read_conll(path):
    from tagger.io.conll import read_conll2003
    return read_conll2003(path)


def _read_conllu(path):
    from tagger.io.conllu import read_conllu
    return read_conllu(path)


def _read_input(path):
    from tagger.outputs import InputFormat, read_input
    return list(read_input(path, InputFormat.text))


def _read_classification(fmt):
    def read(path):
        from tagger.io.text_classification import read_text_classification
        return read_text_classification(path, fmt, "sentiment")
    return read


def _read_vectors(path):
    from tagger.vectors import read_vectors
    return read_vectors(path, 10)


def _read_trees(path):
    from tagger.trees.tree import read_trees
    return read_trees(path)


def _read_recipe(path):
    from tagger.config import read_recipe_toml
    return read_recipe_toml(path)


def _read_json(path):
    from tagger.files import read_json_object
    return read_json_object(path)


CONLLU_ROW = "\t".join(["1", "ok", "_", "NOUN", "NN", "_", "0", "root", "_", "_"])

READERS = {  # reader, (line 1, text of line 2 before the bad byte)
    "conll": (_read_conll, ("EU NNP B-NP B-ORG", "caf")),
    "conllu": (_read_conllu, (CONLLU_ROW, "2\tcaf")),
    "predict input": (_read_input, ("EU rejects", "caf")),
    "tsv": (_read_classification("tsv"), ("sentence\tlabel", "caf")),
    "csv": (_read_classification("csv"), ("sentence,label", "caf")),
    "jsonl": (_read_classification("jsonl"), ('{"sentence": "ok", "label": 1}', '{"sentence": "caf')),
    "vectors": (_read_vectors, ("ok 1.0 2.0", "caf")),
    "trees": (_read_trees, ("(2 (2 a) (2 b))", "(2 (2 caf")),
    "recipe": (_read_recipe, ("[train]", 'description = "caf')),
    "json": (_read_json, ("{", ' "a": "caf')),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_reader_reports_bad_utf8_the_same_way(tmp_path, name):
    read, (first, before) = READERS[name]
    path = write(tmp_path, first.encode() + b"\n" + before.encode() + b"\xe9 x\n", f"data.{name.replace(' ', '_')}")
    with pytest.raises(TaggerError) as info:
        read(path)
    column = len(before) + 1
    assert str(info.value) == f"{path}:2: not valid UTF-8 (byte 0xe9 at column {column}); save the file as UTF-8"
