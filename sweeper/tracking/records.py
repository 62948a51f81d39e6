"""Reading a tracked sweep back from MLflow into :class:`TrialRecord` objects (adapter)."""

from __future__ import annotations

from pathlib import Path

from sweeper.results.failures import FailedTrial
from sweeper.config import ENGLISH_DEV
from sweeper.results.selection import TrialRecord
from sweeper.tracking.runs import SELECTION_KEY, TARGET_DEV_KEY, Tracker

#: Stages of the nested runs that hold a target's results (``retrieval``: BUCC/Tatoeba evaluations).
RESULT_STAGES = ("target", "retrieval")


def _result_runs(tracker: Tracker, experiment_id: str, parent_run_id: str) -> list:
    runs = tracker.client.search_runs(
        [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'", max_results=50000
    )
    return [run for run in runs if run.data.tags.get("stage") in RESULT_STAGES]


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
            parts = key.split("/")
            if len(parts) != 5 or parts[0] != "zero_shot":
                continue
            _, _, language, split, metric = parts
            if "zero_shot_split" in tags and split != tags["zero_shot_split"]:
                continue
            if language == "avg":
                score = value if metric == "xtreme_score" else score
            else:
                zero_shot.setdefault(language, {})[metric] = value
        records.append(
            TrialRecord(
                run_id=run.info.run_id,
                intermediate_task=tags["intermediate_task"],
                target_task=tags["target_task"],
                learning_rate=float(tags["learning_rate"]) if "learning_rate" in tags else None,
                seed=int(tags["seed"]) if "seed" in tags else None,
                outcome=tags.get("asha_outcome", "running"),
                english_dev=metrics.get(SELECTION_KEY),
                zero_shot=zero_shot,
                zero_shot_score=score,
                selection_policy=tags.get("selection_policy", ENGLISH_DEV),
                target_dev=metrics.get(TARGET_DEV_KEY),
                settings=tuple(sorted(
                    (name, value) for name, value in run.data.params.items()
                    if name.startswith("training.") and name != "training.seed"
                )),
                zero_shot_split=tags.get("zero_shot_split"),
                target_dev_split=tags.get("target_dev_split"),
            )
        )
    return records


def selection_metrics(tracker: Tracker, experiment_id: str, parent_run_id: str) -> dict[str, str]:
    """target → the metric its trials were selected on (the ``selection_metric`` tag)."""
    return {
        run.data.tags["target_task"]: run.data.tags["selection_metric"]
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
                stage=tags.get("stage", "unknown"),
                intermediate_task=tags.get("intermediate_task", "unknown"),
                target_task=tags.get("target_task"),
                learning_rate=float(tags["learning_rate"]) if "learning_rate" in tags else None,
                seed=int(tags["seed"]) if "seed" in tags else None,
                attempts=int(tags.get("attempts", "1")),
                error=tags.get("error", "unknown error (no `error` tag)"),
            )
        )
    return sorted(failures, key=lambda f: (f.stage, f.intermediate_task, f.target_task or "", f.learning_rate or 0.0, f.seed or 0))
