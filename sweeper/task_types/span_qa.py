"""Extractive question answering (SQuAD-style): SQuAD v1.1/2.0, XQuAD, MLQA, TyDiQA-GoldP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from transformers import AutoModelForQuestionAnswering, DataCollatorWithPadding

from sweeper.data.features import prepare_qa_eval_features, prepare_qa_train_features
from sweeper.data.formats._io import load_json
from sweeper.data.qa_postprocess import postprocess_qa_predictions
from sweeper.errors import DataFormatError
from sweeper.metrics.qa import mlqa_em_f1, squad_em_f1
from sweeper.task_types.base import (
    InputsOnly,
    TaskType,
    feature_rows,
    predict_logits,
    register,
)

N_BEST_SIZE = 20  # xtreme_reference.md §4 (HF utils_qa.py defaults)
MAX_ANSWER_LENGTH = 30


@register
class SpanQA(TaskType):
    """Start/end logits over context windows (384 tokens, stride 128 in the paper's recipe).

    Scored with the SQuAD v1.1 script (XQuAD, TyDiQA) or the MLQA script with per-language
    normalization, as the task's ``answer_normalization`` says (xtreme ``evaluate.py``).
    """

    name = "span_qa"
    prediction_suffix = "json"

    def auto_model_class(self) -> type:
        return AutoModelForQuestionAnswering

    def model_kwargs(self, spec) -> dict:
        # start and end logit per token; stated explicitly so that an intermediate encoder's
        # config (e.g. 3 NLI labels) never sizes the fresh QA head.
        return {"num_labels": 2}

    def train_features(self, examples, tokenizer, spec, settings) -> list[dict]:
        return feature_rows(
            prepare_qa_train_features(
                examples, tokenizer, settings.max_seq_length, settings.doc_stride, settings.max_query_length
            )
        )

    def collator(self, tokenizer):
        return InputsOnly(DataCollatorWithPadding(tokenizer), tokenizer)

    def predict(self, model, tokenizer, examples, spec, settings, language) -> dict[str, str]:
        columns = prepare_qa_eval_features(
            examples, tokenizer, settings.max_seq_length, settings.doc_stride, settings.max_query_length
        )
        features = feature_rows(columns)
        start, end = predict_logits(
            model,
            features,
            self.collator(tokenizer),
            settings.per_device_eval_batch_size,
            ("start_logits", "end_logits"),
            per_token=True,
        )
        predictions, _ = postprocess_qa_predictions(
            examples,
            columns,
            _pad(start),
            _pad(end),
            n_best_size=N_BEST_SIZE,
            max_answer_length=MAX_ANSWER_LENGTH,
        )
        return predictions

    def score(self, predictions, examples, spec, language) -> dict[str, float]:
        references = {example["id"]: list(example["answers"]["text"]) for example in examples}
        if spec.answer_normalization == "mlqa":
            return dict(mlqa_em_f1(predictions, references, language))
        return dict(squad_em_f1(predictions, references))

    def write_predictions(self, predictions, path: Path) -> None:
        path.write_text(json.dumps(predictions, ensure_ascii=False, indent=1), encoding="utf-8")

    def read_predictions(self, path: Path) -> dict[str, str]:
        """A JSON object ``{question_id: answer_text}`` (the SQuAD/XTREME prediction file)."""
        predictions = load_json(path)
        if not isinstance(predictions, dict) or not all(isinstance(text, str) for text in predictions.values()):
            raise DataFormatError(path, None, "expected a JSON object mapping question ids to answer strings")
        return predictions


def _pad(rows: list[np.ndarray]) -> np.ndarray:
    """Stack per-feature logits of different lengths into ``(num_features, max_len)``.

    Padding positions get a very low logit; post-processing also ignores them because their
    offsets are absent.
    """
    width = max(len(row) for row in rows)
    padded = np.full((len(rows), width), -1e4, dtype=np.float32)
    for index, row in enumerate(rows):
        padded[index, : len(row)] = row
    return padded
