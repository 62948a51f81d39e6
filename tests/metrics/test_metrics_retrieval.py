"""Mean pooling, Tatoeba accuracy, BUCC margin mining, threshold selection and F1."""

import math

import numpy as np
import pytest
import torch

from sweeper.metrics import retrieval
from sweeper.metrics.retrieval import (
    ScoredPair,
    apply_threshold,
    best_threshold,
    bucc_f1,
    l2_normalize,
    mean_pool,
    mine_pairs,
    ratio_margin_scores,
    tatoeba_accuracy,
)


def unit(*degrees):
    """2-D unit vectors at the given angles."""
    return np.array([[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in degrees])


# --- pooling ----------------------------------------------------------------------------------

HIDDEN = [[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [0.0, 0.0], [9.0, 9.0]]]
MASK = [[1, 1, 0], [1, 0, 0]]
POOLED = [[2.0, 3.0], [5.0, 6.0]]


def test_mean_pool_ignores_padding_numpy():
    np.testing.assert_allclose(mean_pool(np.array(HIDDEN), np.array(MASK)), POOLED)


def test_mean_pool_ignores_padding_torch():
    pooled = mean_pool(torch.tensor(HIDDEN), torch.tensor(MASK))
    assert isinstance(pooled, torch.Tensor)
    torch.testing.assert_close(pooled, torch.tensor(POOLED))


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        ([[1, 1, 0], [0, 0, 0]], r"rows \[1\] mask every token"),
        ([[1, 1], [1, 0]], "does not match"),
        ([1, 1, 1], r"must have shape \(batch, seq, dim\)"),
    ],
)
def test_mean_pool_rejects_bad_masks(mask, message):
    with pytest.raises(ValueError, match=message):
        mean_pool(np.array(HIDDEN), np.array(mask))


def test_l2_normalize():
    np.testing.assert_allclose(l2_normalize(np.array([[3.0, 4.0]])), [[0.6, 0.8]])


def test_l2_normalize_rejects_zero_rows():
    with pytest.raises(ValueError, match=r"rows \[1\] are zero"):
        l2_normalize(np.array([[1.0, 0.0], [0.0, 0.0]]))


# --- Tatoeba ----------------------------------------------------------------------------------

# source 2 (at 10°) is nearest to target 0 (at 5°), not to its gold target 2 (at 180°)
TATOEBA_SOURCE = unit(0, 90, 10)
TATOEBA_TARGET = unit(5, 85, 180) * np.array([[1.0], [100.0], [1.0]])  # norms must not matter


def test_tatoeba_accuracy_with_row_aligned_gold():
    result = tatoeba_accuracy(TATOEBA_SOURCE, TATOEBA_TARGET)
    assert result.predictions.tolist() == [0, 1, 0]
    assert result.accuracy == pytest.approx(200 / 3)


def test_tatoeba_accuracy_with_explicit_gold():
    assert tatoeba_accuracy(TATOEBA_SOURCE, TATOEBA_TARGET, gold=[0, 1, 0]).accuracy == 100.0


@pytest.mark.parametrize(
    ("target", "gold", "message"),
    [
        (unit(0, 90, 10)[:, :1], None, "dim 2 but `target_embeddings` 1"),
        (TATOEBA_TARGET, [0, 1], "one target index per source sentence"),
        (TATOEBA_TARGET, [0, 1, 3], r"must lie in \[0, 3\)"),
        (np.zeros((0, 2)), None, "`target_embeddings` must have shape"),
    ],
)
def test_tatoeba_rejects_bad_inputs(target, gold, message):
    with pytest.raises(ValueError, match=message):
        tatoeba_accuracy(TATOEBA_SOURCE, target, gold=gold)


# --- BUCC mining ------------------------------------------------------------------------------


def test_ratio_margin_hand_computed():
    # sources at 0°, 90°; targets at 10°, 80°, 45°; k = 2
    forward, backward = ratio_margin_scores(unit(0, 90), unit(10, 80, 45), k=2)
    cos = lambda degrees: math.cos(math.radians(degrees))  # noqa: E731
    source_mean = (cos(10) + cos(45)) / 2  # both sources
    target_mean = [(cos(10) + cos(80)) / 2, (cos(10) + cos(80)) / 2, cos(45)]
    assert forward.indices.tolist() == [[0, 2], [1, 2]]
    np.testing.assert_allclose(
        forward.scores[0],
        [
            cos(10) / ((source_mean + target_mean[0]) / 2),
            cos(45) / ((source_mean + target_mean[2]) / 2),
        ],
    )
    # k is capped at the 2 sources for the backward direction
    assert backward.indices.shape == (3, 2)
    np.testing.assert_allclose(
        backward.scores[0],
        [
            cos(10) / ((target_mean[0] + source_mean) / 2),
            cos(80) / ((target_mean[0] + source_mean) / 2),
        ],
    )


def test_ratio_margin_matches_brute_force_formula_across_blocks(monkeypatch):
    monkeypatch.setattr(retrieval, "_BLOCK_ELEMENTS", 7)  # many one-row blocks
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(6, 5)), rng.normal(size=(9, 5))
    forward, backward = ratio_margin_scores(source, target, k=4)

    cos = l2_normalize(source) @ l2_normalize(target).T
    source_mean = np.sort(cos, axis=1)[:, -4:].mean(axis=1)
    target_mean = np.sort(cos, axis=0)[-4:, :].mean(axis=0)
    margin = cos / ((source_mean[:, None] + target_mean[None, :]) / 2)
    np.testing.assert_array_equal(forward.indices, np.argsort(-cos, axis=1)[:, :4])
    np.testing.assert_allclose(forward.scores, np.take_along_axis(margin, forward.indices, axis=1))
    np.testing.assert_allclose(backward.scores, np.take_along_axis(margin.T, backward.indices, axis=1))


# sources at 0°, 25°; targets at 10°, 90°; k = 1. Both sources propose target 0; target 1
# proposes source 1 (backward), which is how source 1 gets a partner.
MINING_SOURCE, MINING_TARGET = unit(0, 25), unit(10, 90)


def test_mine_pairs_is_greedy_one_to_one_over_both_directions():
    cos = lambda degrees: math.cos(math.radians(degrees))  # noqa: E731
    pairs = mine_pairs(MINING_SOURCE, MINING_TARGET, k=1)
    assert [(pair.source, pair.target) for pair in pairs] == [(0, 0), (1, 1)]
    assert pairs[0].score == pytest.approx(1.0)
    assert pairs[1].score == pytest.approx(cos(65) / ((cos(65) + cos(15)) / 2))


def test_mine_pairs_drops_pairs_not_above_min_score():
    assert [tuple(p[:2]) for p in mine_pairs(MINING_SOURCE, MINING_TARGET, k=1, min_score=0.9)] == [(0, 0)]


def test_mine_pairs_rejects_bad_k():
    with pytest.raises(ValueError, match="`k` must be >= 1"):
        mine_pairs(MINING_SOURCE, MINING_TARGET, k=0)


# --- BUCC threshold and F1 --------------------------------------------------------------------

DEV_PAIRS = [
    ScoredPair(0, 0, 0.9),
    ScoredPair(1, 1, 0.8),
    ScoredPair(2, 5, 0.7),
    ScoredPair(3, 3, 0.6),
    ScoredPair(4, 9, 0.5),
]
DEV_GOLD = {(0, 0), (1, 1), (3, 3), (7, 7)}


def test_best_threshold_maximizes_dev_f1():
    # prefix F1: 0.4, 0.667, 0.571, 0.75 (best: first four), 0.667 -> midpoint of 0.6 and 0.5
    assert best_threshold(DEV_PAIRS, DEV_GOLD) == pytest.approx(0.55)


def test_dev_f1_at_best_threshold():
    kept = apply_threshold(DEV_PAIRS, 0.55)
    assert kept == {(0, 0), (1, 1), (2, 5), (3, 3)}
    assert bucc_f1(kept, DEV_GOLD) == pytest.approx({"precision": 75, "recall": 75, "f1": 75})


def test_threshold_applied_to_test_keeps_scores_at_or_above_it():
    test_pairs = [ScoredPair(0, 0, 0.6), ScoredPair(1, 2, 0.55), ScoredPair(2, 2, 0.54)]
    kept = apply_threshold(test_pairs, 0.55)
    assert kept == {(0, 0), (1, 2)}
    assert bucc_f1(kept, {(0, 0), (2, 2)}) == pytest.approx({"precision": 50, "recall": 50, "f1": 50})


def test_best_threshold_keeps_everything_when_the_whole_list_is_best():
    assert best_threshold([ScoredPair(0, 0, 0.9), ScoredPair(1, 1, 0.8)], {(0, 0), (1, 1)}) == 0.8


def test_best_threshold_is_zero_without_correct_candidate():
    assert best_threshold([ScoredPair(0, 1, 0.9)], {(0, 0)}) == 0.0


def test_repeated_pair_keeps_its_highest_score():
    assert apply_threshold([(0, 0, 0.2), (0, 0, 0.7)], 0.5) == {(0, 0)}


def test_bucc_f1_without_correct_pair_is_zero():
    assert bucc_f1({(0, 1)}, {(0, 0)}) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


@pytest.mark.parametrize("metric", [bucc_f1, best_threshold])
def test_empty_gold_is_rejected(metric):
    with pytest.raises(ValueError, match="`gold_pairs` is empty"):
        metric([], set())
