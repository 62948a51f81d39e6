"""Sentence and sentence-pair classification (NLI, paraphrase): ANLI, MNLI, QQP, XNLI, PAWS-X."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

from sweeper.config import TrainingConfig
from sweeper.data.features.classification import encode_classification
from sweeper.metrics.classification import accuracy, accuracy_and_f1
from sweeper.prediction_files import PREDICTION_SUFFIXES
from sweeper.registry import TaskSpec
from sweeper.task_types.base import (
    InputsOnly,
    TaskType,
    classifier_kwargs,
    encode_in_chunks,
    feature_rows,
    label_maps,
    register,
    with_placeholder_gold,
)
from sweeper.task_types.submission_files import (
    FileIssues,
    check_labels,
    read_label_lines,
)


@register
class Classification(TaskType):
    """A head over ``<s> text_a </s></s> text_b </s>``; scored by accuracy (0–100).

    A task with a ``positive_label`` (QQP) also gets the F1 of that class and
    ``accuracy_and_f1`` = (accuracy + F1) / 2, the GLUE / jiant QQP metric.
    """

    name = "classification"
    prediction_suffix = PREDICTION_SUFFIXES["classification"]

    def auto_model_class(self) -> type:
        return AutoModelForSequenceClassification

    def model_kwargs(self, spec: TaskSpec) -> dict:
        return classifier_kwargs(spec)

    def train_features(self, examples, tokenizer, spec, settings: TrainingConfig) -> list[dict]:
        label_to_id, _ = label_maps(spec)
        encode = partial(
            encode_classification, tokenizer=tokenizer, label_to_id=label_to_id, max_seq_length=settings.max_seq_length
        )
        return feature_rows(encode_in_chunks(encode, examples, spec.task))

    def collator(self, tokenizer):
        return InputsOnly(DataCollatorWithPadding(tokenizer), tokenizer)

    def prediction_features(self, examples, tokenizer, spec, settings, language) -> dict[str, list]:
        label_to_id, id_to_label = label_maps(spec)
        examples = with_placeholder_gold(examples, "label", lambda example: id_to_label[0])
        encode = partial(
            encode_classification, tokenizer=tokenizer, label_to_id=label_to_id, max_seq_length=settings.max_seq_length
        )
        return encode_in_chunks(encode, examples, f"{spec.task}/{language}")

    def decode(self, outputs, examples, spec, settings, language) -> list[str]:
        """One label name per example (the argmax of its ``logits``); examples without a gold label
        (``None``) are predicted too."""
        _, id_to_label = label_maps(spec)
        return [id_to_label[int(np.argmax(row))] for row in outputs.outputs["logits"]]

    def score(self, predictions, examples, spec, language) -> dict[str, float]:
        """``{"accuracy"}``, plus ``f1`` and ``accuracy_and_f1`` for a task with a ``positive_label``.

        Raises:
            ValueError: the counts of predictions and examples differ.
        """
        labels = [example["label"] for example in examples]
        if spec.positive_label is not None:
            return accuracy_and_f1(labels, predictions, spec.positive_label)
        return {"accuracy": accuracy(labels, predictions)}

    def write_predictions(self, predictions, path: Path) -> None:
        path.write_text("".join(f"{label}\n" for label in predictions), encoding="utf-8")

    def read_predictions(self, path: Path, issues: FileIssues | None = None) -> list[str]:
        """One label name per line, each stripped; blank lines are (empty) labels, as in ``evaluate.py``."""
        return read_label_lines(path, issues)

    def check_predictions(self, predictions, examples, spec, issues: FileIssues) -> None:
        """Labels that are not label names of the task (ids, extra columns, anything else)."""
        check_labels(predictions, [str(label) for label in spec.labels or ()], issues)

    def read_leaderboard_gold(self, path: Path) -> list[dict]:
        """One gold label per line (``evaluate.py`` ``read_label``): examples ``{"id", "label"}``."""
        return [{"id": str(index), "label": label} for index, label in enumerate(read_label_lines(path))]
