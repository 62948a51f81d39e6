"""Multiple choice (one score per choice, softmax over choices): HellaSwag, Cosmos QA,
CommonsenseQA, XCOPA."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from transformers import AutoModelForMultipleChoice, DataCollatorForMultipleChoice

from sweeper.data.features.classification import encode_multiple_choice
from sweeper.errors import DataFormatError
from sweeper.metrics.classification import accuracy
from sweeper.prediction_files import PREDICTION_SUFFIXES
from sweeper.task_types.base import (
    InputsOnly,
    TaskType,
    encode_in_chunks,
    feature_rows,
    register,
)
from sweeper.task_types.submission_files import FileIssues, read_text_lines


@register
class MultipleChoice(TaskType):
    """Each (context, question + choice) pair is encoded; a linear layer scores each choice.

    Scored by accuracy (0–100); predictions are choice indices, one per line.
    """

    name = "multiple_choice"
    prediction_suffix = PREDICTION_SUFFIXES["multiple_choice"]

    def auto_model_class(self) -> type:
        return AutoModelForMultipleChoice

    def model_kwargs(self, spec) -> dict:
        # the head has one output per choice pair; num_labels only resets label maps of the encoder config
        return {"num_labels": 1}

    def train_features(self, examples, tokenizer, spec, settings) -> list[dict]:
        encode = partial(encode_multiple_choice, tokenizer=tokenizer, max_seq_length=settings.max_seq_length)
        return feature_rows(encode_in_chunks(encode, examples, spec.task))

    def collator(self, tokenizer):
        return InputsOnly(DataCollatorForMultipleChoice(tokenizer), tokenizer)

    def prediction_features(self, examples, tokenizer, spec, settings, language) -> dict[str, list]:
        encode = partial(encode_multiple_choice, tokenizer=tokenizer, max_seq_length=settings.max_seq_length)
        return encode_in_chunks(encode, examples, f"{spec.task}/{language}")

    def decode(self, outputs, examples, spec, settings, language) -> list[int]:
        """One 0-based choice index per example (the argmax of its ``logits``: ``(num_choices,)``)."""
        return [int(np.argmax(row)) for row in outputs.outputs["logits"]]

    def score(self, predictions, examples, spec, language) -> dict[str, float]:
        return {"accuracy": accuracy([example["label"] for example in examples], predictions)}

    def write_predictions(self, predictions, path: Path) -> None:
        path.write_text("".join(f"{index}\n" for index in predictions), encoding="utf-8")

    def read_predictions(self, path: Path, issues: FileIssues | None = None) -> list[int]:
        """One 0-based choice index per line (lines stripped)."""
        predictions = []
        for number, line in enumerate(read_text_lines(path, issues), start=1):
            if not line.strip().isdigit():
                raise DataFormatError(path, number, f"expected a 0-based choice index, got {line!r}")
            predictions.append(int(line))
        return predictions
