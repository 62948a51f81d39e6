"""The three stages of the experiment, as plain functions (no Ray, no MLflow).

1. intermediate: fine-tune the pretrained encoder on an English intermediate task and keep
   the *encoder* only (jiant ``model_load_mode=partial``: the head is dropped);
2. target: load that encoder (or the pretrained one for the ``none`` baseline), build a fresh
   head for the target task, fine-tune on its English training data, select on English dev;
3. zero_shot: evaluate the best target model on every evaluation language.

Phang et al. 2020, §3; xtreme_reference.md §1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoTokenizer, set_seed

from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.data.sources import load_split
from sweeper.plan import ENCODER_MARKER, zero_shot_languages
from sweeper.registry import TRAIN_LANGUAGE, TaskSpec
from sweeper.task_types import get_task_type
from sweeper.training import EvaluationCallback, StageResult, train_stage



@dataclass(frozen=True)
class StageInputs:
    """Everything one training stage needs.

    Attributes:
        model_source: the pretrained model (local folder or Hub id); its tokenizer is always used.
        init_from: encoder folder of a finished intermediate stage, or ``None`` to start from
            ``model_source`` (the ``none`` baseline).
        task: the task trained in this stage.
        settings: its hyperparameters.
        data_dir: local data root, or ``None`` for the Hub.
        output_dir: folder this stage owns (created if missing).
    """

    model_source: str
    init_from: Path | None
    task: TaskSpec
    settings: TrainingConfig
    data_dir: Path | None
    output_dir: Path


def _load(inputs: StageInputs):
    task_type = get_task_type(inputs.task.task_type)
    set_seed(inputs.settings.seed)  # before the fresh head is initialised
    tokenizer = AutoTokenizer.from_pretrained(inputs.model_source)
    model = task_type.auto_model_class().from_pretrained(
        str(inputs.init_from or inputs.model_source), **task_type.model_kwargs(inputs.task)
    )
    if torch.cuda.is_available():
        model = model.to("cuda")
    return task_type, tokenizer, model


def _train(inputs: StageInputs, on_evaluation: EvaluationCallback):
    task_type, tokenizer, model = _load(inputs)
    train_examples = load_split(inputs.task, "train", inputs.data_dir, TRAIN_LANGUAGE, inputs.settings.max_train_examples)
    dev_examples = load_split(inputs.task, "dev", inputs.data_dir, TRAIN_LANGUAGE, inputs.settings.max_dev_examples)
    inputs.output_dir.mkdir(parents=True, exist_ok=True)
    result = train_stage(
        model, tokenizer, task_type, inputs.task, train_examples, dev_examples, inputs.settings, inputs.output_dir, on_evaluation
    )
    return task_type, tokenizer, model, result


def is_main_process() -> bool:
    """Rank 0 of a data-parallel group (or no group): the process that saves and evaluates."""
    return not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0


def run_intermediate_stage(inputs: StageInputs, encoder_dir: Path, on_evaluation: EvaluationCallback) -> StageResult:
    """Train the intermediate task and save the best model's encoder (no head) to ``encoder_dir``.

    The folder is written under a temporary name and renamed at the end, with
    ``encoder_complete.json`` inside, so a crash never leaves a half-written encoder that a
    target stage could pick up. Only the main process writes.
    """
    _, tokenizer, model, result = _train(inputs, on_evaluation)
    if not is_main_process():
        return result
    staging = encoder_dir.with_name(encoder_dir.name + ".partial")
    model.base_model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / ENCODER_MARKER).write_text(
        json.dumps({"task": inputs.task.task, "best_score": result.best_score, "best_step": result.best_step}),
        encoding="utf-8",
    )
    staging.replace(encoder_dir)
    return result


@dataclass(frozen=True)
class ZeroShotResult:
    """Per-language metrics (0–100) of the zero-shot stage and where predictions were written."""

    per_language: dict[str, dict[str, float]]
    predictions_dir: Path


def run_target_stage(
    inputs: StageInputs, zero_shot: ZeroShotConfig, on_evaluation: EvaluationCallback
) -> tuple[StageResult, ZeroShotResult | None, Path | None]:
    """Train the target task from the given encoder, then evaluate zero-shot.

    Returns:
        The training result, the zero-shot result, and the folder of the best model (with its
        head and tokenizer) under ``output_dir/best_model``; on processes other than the main
        one, zero-shot is skipped and ``None`` stands for the last two.
    """
    _, tokenizer, model, result = _train(inputs, on_evaluation)
    if not is_main_process():
        return result, None, None
    best_dir = inputs.output_dir / "best_model"
    model.save_pretrained(best_dir)
    tokenizer.save_pretrained(best_dir)
    zero_shot_result = evaluate_zero_shot(model, tokenizer, inputs, zero_shot)
    return result, zero_shot_result, best_dir


def evaluate_zero_shot(model, tokenizer, inputs: StageInputs, zero_shot: ZeroShotConfig) -> ZeroShotResult:
    """Score ``model`` on the target's evaluation split in each language; write predictions.

    Predictions go to ``output_dir/predictions/<task>/<split>-<lang>.<tsv|json>`` (the XTREME
    submission layout, with the scored split's name).
    """
    task = inputs.task
    task_type = get_task_type(task.task_type)
    split = task.zero_shot.split
    predictions_dir = inputs.output_dir / "predictions" / task.task
    predictions_dir.mkdir(parents=True, exist_ok=True)
    per_language = {}
    for language in zero_shot_languages(task, zero_shot):
        examples = load_split(task, split, inputs.data_dir, language, zero_shot.max_examples_per_language)
        evaluation = task_type.evaluate(model, tokenizer, examples, task, inputs.settings, language)
        per_language[language] = evaluation.metrics
        task_type.write_predictions(evaluation.predictions, predictions_dir / f"{split}-{language}.{task_type.prediction_suffix}")
    return ZeroShotResult(per_language=per_language, predictions_dir=predictions_dir)
