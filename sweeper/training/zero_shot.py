"""Zero-shot evaluation of a trained target model in every evaluation language, with each split's
host work (decoding, scoring, writing predictions) overlapped with the next split's inference."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sweeper.cache.outputs import ZeroShotResult
from sweeper.config import ZeroShotConfig
from sweeper.data.sources import load_split, split_files
from sweeper.prediction_files import LEADERBOARD_PREFIX, leaderboard_predictions_dir
from sweeper.progress.bars import Progress
from sweeper.registry import TaskSpec, zero_shot_languages
from sweeper.task_types import TaskType, get_task_type
from sweeper.training.inputs import StageInputs, evaluation_features
from sweeper.training.overlap import overlap_host_work

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitPrediction:
    """One split in one language to predict, and where its predictions go.

    Attributes:
        split: the task's split name (``test``, ``dev``, the leaderboard's ``submission.split``).
        language: ISO 639-1 code.
        path: the prediction file (XTREME submission layout).
        scored: the split carries gold labels and is scored; ``False``: predicted only (an
            unlabelled leaderboard file).
    """

    split: str
    language: str
    path: Path
    scored: bool


@dataclass(frozen=True)
class SplitInputs:
    """What a :class:`SplitPrediction` runs the model on: its examples and their prediction
    features (column-wise, :meth:`TaskType.prediction_features`)."""

    examples: list[dict]
    features: Mapping[str, Sequence]


def evaluate_zero_shot(
    model, tokenizer, inputs: StageInputs, zero_shot: ZeroShotConfig, target_dev_languages: Sequence[str] = ()
) -> ZeroShotResult:
    """Score ``model`` on the target's evaluation split in each language; write predictions.

    Predictions go to ``output_dir/predictions/<task>/<split>-<lang>.<tsv|json>`` (the XTREME
    submission layout, with the scored split's name). In each of ``target_dev_languages`` the
    model is also scored on the task's ``zero_shot.dev_split`` (``dev_per_language``, predictions
    ``<dev_split>-<lang>``); when that split is the evaluation split itself (PAN-X, TyDiQA), its
    scores are reused, not recomputed. When the task's leaderboard file predicts another split
    (``submission.split``, e.g. PAN-X's unlabelled test), that split is predicted too, without
    gold, into :func:`sweeper.prediction_files.leaderboard_predictions_dir` as
    ``test-<lang>.<suffix>``, for each language whose input exists (:func:`leaderboard_languages`).
    ``zero_shot.max_examples_per_language`` applies to every split; features come from the stage's
    feature cache when it has one.

    The model's inference on each split (:meth:`TaskType.infer`) runs in this thread, one split
    after the other; reading the next split's examples and features, and decoding, scoring and
    writing the previous one (:meth:`TaskType.decode`, :meth:`TaskType.score`) run in background
    threads meanwhile (:func:`overlap_host_work`), so the device does not wait for them. Each
    evaluation language done prints a progress line on stderr (the worker's log) with its
    selection metric.

    Raises:
        MissingDataError / DataFormatError: a data file of a scored split is missing or corrupt.
    """
    task = inputs.task
    task_type = get_task_type(task.task_type)
    split, dev_split = task.zero_shot.split, task.zero_shot.dev_split
    predictions_dir = inputs.output_dir / "predictions" / task.task
    predictions_dir.mkdir(parents=True, exist_ok=True)
    suffix = task_type.prediction_suffix
    languages = zero_shot_languages(task, zero_shot)
    jobs = [SplitPrediction(split, language, predictions_dir / f"{split}-{language}.{suffix}", True) for language in languages]
    if dev_split != split:
        jobs += [
            SplitPrediction(dev_split, language, predictions_dir / f"{dev_split}-{language}.{suffix}", True)
            for language in target_dev_languages
        ]
    if task.submission is not None and task.submission.split != split:
        folder = leaderboard_predictions_dir(predictions_dir)
        jobs += [
            SplitPrediction(task.submission.split, language, folder / f"{LEADERBOARD_PREFIX}-{language}.{suffix}", False)
            for language in leaderboard_languages(inputs, languages)
        ]
    prepare = partial(_read_inputs, task_type, tokenizer, inputs, zero_shot.max_examples_per_language)
    run_on_device = partial(_infer, task_type, model, tokenizer, inputs)
    scores: dict[tuple[str, str], dict[str, float]] = {}
    with language_progress(task, split, languages) as progress:
        for job, metrics in overlap_host_work(jobs, prepare, run_on_device):
            if job.scored:
                scores[job.split, job.language] = metrics
            if job.split == split:
                progress.advance(note=language_note(task, job.language, metrics))
    return ZeroShotResult(
        per_language={language: scores[split, language] for language in languages},
        predictions_dir=predictions_dir,
        dev_per_language={language: scores[dev_split, language] for language in target_dev_languages},
    )


def _read_inputs(task_type: TaskType, tokenizer, inputs: StageInputs, limit: int | None, job: SplitPrediction) -> SplitInputs:
    """``job``'s examples (its first ``limit``) and their prediction features (from the feature
    cache when the stage has one)."""
    examples = load_split(inputs.task, job.split, inputs.data_dir, job.language, limit, labelled=job.scored)
    features = evaluation_features(inputs, task_type, tokenizer, examples, job.split, job.language, limit)
    return SplitInputs(examples, features)


def _infer(
    task_type: TaskType, model, tokenizer, inputs: StageInputs, job: SplitPrediction, split_inputs: SplitInputs
) -> Callable[[], dict[str, float]]:
    """Run ``model`` on ``job``'s split; return the work that decodes the outputs, scores them
    (``{}`` when ``job`` is not scored) and writes the predictions."""
    examples = split_inputs.examples
    outputs = task_type.infer(model, tokenizer, examples, inputs.task, inputs.settings, job.language, split_inputs.features)

    def decode_score_write() -> dict[str, float]:
        predictions = task_type.decode(outputs, examples, inputs.task, inputs.settings, job.language)
        metrics = task_type.score(predictions, examples, inputs.task, job.language) if job.scored else {}
        job.path.parent.mkdir(exist_ok=True)  # the leaderboard folder only once something is predicted in it
        task_type.write_predictions(predictions, job.path)
        return metrics

    return decode_score_write


def leaderboard_languages(inputs: StageInputs, languages: Sequence[str]) -> list[str]:
    """Those of ``languages`` (the stage's zero-shot languages) whose leaderboard input (the task's
    ``submission.split``, no gold needed) can be predicted.

    Languages whose input files are missing, or all of them when the data comes from the Hub and
    the split has no Hub source, are skipped with a warning (the sweep's submission folder lists
    them, :mod:`sweeper.results.submission`).
    """
    task = inputs.task
    if inputs.data_dir is None and any(source.hub is None for source in task.splits[task.submission.split].sources):
        logger.warning("%s: split %r has no Hub source; leaderboard file not predicted", task.task, task.submission.split)
        return []
    predictable = []
    for language in languages:
        absent = (
            []
            if inputs.data_dir is None
            else [path for path in split_files(task, task.submission.split, inputs.data_dir, language) if not path.is_file()]
        )
        if absent:
            logger.warning("%s/%s: no leaderboard input (%s does not exist), not predicted", task.task, language, absent[0])
            continue
        predictable.append(language)
    return predictable


def language_progress(task: TaskSpec, split: str, languages: list[str]) -> Progress:
    """A line per evaluated language in the worker's log (``zero-shot panx test: 3/7 ..., de f1 41.2``)."""
    return Progress(f"zero-shot {task.task} {split}", len(languages), "language", interval_s=0)


def language_note(task: TaskSpec, language: str, metrics: dict[str, float]) -> str:
    """``de f1 41.2``: a language and its selection metric, for a progress line."""
    score = metrics.get(task.metric)
    return f"{language} {task.metric} {score:.1f}" if score is not None else language
