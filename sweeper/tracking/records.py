"""Reading a tracked sweep back from MLflow into :class:`TrialRecord` objects (adapter)."""

from __future__ import annotations

from pathlib import Path

from sweeper.config import ENGLISH_DEV
from sweeper.results.failures import FailedTrial
from sweeper.results.selection import TrialRecord
from sweeper.tracking.runs import Tracker
from sweeper.tracking.schema import AVERAGE, RESULT_STAGES, SELECTION_KEY, TARGET_DEV_KEY, Outcome, Tag, parse_metric_key


def _result_runs(tracker: Tracker, experiment_id: str, parent_run_id: str) -> list:
    runs = tracker.client.search_runs(
        [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'", max_results=50000
    )
    return [run for run in runs if run.data.tags.get(Tag.STAGE) in RESULT_STAGES]


def load_trial_records(tracker: Tracker, experiment_id: str, parent_run_id: str) -> list[TrialRecord]:
    """Every target trial and retrieval evaluation run nested under ``parent_run_id``, with its metrics.

    Zero-shot metrics are read from keys ``zero_shot/<task>/<lang>/<split>/<metric>`` of the run's
    zero-shot split (tag ``zero_shot_split``; BUCC and targets scored under policy ``target_dev``
    also log a dev split); the per-task score from ``zero_shot/<task>/avg/<split>/xtreme_score``.
    A trial's ``settings`` are its ``training.*`` params but ``training.seed``.
    """
    records = []
    for run in _result_runs(tracker, experiment_id, parent_run_id):
        tags, metrics = run.data.tags, run.data.metrics
        zero_shot: dict[str, dict[str, float]] = {}
        score = None
        for key, value in metrics.items():
            parsed = parse_metric_key(key)
            if parsed is None or parsed.stage != "zero_shot":
                continue
            if Tag.ZERO_SHOT_SPLIT in tags and parsed.split != tags[Tag.ZERO_SHOT_SPLIT]:
                continue
            if parsed.language == AVERAGE:
                score = value if parsed.metric == "xtreme_score" else score
            else:
                zero_shot.setdefault(parsed.language, {})[parsed.metric] = value
        records.append(
            TrialRecord(
                run_id=run.info.run_id,
                intermediate_task=tags[Tag.INTERMEDIATE_TASK],
                target_task=tags[Tag.TARGET_TASK],
                learning_rate=float(tags[Tag.LEARNING_RATE]) if Tag.LEARNING_RATE in tags else None,
                seed=int(tags[Tag.SEED]) if Tag.SEED in tags else None,
                outcome=tags.get(Tag.OUTCOME, Outcome.RUNNING),
                english_dev=metrics.get(SELECTION_KEY),
                zero_shot=zero_shot,
                zero_shot_score=score,
                selection_policy=tags.get(Tag.SELECTION_POLICY, ENGLISH_DEV),
                target_dev=metrics.get(TARGET_DEV_KEY),
                settings=tuple(
                    sorted(
                        (name, value)
                        for name, value in run.data.params.items()
                        if name.startswith("training.") and name != "training.seed"
                    )
                ),
                zero_shot_split=tags.get(Tag.ZERO_SHOT_SPLIT),
                target_dev_split=tags.get(Tag.TARGET_DEV_SPLIT),
            )
        )
    return records


def selection_metrics(tracker: Tracker, experiment_id: str, parent_run_id: str) -> dict[str, str]:
    """target → the metric its trials were selected on (the ``selection_metric`` tag)."""
    return {
        run.data.tags[Tag.TARGET_TASK]: run.data.tags[Tag.SELECTION_METRIC]
        for run in _result_runs(tracker, experiment_id, parent_run_id)
    }


def download_predictions(tracker: Tracker, run_id: str, task: str, destination: Path) -> Path | None:
    """Copy a trial's ``predictions/<task>`` artifact folder under ``destination``; its local path,
    or ``None`` when the run logged no predictions of ``task``."""
    artifact = f"predictions/{task}"
    if not tracker.client.list_artifacts(run_id, artifact):
        return None
    (destination / run_id).mkdir(parents=True, exist_ok=True)
    return Path(tracker.client.download_artifacts(run_id, artifact, str(destination / run_id)))


def load_failed_trials(tracker: Tracker, experiment_id: str, parent_run_id: str) -> list[FailedTrial]:
    """Every nested run of the sweep whose trial failed (tag ``asha_outcome=failed``), in stage,
    intermediate, target, learning rate and seed order."""
    runs = tracker.client.search_runs(
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.asha_outcome = 'failed'",
        max_results=50000,
    )
    failures = []
    for run in runs:
        tags = run.data.tags
        failures.append(
            FailedTrial(
                run_id=run.info.run_id,
                stage=tags.get(Tag.STAGE, "unknown"),
                intermediate_task=tags.get(Tag.INTERMEDIATE_TASK, "unknown"),
                target_task=tags.get(Tag.TARGET_TASK),
                learning_rate=float(tags[Tag.LEARNING_RATE]) if Tag.LEARNING_RATE in tags else None,
                seed=int(tags[Tag.SEED]) if Tag.SEED in tags else None,
                attempts=int(tags.get(Tag.ATTEMPTS, "1")),
                error=tags.get(Tag.ERROR, "unknown error (no `error` tag)"),
            )
        )
    return sorted(
        failures, key=lambda f: (f.stage, f.intermediate_task, f.target_task or "", f.learning_rate or 0.0, f.seed or 0)
    )
