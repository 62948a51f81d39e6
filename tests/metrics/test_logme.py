"""LogME against values worked out by hand, and its invariants.

Notation of :mod:`sweeper.metrics.logme`: the evidence of targets ``y`` (N) given features
``F`` (N × D) is the Gaussian ``y ~ N(0, C)`` with ``C = β⁻¹ I + α⁻¹ F Fᵀ``, so
``log p = −N/2 log 2π − 1/2 log|C| − 1/2 yᵀ C⁻¹ y``; LogME reports ``max log p / N``.
"""

import math

import numpy as np
import pytest

from sweeper.metrics.logme import LogMEAccumulator, logme, one_hot

TIGHT = {"max_iterations": 1000, "tolerance": 1e-12}


def evidence_at(features, targets, alpha, beta):
    accumulator = LogMEAccumulator(np.shape(features)[1], 1)
    accumulator.add(np.asarray(features, dtype=float), np.asarray(targets, dtype=float).reshape(-1, 1))
    (value,) = accumulator.evidence_at(alpha, beta)
    return value


def test_evidence_by_hand_one_feature_alpha_beta_one():
    """F = x = (1, 2)ᵀ, y = (1, 0), α = β = 1.

    C = I + x xᵀ = [[2, 2], [2, 5]], |C| = 6, C⁻¹ = 1/6 [[5, −2], [−2, 2]], yᵀC⁻¹y = 5/6, so
    log p = −log 2π − 1/2 log 6 − 5/12 and LogME's L/N is half that (N = 2).
    Same from the weight-space form: A = α + β xᵀx = 6, m = β xᵀy / A = 1/6,
    ‖x m − y‖² = (5/6)² + (1/3)² = 29/36, mᵀm = 1/36:
    L = 0 + 0 − log 2π − 29/72 − 1/72 − 1/2 log 6, the same number.
    """
    expected = (-math.log(2 * math.pi) - 0.5 * math.log(6) - 5 / 12) / 2
    assert evidence_at([[1.0], [2.0]], [1.0, 0.0], 1.0, 1.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(-1.5752118, abs=1e-6)


def test_evidence_by_hand_one_feature_alpha_two_beta_three():
    """F = x = (1, 2)ᵀ, y = (1, 0), α = 2, β = 3.

    C = 1/3 I + 1/2 x xᵀ = [[5/6, 1], [1, 7/3]], |C| = 35/18 − 1 = 17/18,
    C⁻¹ = 18/17 [[7/3, −1], [−1, 5/6]], yᵀC⁻¹y = 18/17 · 7/3 = 42/17, so
    log p = −log 2π − 1/2 log(17/18) − 21/17.
    """
    expected = (-math.log(2 * math.pi) - 0.5 * math.log(17 / 18) - 21 / 17) / 2
    assert evidence_at([[1.0], [2.0]], [1.0, 0.0], 2.0, 3.0) == pytest.approx(expected, rel=1e-12)


def test_maximum_evidence_one_feature_in_closed_form():
    """F = x = (1, 2, 2)ᵀ, y = (1, 2, 3): the maximum over α, β in closed form.

    C has eigenvalue a = β⁻¹ + α⁻¹ xᵀx along x̂ and β⁻¹ on the N − 1 = 2 directions orthogonal to
    it. With S = xᵀx = 9, b = xᵀy = 11, p = b²/S = 121/9 (energy of y along x̂) and
    R = yᵀy − p = 14 − 121/9 = 5/9 (the rest):
    log p = −N/2 log 2π − 1/2 log a − p/(2a) − (N−1)/2 log β⁻¹ − β R/2.
    a and β⁻¹ vary freely (α > 0 as long as a > β⁻¹), so the maximum is at a = p, β⁻¹ = R/(N−1):
    max log p = −3/2 log 2π − 1/2 log(121/9) − 1/2 − log(5/18) − 1 (here p > R/2 holds).
    The fixed point converges to it (up to the reference's 1e-5 guards).
    """
    expected = (-1.5 * math.log(2 * math.pi) - 0.5 * math.log(121 / 9) - 0.5 - math.log(5 / 18) - 1) / 3
    assert logme([[1.0], [2.0], [2.0]], [1.0, 2.0, 3.0], **TIGHT) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("shape", [(7, 3), (4, 6)])
def test_evidence_equals_the_gaussian_marginal(shape):
    """For D > N too (the zero eigenvalues of FᵀF count as (D − k) log α in log|A|)."""
    rng = np.random.default_rng(0)
    features, targets = rng.normal(size=shape), rng.normal(size=shape[0])
    alpha, beta = 0.7, 2.5
    covariance = np.eye(shape[0]) / beta + features @ features.T / alpha
    _, log_det = np.linalg.slogdet(covariance)
    marginal = -0.5 * (shape[0] * math.log(2 * math.pi) + log_det + targets @ np.linalg.solve(covariance, targets))
    assert evidence_at(features, targets, alpha, beta) == pytest.approx(marginal / shape[0], rel=1e-10)


def test_fixed_point_is_a_maximum():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(50, 4))
    targets = features @ np.array([1.0, -0.5, 0.0, 2.0]) + rng.normal(scale=0.8, size=50)
    accumulator = LogMEAccumulator(4, 1)
    accumulator.add(features, targets[:, None])
    (best,) = accumulator.evidences(**TIGHT)
    assert best.iterations < 1000
    for alpha_factor in (0.8, 1.0, 1.25):
        for beta_factor in (0.8, 1.0, 1.25):
            (nearby,) = accumulator.evidence_at(best.alpha * alpha_factor, best.beta * beta_factor)
            assert nearby <= best.log_evidence + 1e-9


def test_reference_defaults_stop_within_eleven_iterations():
    rng = np.random.default_rng(2)
    accumulator = LogMEAccumulator(5, 2)
    features = rng.normal(size=(200, 5))
    accumulator.add(features, one_hot(rng.integers(0, 2, 200), 2))
    assert all(1 <= evidence.iterations <= 11 for evidence in accumulator.evidences())


def test_invariant_to_rotating_and_scaling_features():
    """The marginal depends on F only through F Fᵀ/α: an orthogonal Q leaves F Fᵀ unchanged, and a
    scale c is absorbed by α' = c² α, so the maximum is the same."""
    rng = np.random.default_rng(3)
    features = rng.normal(size=(60, 3))
    labels = (features[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    base = logme(features, one_hot(labels, 2), **TIGHT)
    assert logme(features @ rotation, one_hot(labels, 2), **TIGHT) == pytest.approx(base, rel=1e-6)
    assert logme(10.0 * features, one_hot(labels, 2), **TIGHT) == pytest.approx(base, rel=1e-5)


def test_batches_add_up_to_one_matrix():
    rng = np.random.default_rng(4)
    features, targets = rng.normal(size=(30, 4)), one_hot(rng.integers(0, 3, 30), 3)
    batched = LogMEAccumulator(4, 3)
    batched.add(features[:10], targets[:10])
    batched.add(features[10:], targets[10:])
    assert np.mean([e.log_evidence for e in batched.evidences()]) == pytest.approx(logme(features, targets), rel=1e-12)


def test_informative_features_rank_above_noise():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 300)
    informative = one_hot(labels, 3) @ rng.normal(size=(3, 8)) + 0.5 * rng.normal(size=(300, 8))
    noise = rng.normal(size=(300, 8))
    assert logme(informative, one_hot(labels, 3)) > logme(noise, one_hot(labels, 3)) + 0.1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        one_hot(np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="at least 2 rows"):
        logme([[1.0, 2.0]], [1.0])
    with pytest.raises(ValueError, match="targets must have shape"):
        logme([[1.0], [2.0]], [[1.0], [2.0], [3.0]])
