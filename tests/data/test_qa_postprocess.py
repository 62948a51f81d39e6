"""Tests of :func:`sweeper.data.qa_postprocess.postprocess_qa_predictions`.

Most tests use hand-built windows and logits, so each rule of HF ``utils_qa.py`` is checked on
its own; the last ones run real XQuAD/TyDiQA examples through the real XLM-R tokenizer's
features and back.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from sweeper.data.features.qa import prepare_qa_eval_features, prepare_qa_train_features
from sweeper.data.formats import read_examples
from sweeper.data.qa_postprocess import postprocess_qa_predictions

DATA_DIR = Path(os.environ.get("SWEEPER_DATA_DIR", "/work/shared/data"))

CONTEXT = "The quick brown fox jumps over the lazy dog"
#          0   4     10    16  20    26   31  35   40
# Window layout: <s> question </s> </s> context... </s>; question and special tokens have no offsets.
WINDOW = [None, None, None, None, (0, 3), (4, 9), (10, 15), (16, 19), (20, 25), (26, 30), None]
SEQ_LEN = len(WINDOW)
EXAMPLE = {"id": "e1", "context": CONTEXT}


def logits(peaks: dict[int, float], seq_len: int = SEQ_LEN) -> np.ndarray:
    row = np.zeros(seq_len, dtype=np.float32)
    for index, value in peaks.items():
        row[index] = value
    return row


def predict(starts: list[np.ndarray], ends: list[np.ndarray], windows=None, examples=None, **kwargs):
    windows = windows or [WINDOW] * len(starts)
    features = {"example_id": ["e1"] * len(windows), "offset_mapping": windows}
    return postprocess_qa_predictions(examples or [EXAMPLE], features, np.stack(starts), np.stack(ends), **kwargs)


def test_picks_the_span_with_the_highest_start_plus_end_logit() -> None:
    predictions, null_diffs = predict([logits({5: 3.0, 8: 2.5})], [logits({6: 2.0, 9: 3.0})])
    assert predictions == {"e1": "quick brown fox jumps over"}  # 3.0 + 3.0 beats 3.0 + 2.0 and 2.5 + 3.0
    assert null_diffs == {}


def test_question_and_special_tokens_never_bound_an_answer() -> None:
    predictions, _ = predict([logits({1: 9.0, 0: 8.0, 10: 8.0, 7: 1.0})], [logits({2: 9.0, 10: 9.0, 7: 1.0})])
    assert predictions == {"e1": "fox"}


def test_spans_ending_before_they_start_are_skipped() -> None:
    predictions, _ = predict([logits({8: 5.0, 4: 1.0})], [logits({5: 5.0, 9: 0.5})])
    # (8, 5) would score 10 but runs backwards; (4, 5) = 6 beats (8, 9) = 5.5.
    assert predictions == {"e1": "The quick"}


def test_spans_longer_than_max_answer_length_are_skipped() -> None:
    starts, ends = [logits({4: 5.0, 6: 3.0, 8: 1.0})], [logits({9: 5.0, 8: 1.0})]
    assert predict(starts, ends)[0] == {"e1": "The quick brown fox jumps over"}  # 6 tokens, 10
    assert predict(starts, ends, max_answer_length=5)[0] == {"e1": "brown fox jumps over"}  # 8
    assert predict(starts, ends, max_answer_length=2)[0] == {"e1": "jumps over"}  # 6


def test_only_the_n_best_starts_and_ends_are_paired() -> None:
    starts = [logits({1: 9.0, 2: 8.0, 6: 1.0})]  # question tokens hold the two best starts
    ends = [logits({6: 1.0})]
    assert predict(starts, ends, n_best_size=3)[0] == {"e1": "brown"}
    assert predict(starts, ends, n_best_size=2)[0] == {"e1": ""}


def test_padding_beyond_a_window_is_never_picked() -> None:
    padded = SEQ_LEN + 5
    starts = [logits({SEQ_LEN + 1: 50.0, 5: 1.0}, padded)]
    ends = [logits({SEQ_LEN + 2: 50.0, 5: 1.0}, padded)]
    assert predict(starts, ends)[0] == {"e1": "quick"}


def test_the_best_span_over_all_windows_of_an_example_wins() -> None:
    second_window = [None, None, None, None, (20, 25), (26, 30), (31, 34), (35, 39), (40, 43), None, None]
    starts = [logits({5: 2.0}), logits({6: 4.0})]
    ends = [logits({6: 2.0}), logits({8: 4.0})]
    predictions, _ = predict(starts, ends, windows=[WINDOW, second_window])
    assert predictions == {"e1": "the lazy dog"}


def test_null_answer_competes_through_the_threshold() -> None:
    starts, ends = [logits({0: 4.0, 5: 2.0})], [logits({0: 4.0, 6: 2.0})]
    predictions, null_diffs = predict(starts, ends, version_2_with_negative=True)
    assert predictions == {"e1": ""} and null_diffs == {"e1": pytest.approx(4.0)}  # 8 - 4
    predictions, _ = predict(starts, ends, version_2_with_negative=True, null_score_diff_threshold=4.5)
    assert predictions == {"e1": "quick brown"}
    starts, ends = [logits({0: 1.0, 5: 2.0})], [logits({0: 1.0, 6: 2.0})]
    predictions, null_diffs = predict(starts, ends, version_2_with_negative=True)
    assert predictions == {"e1": "quick brown"} and null_diffs == {"e1": pytest.approx(-2.0)}


def test_null_score_is_the_lowest_cls_score_over_windows() -> None:
    starts = [logits({0: 9.0, 5: 2.0}), logits({0: 1.0})]
    ends = [logits({0: 9.0, 6: 2.0}), logits({0: 1.0})]
    predictions, null_diffs = predict(starts, ends, windows=[WINDOW, WINDOW], version_2_with_negative=True)
    assert predictions == {"e1": "quick brown"} and null_diffs == {"e1": pytest.approx(2.0 - 4.0)}


def test_no_valid_span_predicts_the_empty_answer() -> None:
    only_question = [None, None, None, None, None, None, None, None, None, None, None]
    predictions, null_diffs = predict(
        [logits({5: 1.0})], [logits({6: 1.0})], windows=[only_question], version_2_with_negative=True
    )
    assert predictions == {"e1": ""} and math.isinf(null_diffs["e1"])


def test_inputs_that_do_not_match_are_rejected() -> None:
    start, end = logits({5: 1.0}), logits({6: 1.0})
    with pytest.raises(ValueError, match="logits for 2 features but 1 features"):
        predict([start, start], [end, end], windows=[WINDOW])
    with pytest.raises(ValueError, match="must both have shape"):
        postprocess_qa_predictions([EXAMPLE], {"example_id": ["e1"], "offset_mapping": [WINDOW]}, start[None], end)
    with pytest.raises(ValueError, match="seq_len 5 but a feature has 11 tokens"):
        predict([start[:5]], [end[:5]])
    with pytest.raises(ValueError, match="not in `examples`"):
        predict([start], [end], examples=[{"id": "other", "context": CONTEXT}])
    with pytest.raises(ValueError, match="'e2' has no feature"):
        predict([start], [end], examples=[EXAMPLE, {"id": "e2", "context": CONTEXT}])
    with pytest.raises(ValueError, match="n_best_size"):
        predict([start], [end], n_best_size=0)


# --------------------------------------------------------------------------------------------
# Real features and back


@pytest.fixture(scope="session")
def tokenizer(xlmr_tokenizer) -> PreTrainedTokenizerBase:
    """The real XLM-R tokenizer (shared session build, tests/conftest.py)."""
    return xlmr_tokenizer


@pytest.fixture(scope="module")
def real_examples() -> list[dict]:
    paths = [
        DATA_DIR / "xtreme/xquad/xquad.zh.json",
        DATA_DIR / "xtreme/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.en.dev.json",
    ]
    if not all(path.exists() for path in paths):
        pytest.skip(f"real data files not available: {paths}")
    return [example for path in paths for example in read_examples("squad_json", path)[:150]]


def gold_logits(train: dict, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits that put all mass on each window's labelled start/end token (CLS when outside)."""
    starts = np.zeros((len(train["input_ids"]), seq_len), dtype=np.float32)
    ends = np.zeros_like(starts)
    rows = np.arange(len(starts))
    starts[rows, train["start_positions"]] = 10.0
    ends[rows, train["end_positions"]] = 10.0
    return starts, ends


def test_gold_token_logits_give_back_the_gold_answers(tokenizer, real_examples) -> None:
    train = prepare_qa_train_features(real_examples, tokenizer, max_seq_length=192, doc_stride=64)
    features = Dataset.from_dict(prepare_qa_eval_features(real_examples, tokenizer, max_seq_length=192, doc_stride=64))
    assert len(features) > len(real_examples)  # some examples span several windows
    starts, ends = gold_logits(train, seq_len=192 + 8)  # logits padded past the longest window
    # Some TyDiQA answers are longer than the default 30 tokens.
    predictions, _ = postprocess_qa_predictions(real_examples, features, starts, ends, max_answer_length=192)
    exact = 0
    for example in real_examples:
        gold = example["answers"]["text"][0]
        assert gold in predictions[example["id"]]  # a piece may hold more than the answer
        exact += predictions[example["id"]] == gold
    assert exact / len(real_examples) >= 0.9


def test_unanswerable_examples_predict_the_empty_answer(tokenizer, real_examples) -> None:
    examples = [
        {**example, "answers": {"text": [], "answer_start": []}} if i % 2 else example
        for i, example in enumerate(real_examples[:40])
    ]
    train = prepare_qa_train_features(examples, tokenizer, max_seq_length=128, doc_stride=32)
    features = prepare_qa_eval_features(examples, tokenizer, max_seq_length=128, doc_stride=32)
    starts, ends = gold_logits(train, seq_len=128)
    predictions, null_diffs = postprocess_qa_predictions(examples, features, starts, ends, version_2_with_negative=True)
    for i, example in enumerate(examples):
        if i % 2:
            assert predictions[example["id"]] == "" and null_diffs[example["id"]] > 0
        else:
            assert example["answers"]["text"][0] in predictions[example["id"]]
            assert null_diffs[example["id"]] < 0
