"""Accuracy, binary F1 and their mean on hand-computed cases."""

import pytest

from sweeper.metrics.classification import accuracy, accuracy_and_f1, binary_f1

LABELS = [1, 0, 1, 1]
PREDICTIONS = [1, 1, 1, 0]  # 2 of 4 right; TP 2, FP 1, FN 1


def test_accuracy():
    assert accuracy(LABELS, PREDICTIONS) == 50.0


def test_binary_f1():
    assert binary_f1(LABELS, PREDICTIONS) == pytest.approx(200 / 3)  # 2 TP / (3 pred + 3 gold)


def test_binary_f1_with_string_positive_label():
    assert binary_f1(["dup", "no"], ["dup", "dup"], positive_label="dup") == pytest.approx(200 / 3)


def test_binary_f1_without_true_positive_is_zero():
    assert binary_f1([0, 0], [0, 0]) == 0.0


def test_accuracy_and_f1_reports_their_mean():
    assert accuracy_and_f1(LABELS, PREDICTIONS) == pytest.approx(
        {"accuracy": 50.0, "f1": 200 / 3, "accuracy_and_f1": (50 + 200 / 3) / 2}
    )


@pytest.mark.parametrize("metric", [accuracy, binary_f1, accuracy_and_f1])
@pytest.mark.parametrize(
    ("labels", "predictions", "message"),
    [([1, 0], [1], "`labels` has 2 items but `predictions` has 1"), ([], [], "`labels` is empty")],
)
def test_bad_inputs_are_rejected(metric, labels, predictions, message):
    with pytest.raises(ValueError, match=message):
        metric(labels, predictions)
