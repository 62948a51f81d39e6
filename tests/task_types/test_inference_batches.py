"""Inference batches (length_sorted_batches): on a GPU by a token budget (short features in larger
batches, no batch more tokens than ``batch_size`` features of the longest length), on the CPU by
count; and predict_logits gives every feature the outputs it gets alone, in the order of the
features, on a real model."""

import numpy as np
import pytest
from transformers import AutoModelForTokenClassification, AutoTokenizer

from sweeper.config import TrainingConfig
from sweeper.data.sources import load_split
from sweeper.registry import get_task
from sweeper.task_types import get_task_type
from sweeper.task_types.base import feature_rows, length_sorted_batches, predict_logits


def test_short_features_share_larger_batches_within_the_longest_features_budget():
    lengths = [10] * 100 + [100] * 10 + [40] * 7
    batches = length_sorted_batches(lengths, batch_size=8, by_tokens=True)
    assert sorted(index for batch in batches for index in batch) == list(range(len(lengths)))
    # 80 of 10 tokens; 20 of 10 (21 x 40 > 800); 7 of 40 + 1 of 100 (8 x 100 = 800); 8 of 100; 1 of 100
    assert [len(batch) for batch in batches] == [80, 20, 8, 8, 1]
    for batch in batches:
        assert len(batch) * max(lengths[index] for index in batch) <= 8 * 100
    flat = [lengths[index] for batch in batches for index in batch]
    assert flat == sorted(flat), "shortest first"


def test_on_the_cpu_batches_hold_batch_size_features_shortest_first():
    lengths = [30, 10, 20, 10, 50]
    assert length_sorted_batches(lengths, batch_size=2, by_tokens=False) == [[1, 3], [2, 0], [4]]


@pytest.mark.parametrize("by_tokens", [True, False])
@pytest.mark.parametrize("lengths", [[], [5], [0, 0, 3]])
def test_edge_cases_keep_every_feature_once(lengths, by_tokens):
    batches = length_sorted_batches(lengths, batch_size=2, by_tokens=by_tokens)
    assert sorted(index for batch in batches for index in batch) == list(range(len(lengths)))
    assert all(batches)


def test_predictions_do_not_depend_on_how_features_are_batched(tiny_dir, data_dir):
    spec = get_task("panx")
    task_type = get_task_type(spec.task_type)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForTokenClassification.from_pretrained(tiny_dir, **task_type.model_kwargs(spec))
    examples = load_split(spec, "dev", data_dir, "de", 40)
    features = feature_rows(task_type.prediction_features(examples, tokenizer, spec, TrainingConfig(max_seq_length=64), "de"))
    collator = task_type.collator(tokenizer)
    (batched,) = predict_logits(model, features, collator, 4, ("logits",), per_token=True)
    (alone,) = predict_logits(model, features, collator, 1, ("logits",), per_token=False)
    assert len(batched) == len(features)
    for feature, batch_logits, alone_logits in zip(features, batched, alone):
        assert batch_logits.shape == (len(feature["input_ids"]), len(spec.labels))
        np.testing.assert_allclose(batch_logits, alone_logits[: len(feature["input_ids"])], atol=1e-4)
