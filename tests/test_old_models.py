"""Model directories written before the shared trainer and the LM recipe (commit
672e24b, with a flat LM config that held the training settings) still load and give
the predictions they gave then (recorded in expected.json by that code)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import tagger
from tagger.lm.model import load_lm
from tagger.lm.train import score_text

OLD = Path(__file__).resolve().parent / "fixtures" / "models-2026-12"
EXPECTED = json.loads((OLD / "expected.json").read_text())


def test_an_old_tagger_directory_predicts_as_before():
    model = tagger.load(OLD / "tagger")
    assert model.predict(EXPECTED["tagger_sentences"]) == EXPECTED["tagger_predictions"]


def test_an_old_language_model_directory_scores_as_before():
    stored = json.loads((OLD / "lm" / "lm.json").read_text())
    assert "bptt" in stored["config"]  # the old flat config, training settings and all
    lm = load_lm(OLD / "lm")
    assert lm.cfg.hidden == 8 and not hasattr(lm.cfg, "bptt")
    assert score_text(lm, EXPECTED["lm_text"])["nats"] == pytest.approx(EXPECTED["lm_nats"], abs=1e-6)
