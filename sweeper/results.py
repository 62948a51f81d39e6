"""Reading a tracked sweep back from MLflow into :class:`TrialRecord` objects (adapter)."""

from __future__ import annotations

from sweeper.selection import TrialRecord
from sweeper.tracking import SELECTION_KEY, Tracker


def load_trial_records(tracker: Tracker, experiment_id: str, parent_run_id: str) -> list[TrialRecord]:
    """Every target trial run nested under ``parent_run_id``, with its tracked metrics.

    Zero-shot metrics are read from keys ``zero_shot/<task>/<lang>/<split>/<metric>``; the
    per-task score from ``zero_shot/<task>/avg/<split>/xtreme_score``.
    """
    runs = tracker.client.search_runs(
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.stage = 'target'",
        max_results=50000,
    )
    records = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        zero_shot: dict[str, dict[str, float]] = {}
        score = None
        for key, value in metrics.items():
            parts = key.split("/")
            if len(parts) != 5 or parts[0] != "zero_shot":
                continue
            _, _, language, _, metric = parts
            if language == "avg":
                score = value if metric == "xtreme_score" else score
            else:
                zero_shot.setdefault(language, {})[metric] = value
        records.append(
            TrialRecord(
                run_id=run.info.run_id,
                intermediate_task=tags["intermediate_task"],
                target_task=tags["target_task"],
                learning_rate=float(tags["learning_rate"]),
                seed=int(tags["seed"]),
                outcome=tags.get("asha_outcome", "running"),
                english_dev=metrics.get(SELECTION_KEY),
                zero_shot=zero_shot,
                zero_shot_score=score,
            )
        )
    return records


def selection_metrics(tracker: Tracker, experiment_id: str, parent_run_id: str) -> dict[str, str]:
    """target → the metric its trials were selected on (the ``selection_metric`` tag)."""
    runs = tracker.client.search_runs(
        [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.stage = 'target'"
    )
    return {run.data.tags["target_task"]: run.data.tags["selection_metric"] for run in runs}
