"""Classification scores in [0, 100]: accuracy (XNLI, PAWS-X, MNLI, multiple choice), binary F1.

``labels`` are the gold classes and ``predictions`` the predicted ones, aligned by position; any
hashable class values work (ints, strings).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from sweeper.metrics._validation import check_non_empty, check_same_length


def _check_aligned(labels: Sequence[Hashable], predictions: Sequence[Hashable]) -> None:
    check_non_empty("labels", labels)
    check_same_length("labels", labels, "predictions", predictions)


def accuracy(labels: Sequence[Hashable], predictions: Sequence[Hashable]) -> float:
    """Share of examples whose prediction equals the label.

    Source: XTREME ``evaluate.py`` ``accuracy()`` (×100).

    Args:
        labels: gold classes, length N.
        predictions: predicted classes, length N.

    Returns:
        Accuracy in [0, 100].

    Raises:
        ValueError: ``labels`` is empty or the lengths differ.
    """
    _check_aligned(labels, predictions)
    correct = sum(gold == pred for gold, pred in zip(labels, predictions, strict=True))
    return 100.0 * correct / len(labels)


def binary_f1(labels: Sequence[Hashable], predictions: Sequence[Hashable], positive_label: Hashable = 1) -> float:
    """F1 of the positive class, as ``sklearn.metrics.f1_score`` (binary average) computes it.

    Source: GLUE QQP metric (jiant / HF ``acc_and_f1``); 0 when there is no true positive (the
    sklearn ``zero_division`` result).

    Args:
        labels: gold classes, length N.
        predictions: predicted classes, length N.
        positive_label: the class counted as positive (QQP: 1 = duplicate).

    Returns:
        F1 in [0, 100].

    Raises:
        ValueError: ``labels`` is empty or the lengths differ.
    """
    _check_aligned(labels, predictions)
    pairs = list(zip(labels, predictions, strict=True))
    true_positive = sum(gold == positive_label and pred == positive_label for gold, pred in pairs)
    if true_positive == 0:
        return 0.0
    predicted_positive = sum(pred == positive_label for _, pred in pairs)
    gold_positive = sum(gold == positive_label for gold, _ in pairs)
    return 100.0 * 2 * true_positive / (predicted_positive + gold_positive)


def accuracy_and_f1(
    labels: Sequence[Hashable], predictions: Sequence[Hashable], positive_label: Hashable = 1
) -> dict[str, float]:
    """Accuracy, binary F1 and their mean (the QQP model-selection metric).

    Source: jiant ``AccAndF1`` / HF GLUE ``acc_and_f1``.

    Args:
        labels: gold classes, length N.
        predictions: predicted classes, length N.
        positive_label: the class counted as positive for F1.

    Returns:
        ``{"accuracy": A, "f1": F1, "accuracy_and_f1": (A + F1) / 2}``, each in [0, 100].

    Raises:
        ValueError: ``labels`` is empty or the lengths differ.
    """
    acc = accuracy(labels, predictions)
    f1 = binary_f1(labels, predictions, positive_label)
    return {"accuracy": acc, "f1": f1, "accuracy_and_f1": (acc + f1) / 2}
