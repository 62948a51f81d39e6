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
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, set_seed

from sweeper.cache.features import FeatureCache
from sweeper.cache.markers import ENCODER_MARKER
from sweeper.cache.outputs import ZeroShotResult, publish_target_stage
from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.data.sources import (
    load_split,
    resolve_labels,
    split_files,
)
from sweeper.errors import ConfigError
from sweeper.models.cache import build_once
from sweeper.prediction_files import LEADERBOARD_PREFIX, leaderboard_predictions_dir
from sweeper.progress.bars import Progress
from sweeper.registry import THRESHOLD_SPLIT, TRAIN_LANGUAGE, TaskSpec, is_retrieval, zero_shot_languages
from sweeper.storage import BEST_MODEL_DIR
from sweeper.task_types import get_task_type
from sweeper.training.trainer import CheckpointCallback, EvaluationCallback, StageResult, train_stage

logger = logging.getLogger(__name__)


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
        resume_from: a Trainer checkpoint of an interrupted run of this same stage to continue
            from (``None``: train from the start).
        feature_cache: where the tokenized training set and zero-shot evaluation splits are cached
            (:mod:`sweeper.cache.features`), so that trials of the same task tokenize them once;
            ``None``: tokenized here, not kept.
    """

    model_source: str
    init_from: Path | None
    task: TaskSpec
    settings: TrainingConfig
    data_dir: Path | None
    output_dir: Path
    resume_from: Path | None = None
    feature_cache: FeatureCache | None = None


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


def training_features(inputs: StageInputs, task_type, tokenizer) -> Sequence[dict]:
    """The stage's tokenized English training set (``settings.max_train_examples`` examples):
    from ``inputs.feature_cache`` when there is one (built there on a miss), else built here.

    Raises:
        ValueError: no training features could be built from the examples.
        MissingDataError / DataFormatError: a training file is missing or corrupt.
    """
    settings = inputs.settings

    def build() -> list[dict]:
        examples = load_split(inputs.task, "train", inputs.data_dir, TRAIN_LANGUAGE, settings.max_train_examples)
        features = task_type.train_features(examples, tokenizer, inputs.task, settings)
        if not features:
            raise ValueError(f"task {inputs.task.task!r}: no training features from {len(examples)} examples")
        return features

    if inputs.feature_cache is None:
        return build()
    return inputs.feature_cache.training_features(inputs.task, settings, inputs.data_dir, build)


def evaluation_features(
    inputs: StageInputs, task_type, tokenizer, examples: list[dict], split: str, language: str, limit: int | None
) -> dict[str, list] | None:
    """The prediction features of ``examples`` (``split`` in ``language``, the first ``limit``)
    from ``inputs.feature_cache`` (built there on a miss); ``None`` without a feature cache (the
    task type then tokenizes them as it predicts)."""
    if inputs.feature_cache is None:
        return None
    return inputs.feature_cache.prediction_features(
        inputs.task,
        split,
        language,
        limit,
        inputs.settings,
        inputs.data_dir,
        lambda: task_type.prediction_features(examples, tokenizer, inputs.task, inputs.settings, language),
    )


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


def evaluate_zero_shot(
    model, tokenizer, inputs: StageInputs, zero_shot: ZeroShotConfig, target_dev_languages: list[str] = ()
) -> ZeroShotResult:
    """Score ``model`` on the target's evaluation split in each language; write predictions.

    Predictions go to ``output_dir/predictions/<task>/<split>-<lang>.<tsv|json>`` (the XTREME
    submission layout, with the scored split's name). In each of ``target_dev_languages`` the
    model is also scored on the task's ``zero_shot.dev_split`` (``dev_per_language``, predictions
    ``<dev_split>-<lang>``); when that split is the evaluation split itself (PAN-X, TyDiQA), its
    scores are reused, not recomputed. When the task's leaderboard file predicts another split
    (``submission.split``, e.g. PAN-X's unlabelled test), that split is predicted too, without
    gold, into :func:`sweeper.results.submission.leaderboard_predictions_dir` as ``test-<lang>.<suffix>``,
    for each language whose input exists (see :func:`predict_leaderboard_split`). Each language
    done prints a progress line on stderr (the worker's log) with its selection metric.
    """
    task = inputs.task
    split = task.zero_shot.split
    predictions_dir = inputs.output_dir / "predictions" / task.task
    predictions_dir.mkdir(parents=True, exist_ok=True)
    per_language = {}
    languages = zero_shot_languages(task, zero_shot)
    with _language_progress(task, split, languages) as progress:
        for language in languages:
            per_language[language] = _evaluate_split(model, tokenizer, inputs, split, language, zero_shot, predictions_dir)
            progress.advance(note=_language_note(task, language, per_language[language]))
    dev_split = task.zero_shot.dev_split
    dev_per_language = {}
    for language in target_dev_languages:
        if dev_split == split:
            dev_per_language[language] = per_language[language]
            continue
        dev_per_language[language] = _evaluate_split(model, tokenizer, inputs, dev_split, language, zero_shot, predictions_dir)
    if task.submission is not None and task.submission.split != split:
        predict_leaderboard_split(model, tokenizer, inputs, zero_shot, predictions_dir)
    return ZeroShotResult(per_language=per_language, predictions_dir=predictions_dir, dev_per_language=dev_per_language)


def _evaluate_split(
    model, tokenizer, inputs: StageInputs, split: str, language: str, zero_shot: ZeroShotConfig, predictions_dir: Path
) -> dict[str, float]:
    """Score ``model`` on ``split`` in ``language`` (the first ``zero_shot.max_examples_per_language``
    examples; features from the feature cache when there is one) and write its predictions to
    ``predictions_dir/<split>-<language>.<suffix>``.

    Returns:
        metric name → value in [0, 100].
    """
    task_type = get_task_type(inputs.task.task_type)
    limit = zero_shot.max_examples_per_language
    examples = load_split(inputs.task, split, inputs.data_dir, language, limit)
    features = evaluation_features(inputs, task_type, tokenizer, examples, split, language, limit)
    evaluation = task_type.evaluate(model, tokenizer, examples, inputs.task, inputs.settings, language, features)
    task_type.write_predictions(evaluation.predictions, predictions_dir / f"{split}-{language}.{task_type.prediction_suffix}")
    return evaluation.metrics


def predict_leaderboard_split(
    model, tokenizer, inputs: StageInputs, zero_shot: ZeroShotConfig, predictions_dir: Path
) -> list[str]:
    """Predict the task's ``submission.split`` (no gold needed) in each zero-shot language.

    Languages whose input files are missing, or all of them when the data comes from the Hub and
    the split has no Hub source, are skipped with a warning (the sweep's submission folder lists
    them, :mod:`sweeper.results.submission`); ``zero_shot.max_examples_per_language`` applies.

    Returns:
        The languages predicted.
    """
    task = inputs.task
    task_type = get_task_type(task.task_type)
    if inputs.data_dir is None and any(source.hub is None for source in task.splits[task.submission.split].sources):
        logger.warning("%s: split %r has no Hub source; leaderboard file not predicted", task.task, task.submission.split)
        return []
    folder = leaderboard_predictions_dir(predictions_dir)
    predicted = []
    for language in zero_shot_languages(task, zero_shot):
        absent = (
            []
            if inputs.data_dir is None
            else [path for path in split_files(task, task.submission.split, inputs.data_dir, language) if not path.is_file()]
        )
        if absent:
            logger.warning("%s/%s: no leaderboard input (%s does not exist), not predicted", task.task, language, absent[0])
            continue
        examples = load_split(
            task, task.submission.split, inputs.data_dir, language, zero_shot.max_examples_per_language, labelled=False
        )
        predictions = task_type.predict(model, tokenizer, examples, task, inputs.settings, language)
        folder.mkdir(exist_ok=True)  # only when something is predicted: no empty folder is logged
        task_type.write_predictions(predictions, folder / f"{LEADERBOARD_PREFIX}-{language}.{task_type.prediction_suffix}")
        predicted.append(language)
    return predicted


def _language_progress(task: TaskSpec, split: str, languages: list[str]) -> Progress:
    """A line per evaluated language in the worker's log (``zero-shot panx test: 3/7 ..., de f1 41.2``)."""
    return Progress(f"zero-shot {task.task} {split}", len(languages), "language", interval_s=0)


def _language_note(task: TaskSpec, language: str, metrics: dict[str, float]) -> str:
    score = metrics.get(task.metric)
    return f"{language} {task.metric} {score:.1f}" if score is not None else language


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
    with _language_progress(task, split, languages) as progress:
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
            progress.advance(note=_language_note(task, language, evaluation.metrics))
    return ZeroShotResult(per_language, predictions_dir, dev_per_language, thresholds)
