"""Extractive question answering (SQuAD-style): SQuAD v1.1/2.0, XQuAD, MLQA, TyDiQA-GoldP."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from transformers import AutoModelForQuestionAnswering, DataCollatorWithPadding

from sweeper.config import TrainingConfig
from sweeper.data.features.qa import prepare_qa_eval_features, prepare_qa_train_features
from sweeper.data.formats._io import load_json
from sweeper.data.formats.qa import read_squad_json
from sweeper.data.qa_postprocess import postprocess_qa_predictions
from sweeper.errors import DataFormatError
from sweeper.metrics.qa import mlqa_em_f1, squad_em_f1, squad_v2_scores
from sweeper.prediction_files import PREDICTION_SUFFIXES
from sweeper.registry import TaskSpec
from sweeper.task_types.base import (
    InputsOnly,
    TaskType,
    encode_in_chunks,
    feature_rows,
    register,
)
from sweeper.task_types.submission_files import FileIssues, note_bom

N_BEST_SIZE = 20  # xtreme_reference.md §4 (HF utils_qa.py defaults)
MAX_ANSWER_LENGTH = 30
NULL_SCORE_DIFF_THRESHOLD = 0.0
"""SQuAD 2.0: the null answer is predicted when its score beats the best span's by more than
this (logit units; HF ``utils_qa.py`` and BERT ``run_squad.py`` default)."""

NA_PROBS_PREFIX = "na_probs_"


def na_probs_path(predictions_path: Path) -> Path:
    """Where the null-score differences of a SQuAD 2.0 prediction file are written.

    ``dev-en.json`` → ``na_probs_dev-en.json`` in the same folder (the prefix keeps it from
    looking like a ``<split>-<lang>.json`` prediction file): a JSON object
    ``{question_id: float}``, the ``--na-prob-file`` of the official ``evaluate-v2.0.py``
    (``Infinity`` where no valid span exists).
    """
    return predictions_path.with_name(NA_PROBS_PREFIX + predictions_path.name)


@dataclass(frozen=True)
class UnanswerablePredictions(Mapping[str, str]):
    """Predictions of a task with unanswerable questions (SQuAD 2.0).

    A read-only mapping ``{question_id: answer_text}`` like every QA prediction (``""`` is the
    null answer, chosen when the null score beats the best span by more than
    :data:`NULL_SCORE_DIFF_THRESHOLD`), carrying the null scores as well.

    Attributes:
        answers: question id → predicted answer text.
        na_probs: question id → null score minus best span score (logits; ``inf`` when no window
            holds a valid span): the official script's ``na_probs``, from which
            :meth:`SpanQA.score` picks the best null threshold.

    Raises:
        ValueError: ``answers`` and ``na_probs`` do not have the same question ids.
    """

    answers: dict[str, str]
    na_probs: dict[str, float]

    def __post_init__(self) -> None:
        differing = sorted(set(self.answers) ^ set(self.na_probs))
        if differing:
            raise ValueError(
                f"answers and na_probs must have the same question ids; {len(differing)} differ, e.g. {differing[:3]}"
            )

    def __getitem__(self, question_id: str) -> str:
        return self.answers[question_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.answers)

    def __len__(self) -> int:
        return len(self.answers)


@register
class SpanQA(TaskType):
    """Start/end logits over context windows (384 tokens, stride 128 in the paper's recipe).

    Scored with the SQuAD v1.1 script (XQuAD, TyDiQA, SQuAD v1.1) or the MLQA script with
    per-language normalization, as the task's ``answer_normalization`` says (xtreme
    ``evaluate.py``). Tasks with ``unanswerable: true`` (SQuAD 2.0) train windows without the
    answer to point at CLS, let the null answer compete with the best span, and are scored with
    the SQuAD 2.0 script (``evaluate-v2.0.py``).
    """

    name = "span_qa"
    prediction_suffix = PREDICTION_SUFFIXES["span_qa"]
    output_names = ("start_logits", "end_logits")
    per_token_outputs = True

    def auto_model_class(self) -> type:
        return AutoModelForQuestionAnswering

    def model_kwargs(self, spec) -> dict:
        # start and end logit per token; stated explicitly so that an intermediate encoder's
        # config (e.g. 3 NLI labels) never sizes the fresh QA head.
        return {"num_labels": 2}

    def train_features(self, examples, tokenizer, spec, settings) -> list[dict]:
        """Windows labelled with the first gold answer's token span, or CLS when it is outside.

        Raises:
            ValueError: a question has no answer but the task is not ``unanswerable``.
        """
        _check_answerable(examples, spec)
        encode = partial(prepare_qa_train_features, tokenizer=tokenizer, **_window_settings(settings))
        return feature_rows(encode_in_chunks(encode, examples, spec.task))

    def collator(self, tokenizer):
        return InputsOnly(DataCollatorWithPadding(tokenizer), tokenizer)

    def prediction_features(self, examples, tokenizer, spec, settings, language) -> dict[str, list]:
        """Windows of each context with their ``example_id`` and ``offset_mapping`` (``None`` outside the context)."""
        encode = partial(prepare_qa_eval_features, tokenizer=tokenizer, **_window_settings(settings))
        return encode_in_chunks(encode, examples, f"{spec.task}/{language}")

    def decode(self, outputs, examples, spec, settings, language) -> dict[str, str] | UnanswerablePredictions:
        """``{question_id: answer_text}``, or :class:`UnanswerablePredictions` for ``unanswerable``
        tasks: the best span of each question over its windows (HF ``postprocess_qa_predictions``)."""
        columns = outputs.features
        start, end = outputs.outputs["start_logits"], outputs.outputs["end_logits"]
        predictions, null_score_diffs = postprocess_qa_predictions(
            examples,
            columns,
            _pad(start),
            _pad(end),
            n_best_size=N_BEST_SIZE,
            max_answer_length=MAX_ANSWER_LENGTH,
            version_2_with_negative=spec.unanswerable,
            null_score_diff_threshold=NULL_SCORE_DIFF_THRESHOLD,
        )
        if spec.unanswerable:
            return UnanswerablePredictions(answers=predictions, na_probs=null_score_diffs)
        return predictions

    def score(self, predictions, examples, spec, language) -> dict[str, float]:
        """EM and F1 in [0, 100] with the task's official script.

        SQuAD v1.1 / MLQA script: ``{"exact_match", "f1"}``. SQuAD 2.0 script (``unanswerable``
        tasks): ``exact_match`` and ``f1`` of the predicted answers as they are, the same split
        into ``HasAns_*`` / ``NoAns_*`` (answerable / unanswerable questions, when present), and,
        when the predictions carry ``na_probs``, ``best_exact_match`` and ``best_f1``: the scores
        at the null threshold that maximizes each on the scored questions (``evaluate-v2.0.py``
        ``find_best_thresh``). Question counts and the thresholds themselves (logit units) are
        left out; :func:`sweeper.metrics.qa.squad_v2_scores` returns them.

        Raises:
            ValueError: a question has no answer but the task is not ``unanswerable``; a question
                lacks a prediction (SQuAD 2.0) or ``language`` is not an MLQA language (MLQA).
            TypeError: :class:`UnanswerablePredictions` for a task without ``unanswerable``.
        """
        references = {example["id"]: list(example["answers"]["text"]) for example in examples}
        if spec.unanswerable:
            if isinstance(predictions, UnanswerablePredictions):
                scores = squad_v2_scores(predictions.answers, references, predictions.na_probs)
            else:
                scores = squad_v2_scores(predictions, references)
            return {name: float(value) for name, value in scores.items() if not name.endswith(("total", "_threshold"))}
        if isinstance(predictions, UnanswerablePredictions):
            raise TypeError(
                f"task {spec.task!r} has no unanswerable questions (no `unanswerable: true` in its task "
                "file) but got SQuAD 2.0 predictions with null scores; pass {question_id: answer_text}"
            )
        _check_answerable(examples, spec)
        if spec.answer_normalization == "mlqa":
            return dict(mlqa_em_f1(predictions, references, language))
        return dict(squad_em_f1(predictions, references))

    def write_predictions(self, predictions, path: Path) -> None:
        """``{question_id: answer_text}`` JSON at ``path`` (SQuAD/XTREME prediction file).

        For :class:`UnanswerablePredictions` the null-score differences go to
        :func:`na_probs_path` next to it, so ``evaluate-v2.0.py PRED --na-prob-file NA_PROBS``
        and :meth:`read_predictions` both read the pair.
        """
        path.write_text(json.dumps(dict(predictions), ensure_ascii=False, indent=1), encoding="utf-8")
        if isinstance(predictions, UnanswerablePredictions):
            na_probs_path(path).write_text(json.dumps(predictions.na_probs, indent=1), encoding="utf-8")

    def check_predictions(self, predictions, examples, spec, issues: FileIssues) -> None:
        """Gold questions without a prediction (scored 0) and predictions of unknown ids (ignored),
        as the SQuAD v1.1 and MLQA scripts treat them."""
        gold_ids = [example["id"] for example in examples]
        answered = set(predictions)
        known = set(gold_ids)
        for qid in gold_ids:
            if qid not in answered:
                issues.add("missing_ids", qid)
        for qid in answered:
            if qid not in known:
                issues.add("extra_ids", qid)

    def read_leaderboard_gold(self, path: Path) -> list[dict]:
        """A SQuAD v1.1 JSON file (``evaluate.py`` ``read_squad``): SQuAD examples."""
        return read_squad_json(path)

    def read_predictions(self, path: Path, issues: FileIssues | None = None) -> dict[str, str] | UnanswerablePredictions:
        """A JSON object ``{question_id: answer_text}`` (the SQuAD/XTREME prediction file).

        When :func:`na_probs_path` of ``path`` exists (written for SQuAD 2.0), returns
        :class:`UnanswerablePredictions` with both.

        Raises:
            MissingDataError: ``path`` does not exist. DataFormatError: either file is not the
                expected JSON object, or the two do not cover the same question ids.
        """
        note_bom(path, issues)
        predictions = load_json(path)
        if not isinstance(predictions, dict) or not all(isinstance(text, str) for text in predictions.values()):
            raise DataFormatError(path, None, "expected a JSON object mapping question ids to answer strings")
        probs_path = na_probs_path(path)
        if not probs_path.exists():
            return predictions
        na_probs = load_json(probs_path)
        if not isinstance(na_probs, dict) or not all(
            isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
            for value in na_probs.values()
        ):
            raise DataFormatError(probs_path, None, "expected a JSON object mapping question ids to null-score numbers")
        try:
            return UnanswerablePredictions(predictions, {qid: float(value) for qid, value in na_probs.items()})
        except ValueError as error:
            raise DataFormatError(probs_path, None, f"does not match the predictions in {path.name}: {error}") from error


def _check_answerable(examples: list[dict], spec: TaskSpec) -> None:
    """Only ``unanswerable`` tasks may have questions without a gold answer."""
    if spec.unanswerable:
        return
    unanswerable = [example["id"] for example in examples if not example["answers"]["text"]]
    if unanswerable:
        raise ValueError(
            f"task {spec.task!r}: {len(unanswerable)} question(s) have no gold answer (e.g. {unanswerable[:3]}); "
            "set `unanswerable: true` in the task file for SQuAD 2.0-style data"
        )


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


def _window_settings(settings: TrainingConfig) -> dict[str, int]:
    """The QA window lengths of ``settings`` (tokens), as the featurizers' keyword arguments."""
    return {
        "max_seq_length": settings.max_seq_length,
        "doc_stride": settings.doc_stride,
        "max_query_length": settings.max_query_length,
    }
