"""MLflow logging of a trial's results, shared by the Train worker that computes them and the
trial that replays them from the stage cache (so a reused stage is tracked exactly like a
trained one). No torch and no MLflow: trial actors import this module.

Metric keys (:func:`sweeper.tracking.runs.metric_key`): ``<stage>/<task>/en/dev/<metric>`` per
English-dev evaluation (with its optimizer step), ``zero_shot/<task>/<lang|avg>/<split>/<metric>``,
``zero_shot/<task>/avg/<split>/xtreme_score``, ``selection/english_dev`` and
``selection/target_dev``; artifacts ``predictions/<task>`` and ``best_checkpoint``.
"""

from __future__ import annotations

from pathlib import Path

from sweeper.cache.outputs import ZeroShotResult
from sweeper.config import METRIC
from sweeper.metrics.xtreme import task_score
from sweeper.registry import THRESHOLD_SPLIT, TaskSpec
from sweeper.tracking.run_log import RunLog
from sweeper.tracking.schema import CHECKPOINT_ARTIFACT, SELECTION_KEY, TARGET_DEV_KEY, metric_key


def evaluation_metrics(stage: str, task: str, metrics: dict[str, float]) -> dict[str, float]:
    """One English-dev evaluation's metrics under their MLflow keys: every metric (0–100) but
    ``score`` (the selection metric under its own name)."""
    return {metric_key(stage, task, "en", "dev", name): value for name, value in metrics.items() if name != METRIC}


def log_evaluation(tracker: RunLog, run_id: str, stage: str, task: str, step: int, metrics: dict[str, float]) -> None:
    """One English-dev evaluation at optimizer ``step`` (:func:`evaluation_metrics`)."""
    tracker.log_metrics(run_id, evaluation_metrics(stage, task, metrics), step)


def log_zero_shot(tracker: RunLog, run_id: str, task: TaskSpec, result: ZeroShotResult) -> float:
    """Per-language, average and XTREME task-score metrics, and the predictions (artifact
    ``predictions/<task>``).

    Returns:
        The XTREME task score (0–100, :func:`sweeper.metrics.xtreme.task_score`).
    """
    split = task.zero_shot.split
    metrics = {}
    for language, scores in result.per_language.items():
        metrics.update({metric_key("zero_shot", task.task, language, split, name): value for name, value in scores.items()})
    for name in next(iter(result.per_language.values())):
        values = [scores[name] for scores in result.per_language.values()]
        metrics[metric_key("zero_shot", task.task, "avg", split, name)] = sum(values) / len(values)
    xtreme_score = task_score(task.task, result.per_language)
    metrics[metric_key("zero_shot", task.task, "avg", split, "xtreme_score")] = xtreme_score
    tracker.log_metrics(run_id, metrics)
    tracker.log_artifacts(run_id, result.predictions_dir, f"predictions/{task.task}")
    return xtreme_score


def log_target_dev(tracker: RunLog, run_id: str, task: TaskSpec, result: ZeroShotResult, dev_split: str) -> None:
    """``selection/target_dev``: the mean selection metric over the dev languages, and the
    per-language dev metrics unless they are the zero-shot ones (dev is the zero-shot split).
    Nothing when the result has no dev scores."""
    if not result.dev_per_language:
        return
    scores = result.dev_per_language
    metrics = {TARGET_DEV_KEY: sum(values[task.metric] for values in scores.values()) / len(scores)}
    if dev_split != task.zero_shot.split:
        metrics.update(
            {
                metric_key("zero_shot", task.task, language, dev_split, name): value
                for language, values in scores.items()
                for name, value in values.items()
            }
        )
    tracker.log_metrics(run_id, metrics)


def log_target_outcome(
    tracker: RunLog, run_id: str, task: TaskSpec, best_score: float, result: ZeroShotResult, best_model_dir: Path
) -> dict[str, float]:
    """A finished target trial: ``selection/english_dev`` (``best_score``, 0–100), the zero-shot
    and target-dev results, and the best model as artifact ``best_checkpoint``.

    Returns:
        The trial's last Tune result: ``score`` and ``zero_shot_score``.
    """
    tracker.log_metrics(run_id, {SELECTION_KEY: best_score})
    xtreme_score = log_zero_shot(tracker, run_id, task, result)
    log_target_dev(tracker, run_id, task, result, task.zero_shot.dev_split)
    tracker.log_artifacts(run_id, best_model_dir, CHECKPOINT_ARTIFACT)
    return {METRIC: best_score, "zero_shot_score": xtreme_score}


def log_retrieval(tracker: RunLog, run_id: str, task: TaskSpec, result: ZeroShotResult) -> dict[str, float]:
    """A finished retrieval evaluation: zero-shot results, BUCC's dev scores at the dev-tuned
    threshold (``selection/target_dev``) and thresholds (params ``threshold.<lang>``).

    Returns:
        The trial's Tune result: ``zero_shot_score``.
    """
    xtreme_score = log_zero_shot(tracker, run_id, task, result)
    log_target_dev(tracker, run_id, task, result, THRESHOLD_SPLIT)
    tracker.log_params(run_id, {f"threshold.{language}": str(value) for language, value in result.thresholds.items()})
    return {"zero_shot_score": xtreme_score}
