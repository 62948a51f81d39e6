"""Hand-built trial records → real MLflow runs in an sqlite store, laid out as a sweep tracks them.

Shared by the tests of the report files, the Model Registry and ``sweeper compare``: each record
becomes a nested run with the tags and metric keys ``sweeper.tracking.records`` reads back; completed
target trials get a tiny ``best_checkpoint`` artifact folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sweeper.results.selection import TrialRecord
from sweeper.tracking.runs import Tracker, default_tracking_uri
from sweeper.tracking.schema import CHECKPOINT_ARTIFACT, SELECTION_KEY, TARGET_DEV_KEY, metric_key
from sweeper.tracking.sweep_record import SweepRecord


def track_sweep(output: Path, name: str, records: Sequence[TrialRecord], metrics: dict[str, str]) -> SweepRecord:
    """A parent run with ``records`` as nested runs in ``output/mlflow.db``; ``sweep.json`` written.

    Args:
        metrics: target → its selection metric (the ``selection_metric`` tag).
    """
    output.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(default_tracking_uri(output))
    experiment_id = tracker.experiment_id(name, output / "mlartifacts")
    parent = tracker.client.create_run(experiment_id, run_name=name, tags={"stage": "sweep", "sweep": name}).info.run_id
    tracker.log_params(parent, {"report.benchmark": "xtreme"})
    record = SweepRecord(name=name, tracking_uri=tracker.tracking_uri, experiment_id=experiment_id, parent_run_id=parent)
    record.write(output)
    add_trials(record, records, metrics)
    tracker.finish(parent)  # a finished sweep: `sweeper report` / `compare` refuse a RUNNING one
    return record


def add_trials(sweep: SweepRecord, records: Sequence[TrialRecord], metrics: dict[str, str]) -> list[str]:
    """Log ``records`` as nested runs of ``sweep`` (stage ``retrieval`` when a record has no
    learning rate); returns their MLflow run ids in order."""
    tracker = Tracker(sweep.tracking_uri)
    checkpoint = Path(tracker.tracking_uri.removeprefix("sqlite:///")).parent / "fake_checkpoint"
    checkpoint.mkdir(exist_ok=True)
    (checkpoint / "config.json").write_text('{"model_type": "xlm-roberta"}', encoding="utf-8")
    run_ids = []
    for trial in records:
        target = trial.target_task
        stage = "target" if trial.learning_rate is not None else "retrieval"
        tags = {
            "stage": stage,
            "intermediate_task": trial.intermediate_task,
            "target_task": target,
            "asha_outcome": trial.outcome,
            "selection_metric": metrics[target],
            "selection_policy": trial.selection_policy,
        }
        if trial.learning_rate is not None:
            tags.update(learning_rate=str(trial.learning_rate), seed=str(trial.seed))
        run_id = tracker.start_child(sweep.experiment_id, sweep.parent_run_id, f"{trial.intermediate_task}-{target}", tags, {})
        values = {
            metric_key("zero_shot", target, language, "dev", metric): value
            for language, scores in trial.zero_shot.items()
            for metric, value in scores.items()
        }
        if trial.zero_shot_score is not None:
            values[metric_key("zero_shot", target, "avg", "dev", "xtreme_score")] = trial.zero_shot_score
        if trial.english_dev is not None:
            values[SELECTION_KEY] = trial.english_dev
        if trial.target_dev is not None:
            values[TARGET_DEV_KEY] = trial.target_dev
        if values:
            tracker.log_metrics(run_id, values)
        if stage == "target" and trial.outcome == "completed":
            tracker.log_artifacts(run_id, checkpoint, CHECKPOINT_ARTIFACT)
        tracker.finish(run_id, "FINISHED" if trial.outcome == "completed" else "KILLED")
        run_ids.append(run_id)
    return run_ids
