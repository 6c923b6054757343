"""Entity-aware word dropout (``embed.entity_dropout``): the words inside gold entities,
found from the span heads' labels (shifted past document context), become <unk>."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tagger.batching import Batch
from tagger.config import EmbedConfig, Recipe
from tagger.errors import TaggerError
from tagger.recipe_check import check_recipe
from tagger.train import TaggerTask, entity_words

IS_ENTITY = {"ner": torch.tensor([False, True, True, False])}  # label ids: O, B-PER, I-PER, O (another non-entity)


def batch(words, lengths, labels, offsets=None, own=None) -> Batch:
    words = torch.tensor(words)
    lengths = torch.tensor(lengths)
    return Batch(words=words, casing=torch.zeros_like(words), chars=torch.zeros(1, 1, dtype=torch.long),
                 mask=torch.arange(words.shape[1])[None, :] < lengths[:, None], lengths=lengths,
                 labels={"ner": torch.tensor(labels)}, index=list(range(len(lengths))),
                 offsets=None if offsets is None else torch.tensor(offsets),
                 own_lengths=None if own is None else torch.tensor(own))


def test_entity_words_by_hand():
    # Row 1's third label is padding (id 1 would be B-PER): the mask keeps it out.
    b = batch([[5, 6, 7], [8, 9, 0]], [3, 2], [[1, 2, 0], [0, 1, 1]])
    assert entity_words(b, IS_ENTITY).tolist() == [[True, True, False], [False, True, False]]


def test_entity_words_skip_document_context():
    # Row 0: 2 own words from position 2; row 1: 3 own words from position 1; the rest is context.
    b = batch([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 0]], [6, 5], [[1, 0, 2], [0, 2, 1]], offsets=[2, 1], own=[2, 3])
    assert entity_words(b, IS_ENTITY).tolist() == [
        [False, False, True, False, False, False],
        [False, False, True, True, False, False],
    ]


def test_entity_dropout_one_makes_every_entity_word_unknown_and_nothing_else():
    b = batch([[5, 6, 7], [8, 9, 0]], [3, 2], [[1, 2, 0], [0, 3, 0]])
    task = SimpleNamespace(recipe=SimpleNamespace(embed=EmbedConfig(word_dropout=0.0, entity_dropout=1.0)),
                           singletons=torch.ones(20, dtype=torch.bool), entity_labels=IS_ENTITY, unk_id=1)
    assert TaggerTask.drop_words(task, b).tolist() == [[1, 1, 7], [8, 9, 0]]
    task.recipe.embed.entity_dropout = 0.0
    assert TaggerTask.drop_words(task, b).tolist() == [[5, 6, 7], [8, 9, 0]]


@pytest.mark.parametrize("value", [1.0, -0.1])
def test_entity_dropout_out_of_range_is_refused(value):
    recipe = Recipe()
    recipe.embed.entity_dropout = value
    with pytest.raises(TaggerError, match="embed.entity_dropout"):
        check_recipe(recipe)
