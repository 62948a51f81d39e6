"""LogME features per task type (sweeper.task_types.ranking) on real rows of the offline data,
through the tiny XLM-R: one row per example / first sub-word / window token, the targets each
adaptation promises, and a finite LogME."""

from __future__ import annotations

import math

import numpy as np
import pytest
from transformers import AutoModel, AutoTokenizer

from sweeper.config import TrainingConfig
from sweeper.data.sources import load_split, resolve_labels
from sweeper.registry import get_task
from sweeper.task_types import get_task_type
from sweeper.task_types.ranking import logme_score, logme_statistics, supports_logme

SETTINGS = TrainingConfig(max_seq_length=64, doc_stride=32, max_query_length=24, per_device_eval_batch_size=8)


@pytest.fixture(scope="module")
def encoder(tiny_dir):
    return AutoModel.from_pretrained(tiny_dir), AutoTokenizer.from_pretrained(tiny_dir)


def _statistics(task, encoder, data_dir, limit, split="train"):
    model, tokenizer = encoder
    spec = resolve_labels(get_task(task), data_dir)
    examples = load_split(spec, split, data_dir, "en", limit)
    return spec, examples, logme_statistics(model, tokenizer, spec, examples, SETTINGS)


def test_tagging_rows_are_first_subwords(encoder, data_dir):
    spec, examples, statistics = _statistics("udpos", encoder, data_dir, 12)
    words = sum(min(len(example["tokens"]), 64) for example in examples)
    # one row per word that keeps its first sub-word within max_seq_length (a few long sentences lose words)
    assert 0.8 * words <= statistics.count <= words
    assert statistics.cross.shape[1] == len(spec.labels)
    # one-hot targets: each row has exactly one tag, so Σ over columns of Σ y² is the row count
    assert statistics.target_squares.sum() == statistics.count


def test_span_qa_rows_are_window_tokens_with_one_start_and_end(encoder, data_dir):
    spec, examples, statistics = _statistics("tydiqa", encoder, data_dir, 6)
    tokenizer = encoder[1]
    windows = get_task_type("span_qa").train_features(examples, tokenizer, spec, SETTINGS)
    assert statistics.count == sum(len(window["input_ids"]) for window in windows)
    # exactly one start and one end token per window
    np.testing.assert_array_equal(statistics.target_squares, [len(windows), len(windows)])


def test_classification_rows_are_examples(encoder, data_dir):
    spec, examples, statistics = _statistics("anli", encoder, data_dir, 10, "dev")  # ANLI offline: dev rounds only
    assert statistics.count == len(examples) == 10
    np.testing.assert_array_equal(
        statistics.target_squares, [sum(example["label"] == label for example in examples) for label in spec.labels]
    )


def test_logme_score_is_finite_and_retrieval_is_not_supported(encoder, data_dir):
    model, tokenizer = encoder
    spec = resolve_labels(get_task("panx"), data_dir)
    score = logme_score(model, tokenizer, spec, load_split(spec, "train", data_dir, "en", 8), SETTINGS)
    assert math.isfinite(score)
    assert not supports_logme(get_task("tatoeba"))
    with pytest.raises(ValueError, match="dev metric"):
        logme_statistics(model, tokenizer, get_task("tatoeba"), [], SETTINGS)


def test_multiple_choice_rows_are_choices(encoder, data_dir):
    _, examples, statistics = _statistics("cosmosqa", encoder, data_dir, 4, "dev")
    assert statistics.count == sum(len(example["choices"]) for example in examples)
    np.testing.assert_array_equal(statistics.target_squares, [len(examples)])  # one gold choice each
