"""The tagger's model-directory format has one owner (tagger.modeldir): what a directory
says about a model is read from its JSON files alone, and agrees with the loaded model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import tagger
from tagger import batching, modeldir
from tagger.config import HeadConfig, load_recipe
from tagger.data import Sentence
from tagger.errors import TaggerError
from tagger.hf import _model_info
from tagger.model import SequenceTagger, model_from_parts
from tagger.modeldir import ModelInfo, TaskInfo, Vocabs, read_model_info, read_parts
from tagger.predict import Tagger

OLD = Path(__file__).resolve().parent / "fixtures" / "models-2026-12" / "tagger"
NER_LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_vocabs_moved_and_stay_importable_from_batching():
    assert batching.Vocabs is modeldir.Vocabs is Vocabs


def test_an_old_directory_is_described_from_its_json_files_alone(tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(OLD, copy)
    (copy / "model.safetensors").write_bytes(b"not weights")  # never read for a description
    info = read_model_info(copy)
    assert info == ModelInfo(
        [TaskInfo("ner", "crf", "token", span=True, multi_label=False, attention=False, labels=NER_LABELS)],
        "conll", copy,
    )
    assert info.task_names == ["ner"] and info.span_tasks == ["ner"] and info.sentence_tasks == {}
    with pytest.raises(TaggerError, match="safetensors"):
        tagger.load(copy)


def two_task_model() -> SequenceTagger:
    """An untrained tagger with a span task and an attention-pooled sentence task."""
    recipe = load_recipe("demo", ["embed.word_dim=8", "embed.char_dim=4", "embed.char_hidden=4", "encoder.hidden=8"])
    recipe.heads.append(HeadConfig(task="mood", kind="classify", pooling="attention", attention_dim=4))
    train = [Sentence(["EU", "rejects", "it"], tags={"ner": ["B-ORG", "O", "O"]}, cats={"mood": ["sad"]}),
             Sentence(["Good", "news"], tags={"ner": ["O", "O"]}, cats={"mood": ["glad"]})]
    torch.manual_seed(0)
    return SequenceTagger(recipe, batching.build_vocabs(train, recipe.heads, recipe.embed)).eval()


def test_the_description_of_a_saved_model_is_the_loaded_models(tmp_path):
    model = two_task_model()
    model.save(tmp_path / "m")
    info = read_model_info(tmp_path / "m")
    assert info.tasks == [
        TaskInfo("ner", "crf", "token", span=True, multi_label=False, attention=False,
                 labels=["O", "B-ORG", "I-ORG"]),
        TaskInfo("mood", "classify", "sentence", span=False, multi_label=False, attention=True, labels=["glad", "sad"]),
    ]
    assert info.sentence_tasks == {"mood": ["glad", "sad"]} and info.attention_tasks == ["mood"]
    loaded = Tagger.load(tmp_path / "m")
    assert loaded.info.tasks == info.tasks and loaded.info.tokenizer == info.tokenizer
    assert loaded.sentence_tasks == list(info.sentence_tasks) and loaded.tasks == info.task_names


def test_map_predict_reads_the_directory_through_the_owner(tmp_path):
    two_task_model().save(tmp_path / "run" / "best")
    directory, tasks, sentence, stamp = _model_info(tmp_path / "run")  # a run directory: its best/
    assert directory == str((tmp_path / "run" / "best").resolve())
    assert tasks == ["ner", "mood"] and sentence == {"mood": ["glad", "sad"]}
    weights = (tmp_path / "run" / "best" / "model.safetensors").stat()
    assert stamp == f"{weights.st_size}:{weights.st_mtime_ns}"


def test_the_three_files_round_trip(tmp_path):
    model = two_task_model()
    model.save(tmp_path / "m")
    directory, config, vocab_json, weights = read_parts(tmp_path / "m")
    assert config == {"format_version": modeldir.FORMAT_VERSION, "recipe": model.recipe.to_dict()}
    assert vocab_json == model.vocabs.to_json() and Vocabs.from_json(vocab_json).to_json() == vocab_json
    again = model_from_parts(config, vocab_json, weights, directory)
    assert all(torch.equal(again.state_dict()[k], v) for k, v in model.state_dict().items())


def test_a_foreign_format_version_is_one_line_naming_config_json(tmp_path):
    two_task_model().save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    for read in (read_model_info, tagger.load):
        with pytest.raises(TaggerError, match="format_version 1") as info:
            read(tmp_path / "m")
        assert "config.json" in str(info.value) and "\n" not in str(info.value)
