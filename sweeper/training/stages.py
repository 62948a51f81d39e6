"""The three stages of the experiment, as plain functions (no Ray, no MLflow).

1. intermediate: fine-tune the pretrained encoder on an English intermediate task and keep
   the *encoder* only (jiant ``model_load_mode=partial``: the head is dropped);
2. target: load that encoder (or the pretrained one for the ``none`` baseline), build a fresh
   head for the target task, fine-tune on its English training data, select on English dev;
3. zero_shot: evaluate the best target model on every evaluation language.

Retrieval targets (BUCC, Tatoeba) skip stage 2: :func:`run_retrieval_stage` evaluates the
encoder of stage 1 (or the pretrained one) directly.

Phang et al. 2020, §3; xtreme_reference.md §1.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, set_seed

from sweeper.cache.markers import ENCODER_MARKER
from sweeper.cache.outputs import ZeroShotResult, publish_target_stage
from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.data.sources import load_split, resolve_labels
from sweeper.errors import ConfigError
from sweeper.models.cache import build_once
from sweeper.registry import THRESHOLD_SPLIT, TRAIN_LANGUAGE, TaskSpec, is_retrieval
from sweeper.storage import BEST_MODEL_DIR
from sweeper.task_types import get_task_type
from sweeper.training.inputs import StageInputs, training_features
from sweeper.training.trainer import CheckpointCallback, EvaluationCallback, StageResult, train_stage
from sweeper.training.zero_shot import evaluate_zero_shot, language_note, language_progress


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


def _with_labels(inputs: StageInputs) -> StageInputs:
    """``inputs`` whose task lists its labels (read from the task's ``labels_file``, e.g. CCG)."""
    return dataclasses.replace(inputs, task=resolve_labels(inputs.task, inputs.data_dir))


def _train(inputs: StageInputs, on_evaluation: EvaluationCallback, on_checkpoint: CheckpointCallback | None):
    task_type, tokenizer, model = _load(inputs)
    train_features = training_features(inputs, task_type, tokenizer)
    dev_examples = load_split(inputs.task, "dev", inputs.data_dir, TRAIN_LANGUAGE, inputs.settings.max_dev_examples)
    inputs.output_dir.mkdir(parents=True, exist_ok=True)
    result = train_stage(
        model,
        tokenizer,
        task_type,
        inputs.task,
        train_features,
        dev_examples,
        inputs.settings,
        inputs.output_dir,
        on_evaluation,
        on_checkpoint,
        inputs.resume_from,
    )
    return task_type, tokenizer, model, result


def is_main_process() -> bool:
    """Rank 0 of a data-parallel group (or no group): the process that saves and evaluates."""
    return not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0


def run_intermediate_stage(
    inputs: StageInputs,
    encoder_dir: Path,
    on_evaluation: EvaluationCallback,
    on_checkpoint: CheckpointCallback | None = None,
    record: Mapping[str, Any] | None = None,
) -> StageResult:
    """Train the intermediate task and save the best model's encoder (no head) to ``encoder_dir``.

    The folder is written under a temporary name and renamed at the end
    (:func:`sweeper.models.cache.build_once`), with ``encoder_complete.json`` written last inside
    it, so a crash never leaves a half-written encoder that a target stage could pick up. The
    marker holds the task, the best English-dev score and step, and ``record`` (e.g. the stage's
    cache inputs and the run that trained it). Only the main process writes.
    """
    _, tokenizer, model, result = _train(_with_labels(inputs), on_evaluation, on_checkpoint)
    if is_main_process():
        save_encoder(model.base_model, tokenizer, encoder_dir, result, {**(record or {}), "task": inputs.task.task})
    return result


def save_encoder(encoder, tokenizer, encoder_dir: Path, result: StageResult, marker: Mapping[str, Any]) -> None:
    """Save ``encoder`` (no head) and ``tokenizer`` to ``encoder_dir``, atomically.

    Written under a temporary name and renamed at the end (:func:`sweeper.models.cache.build_once`),
    with :data:`ENCODER_MARKER` (``marker`` plus the best score and step) written last inside it,
    so a crash never leaves a half-written encoder that a target stage could pick up.
    """

    def write(folder: Path) -> None:
        encoder.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        payload = {**marker, "best_score": result.best_score, "best_step": result.best_step}
        (folder / ENCODER_MARKER).write_text(json.dumps(payload), encoding="utf-8")

    build_once(encoder_dir, write)


def run_target_stage(
    inputs: StageInputs,
    zero_shot: ZeroShotConfig,
    on_evaluation: EvaluationCallback,
    target_dev_languages: list[str] = (),
    on_checkpoint: CheckpointCallback | None = None,
    stage_dir: Path | None = None,
    record: Mapping[str, Any] | None = None,
) -> tuple[StageResult, ZeroShotResult | None, Path | None]:
    """Train the target task from the given encoder, then evaluate zero-shot (and on the target
    languages' dev split in ``target_dev_languages``, see :func:`evaluate_zero_shot`).

    The best model (with its head and tokenizer) is saved before the evaluation: with
    ``stage_dir`` (a target stage folder of the stage cache) it is published there with every
    English-dev evaluation and ``record`` (:func:`sweeper.cache.outputs.publish_target_stage`), so
    a failing evaluation is retried without training again; without, to ``output_dir/best_model``.

    Returns:
        The training result, the zero-shot result, and the folder of the best model; on
        processes other than the main one, zero-shot is skipped and ``None`` stands for the last two.
    """
    inputs = _with_labels(inputs)
    _, tokenizer, model, result = _train(inputs, on_evaluation, on_checkpoint)
    if not is_main_process():
        return result, None, None

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    if stage_dir is None:
        best_dir = inputs.output_dir / BEST_MODEL_DIR
        save(best_dir)
    else:
        best_dir = publish_target_stage(stage_dir, save, result.history, result.best_score, result.best_step, record or {})
    zero_shot_result = evaluate_zero_shot(model, tokenizer, inputs, zero_shot, target_dev_languages)
    return result, zero_shot_result, best_dir


def run_zero_shot_stage(
    inputs: StageInputs, zero_shot: ZeroShotConfig, target_dev_languages: list[str] = ()
) -> ZeroShotResult | None:
    """Evaluate a trained target model (``inputs.init_from``: a target stage's ``best_model``,
    head included) zero-shot, as :func:`run_target_stage` does after training; ``None`` on
    processes other than the main one (they do nothing)."""
    if not is_main_process():
        return None
    inputs = _with_labels(inputs)
    _, tokenizer, model = _load(inputs)
    return evaluate_zero_shot(model, tokenizer, inputs, zero_shot, target_dev_languages)


def run_retrieval_stage(
    encoder_source: str | Path,
    tokenizer_source: str | Path,
    task: TaskSpec,
    settings: TrainingConfig,
    data_dir: Path | None,
    languages: list[str],
    max_examples_per_language: int | None,
    output_dir: Path,
) -> ZeroShotResult:
    """Evaluate one encoder on a retrieval task (no training) in every language; write predictions.

    A retrieval task without a ``dev`` split (Tatoeba: aligned pairs, ``tatoeba_txt``) is scored
    by nearest-neighbour accuracy. One with a ``dev`` split besides its zero-shot split is a BUCC
    mining task (files read with ``read_bucc``): pairs are mined on ``dev`` to tune the margin
    threshold per language, which is applied to the zero-shot split (XTREME
    ``evaluate_retrieval.py``). Predictions go to ``output_dir/predictions/<task>/<split>-<lang>.tsv``
    (BUCC: dev too). Only ``settings.max_seq_length`` and ``per_device_eval_batch_size`` matter.

    Args:
        encoder_source: an intermediate encoder folder, or the pretrained model (``none``).
        tokenizer_source: the pretrained model's tokenizer (folder or Hub id).
        languages: ISO 639-1 codes among the task's zero-shot languages.
        max_examples_per_language: Tatoeba: the first n pairs; BUCC: the first n sentences of
            each side (and the gold pairs among them); ``None``: all.

    Raises:
        ConfigError: ``task`` is not a retrieval task, a language is not one of its zero-shot
            languages, or ``retrieval_layer`` exceeds the model's depth.
        MissingDataError / DataFormatError: a data file is missing or corrupt.
    """
    task_type = get_task_type(task.task_type)
    if not is_retrieval(task) or task.zero_shot is None:
        raise ConfigError(f"run_retrieval_stage needs a retrieval task; {task.task!r} is a {task.task_type} task")
    unknown = [language for language in languages if language not in task.zero_shot.languages]
    if unknown:
        raise ConfigError(f"task {task.task!r} has no zero-shot languages {unknown}; it declares {task.zero_shot.languages}")
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
    model = task_type.auto_model_class().from_pretrained(str(encoder_source), **task_type.model_kwargs(task))
    if torch.cuda.is_available():
        model = model.to("cuda")
    split = task.zero_shot.split
    bitext = THRESHOLD_SPLIT in task.splits and THRESHOLD_SPLIT != split
    predictions_dir = output_dir / "predictions" / task.task
    predictions_dir.mkdir(parents=True, exist_ok=True)
    suffix = task_type.prediction_suffix
    per_language, dev_per_language, thresholds = {}, {}, {}
    with language_progress(task, split, languages) as progress:
        for language in languages:
            if bitext:
                dev = load_split(task, THRESHOLD_SPLIT, data_dir, language, max_examples_per_language)
                evaluated = load_split(task, split, data_dir, language, max_examples_per_language)
                outcome = task_type.evaluate_bitext(model, tokenizer, dev, evaluated, task, settings, language)
                thresholds[language] = outcome.threshold
                dev_per_language[language] = outcome.dev.metrics
                task_type.write_predictions(outcome.dev.predictions, predictions_dir / f"{THRESHOLD_SPLIT}-{language}.{suffix}")
                evaluation = outcome.evaluated
            else:
                examples = load_split(task, split, data_dir, language, max_examples_per_language)
                evaluation = task_type.evaluate(model, tokenizer, examples, task, settings, language)
            per_language[language] = evaluation.metrics
            task_type.write_predictions(evaluation.predictions, predictions_dir / f"{split}-{language}.{suffix}")
            progress.advance(note=language_note(task, language, evaluation.metrics))
    return ZeroShotResult(per_language, predictions_dir, dev_per_language, thresholds)
