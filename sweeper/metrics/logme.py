"""LogME: the log maximum evidence of a Bayesian linear model of labels on frozen features.

Source: You, Liu, Wang, Long, "LogME: Practical Assessment of Pre-trained Models for Transfer
Learning", ICML 2021 (Algorithm 1), with the fixed-point update of You et al., "Ranking and Tuning
Pre-trained Models: A New Paradigm for Exploiting Model Hubs", JMLR 2022 (arXiv 2110.10545), as
in the authors' reference implementation (github.com/thuml/LogME, ``LogME.py``,
``LogME._fit_fixed_point``, the default ``_fit``).

Model, for one target column ``y`` (N values) and features ``F`` (N × D): ``w ~ N(0, α⁻¹ I_D)``,
``y | F, w ~ N(F w, β⁻¹ I_N)``. The evidence ``p(y | F, α, β)`` is a Gaussian with covariance
``β⁻¹ I + α⁻¹ F Fᵀ``; with ``A = α I + β FᵀF`` and ``m = β A⁻¹ Fᵀ y`` its log is::

    L(α, β) = D/2 log α + N/2 log β − N/2 log 2π − β/2 ‖F m − y‖² − α/2 mᵀm − 1/2 log|A|

LogME maximizes ``L`` over α, β by the fixed point ``t = α/β``, ``γ = Σ σᵢ/(σᵢ + t)``,
``α ← γ / mᵀm``, ``β ← (N − γ) / ‖F m − y‖²`` (σᵢ: eigenvalues of FᵀF), starting from
α = β = 1, at most 11 iterations, stopping when ``t`` moves by at most 10⁻³ relatively, with the
reference's 10⁻⁵ guard in both denominators; and reports ``L / N``. A classification task with C
classes is scored as the mean over its one-hot columns.

Only the sufficient statistics ``FᵀF`` (D × D), ``FᵀY`` (D × C), ``Σ y²`` per column and N are
needed, so features are accumulated in batches (:class:`LogMEAccumulator`) and never held at
once: token-level tasks give hundreds of thousands of rows. This is the reference's
``truncated_svd`` route (an SVD of ``FᵀF``), which it takes when N > D.

Two deliberate differences from the reference, neither of which changes the fixed point:

* ``log|A|`` counts the ``D − k`` zero eigenvalues of FᵀF (k = rank, e.g. when N < D) as
  ``(D − k) log α``; the reference sums ``log(α + β σᵢ)`` over the k nonzero ones only, which
  leaves out that term whenever N < D.
* ``L`` is evaluated at the final (α, β) with its own ``m``; the reference evaluates it with the
  ``m`` of the previous iterate. Both agree to the iteration's tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_ITERATIONS = 11
"""Fixed-point iterations at most (the reference: ``for _ in range(11)``)."""

TOLERANCE = 1e-3
"""Stop when ``|t_new − t| / t`` is at most this (the reference's ``1e-3``)."""

_GUARD = 1e-5
"""Added to ``mᵀm`` and ``‖F m − y‖²`` in the updates (the reference's ``+ 1e-5``)."""


@dataclass(frozen=True)
class Evidence:
    """The maximized evidence of one target column.

    Attributes:
        log_evidence: ``L(α, β) / N`` at the fixed point (nats per example; higher is better).
        alpha: prior precision α of the weights. beta: noise precision β.
        iterations: fixed-point iterations run.
    """

    log_evidence: float
    alpha: float
    beta: float
    iterations: int


class LogMEAccumulator:
    """Sufficient statistics of (features, targets) rows, added in batches.

    Args:
        dim: feature dimension D. num_targets: target columns C (classes, after one-hot).
    """

    def __init__(self, dim: int, num_targets: int):
        if dim < 1 or num_targets < 1:
            raise ValueError(f"dim and num_targets must be positive, got {dim} and {num_targets}")
        self.gram = np.zeros((dim, dim))
        self.cross = np.zeros((dim, num_targets))
        self.target_squares = np.zeros(num_targets)
        self.count = 0

    def add(self, features: np.ndarray, targets: np.ndarray) -> None:
        """Add rows.

        Args:
            features: (n, D) floats. targets: (n, C) floats (one-hot columns for classes).

        Raises:
            ValueError: shapes do not match the accumulator's or each other.
        """
        features = np.asarray(features, dtype=np.float64)
        targets = np.asarray(targets, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.gram.shape[0]:
            raise ValueError(f"features must have shape (n, {self.gram.shape[0]}), got {features.shape}")
        if targets.shape != (features.shape[0], self.cross.shape[1]):
            raise ValueError(f"targets must have shape ({features.shape[0]}, {self.cross.shape[1]}), got {targets.shape}")
        self.gram += features.T @ features
        self.cross += features.T @ targets
        self.target_squares += (targets**2).sum(axis=0)
        self.count += features.shape[0]

    def evidences(self, max_iterations: int = MAX_ITERATIONS, tolerance: float = TOLERANCE) -> list[Evidence]:
        """The maximized evidence of each target column (see the module docstring).

        Raises:
            ValueError: fewer than two rows were added.
        """
        spectrum = _Spectrum.of(self)
        return [spectrum.maximize(column, max_iterations, tolerance) for column in range(self.cross.shape[1])]

    def evidence_at(self, alpha: float, beta: float) -> list[float]:
        """``L(α, β) / N`` of each target column at fixed α, β (no maximization)."""
        spectrum = _Spectrum.of(self)
        return [spectrum.log_evidence(column, alpha, beta) for column in range(self.cross.shape[1])]


@dataclass(frozen=True)
class _Spectrum:
    """FᵀF's nonzero eigenvalues σ (k), the squared projections x² of each target on the
    corresponding left singular vectors (k × C), the targets' residual outside F's column space
    (C), N and D."""

    sigma: np.ndarray
    projections: np.ndarray
    residual: np.ndarray
    count: int
    dim: int

    @classmethod
    def of(cls, statistics: LogMEAccumulator) -> _Spectrum:
        if statistics.count < 2:
            raise ValueError(f"LogME needs at least 2 rows, got {statistics.count}")
        eigenvalues, vectors = np.linalg.eigh(statistics.gram)
        # FᵀF's rank: the eigenvalues above the float64 round-off of the largest one.
        keep = eigenvalues > max(eigenvalues.max(), 0.0) * eigenvalues.size * np.finfo(np.float64).eps
        sigma = eigenvalues[keep]
        # uᵢ = F vᵢ / √σᵢ, so uᵢᵀy = vᵢᵀ(Fᵀy) / √σᵢ.
        projections = (vectors[:, keep].T @ statistics.cross) ** 2 / sigma[:, None]
        residual = np.maximum(statistics.target_squares - projections.sum(axis=0), 0.0)
        return cls(sigma, projections, residual, statistics.count, statistics.gram.shape[0])

    def _fit_terms(self, column: int, t: float) -> tuple[float, float, float]:
        """γ, mᵀm and ‖F m − y‖² at ``t = α/β``."""
        sigma, x2 = self.sigma, self.projections[:, column]
        gamma = float((sigma / (sigma + t)).sum())
        weight_norm = float((sigma * x2 / (t + sigma) ** 2).sum())
        residual = float((x2 / (1 + sigma / t) ** 2).sum() + self.residual[column])
        return gamma, weight_norm, residual

    def log_evidence(self, column: int, alpha: float, beta: float) -> float:
        _, weight_norm, residual = self._fit_terms(column, alpha / beta)
        n, d, k = self.count, self.dim, self.sigma.size
        log_det = float(np.log(alpha + beta * self.sigma).sum()) + (d - k) * math.log(alpha)
        evidence = (
            d / 2 * math.log(alpha)
            + n / 2 * math.log(beta)
            - log_det / 2
            - beta / 2 * residual
            - alpha / 2 * weight_norm
            - n / 2 * math.log(2 * math.pi)
        )
        return evidence / n

    def maximize(self, column: int, max_iterations: int, tolerance: float) -> Evidence:
        alpha, beta, iterations = 1.0, 1.0, 0
        while iterations < max_iterations:
            iterations += 1
            t = alpha / beta
            gamma, weight_norm, residual = self._fit_terms(column, t)
            alpha = gamma / (weight_norm + _GUARD)
            beta = (self.count - gamma) / (residual + _GUARD)
            if abs(alpha / beta - t) / t <= tolerance:
                break
        return Evidence(self.log_evidence(column, alpha, beta), alpha, beta, iterations)


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(n,) integer labels in [0, num_classes) → (n, num_classes) 0/1 floats.

    Raises:
        ValueError: a label outside [0, num_classes).
    """
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    return (labels[:, None] == np.arange(num_classes)[None, :]).astype(np.float64)


def logme(features: np.ndarray, targets: np.ndarray, **fixed_point) -> float:
    """LogME of a feature matrix for targets: the mean over target columns of the maximized
    ``L / N`` (the reference's ``LogME.fit``; classification: pass :func:`one_hot` labels).

    Args:
        features: (N, D). targets: (N, C) floats, or (N,) for one column.
        fixed_point: ``max_iterations``, ``tolerance`` (defaults: the reference's).

    Raises:
        ValueError: shapes do not match; fewer than two rows.
    """
    features = np.asarray(features, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if targets.ndim == 1:
        targets = targets[:, None]
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D (N, D) array, got shape {features.shape}")
    accumulator = LogMEAccumulator(features.shape[1], targets.shape[1])
    accumulator.add(features, targets)
    return float(np.mean([evidence.log_evidence for evidence in accumulator.evidences(**fixed_point)]))
