"""Evaluations reach MLflow once their checkpoints are committed, each once: real Ray Train runs
(a plain Python train function, no model) on a local Ray, logging through a real tracking service
to a sqlite MLflow store."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import ray
import ray.train
from ray import tune
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

from sweeper.ray_adapter.evaluation_log import LogCommittedEvaluations
from sweeper.ray_adapter.tracking_service import ServiceRunLog, service_name, tracking_service_running
from sweeper.ray_adapter.worker import EVALUATION_LOG, LoggedEvaluation, _log_resumed_evaluation

KEY = "target/panx/en/dev/f1"


@pytest.fixture
def run(sweep):
    """A trial's MLflow run in the sweep's store: (tracking URI, Tracker, parent run id, run id)."""
    uri, tracker, experiment_id, parent = sweep
    return uri, tracker, parent, tracker.start_child(experiment_id, parent, "target/none->panx", {}, {})


def _report(step: int, fail_after: int | None) -> None:
    """Rank 0's report of the evaluation at ``step`` with its checkpoint, as the stage worker does."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "step").write_text(str(step), encoding="utf-8")
        evaluation = LoggedEvaluation({KEY: 10.0 * step}, timestamp_ms=1_000_000 + step)
        metrics = {"step": step, "score": float(step), EVALUATION_LOG: evaluation.as_report_value()}
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
    if step == fail_after and ray.train.get_context().get_world_rank() == 0:
        raise RuntimeError("a worker lost after this evaluation's checkpoint")


def _train(config: dict) -> None:
    """Evaluations at steps 2, 4, 6, resuming after the checkpoint's step; the first attempt fails
    after step ``fail_after``."""
    checkpoint = ray.train.get_checkpoint()
    start = 2
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start = int(Path(folder, "step").read_text(encoding="utf-8")) + 2
    for step in range(start, 7, 2):
        _report(step, config["fail_after"] if checkpoint is None else None)


def _trial(config: dict) -> None:
    """A Tune trial running ``_train`` in a Train run that logs committed evaluations."""
    trainer = DataParallelTrainer(
        _train,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 0.5}),
        run_config=RunConfig(
            name="train",
            storage_path=config["storage"],
            callbacks=[LogCommittedEvaluations(config["service"], config["uri"], config["run_id"])],
            failure_config=FailureConfig(max_failures=1),
            checkpoint_config=CheckpointConfig(num_to_keep=1),
        ),
    )
    trainer.fit()


def test_each_committed_evaluation_is_logged_once_and_reaches_tune_without_its_metrics(run, tmp_path, local_ray):
    uri, tracker, parent, run_id = run
    config = {"storage": str(tmp_path / "ray"), "service": service_name(parent), "uri": uri, "run_id": run_id}
    with tracking_service_running(uri, parent):
        tuner = tune.Tuner(
            _trial,
            param_space={**config, "fail_after": 4},
            tune_config=tune.TuneConfig(num_samples=1),
            run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="phase"),
        )
        results = tuner.fit()
    assert not results.errors
    history = tracker.client.get_metric_history(run_id, KEY)
    # the worker lost after step 4's report: whether the retry resumes after step 4 or step 2,
    # each evaluation is logged once, at the time it was measured
    assert sorted((metric.step, metric.value, metric.timestamp) for metric in history) == [
        (step, 10.0 * step, 1_000_000 + step) for step in (2, 4, 6)
    ]
    reported = results[0].metrics_dataframe
    assert list(reported["step"]) == [2, 4, 6]
    assert not [column for column in reported.columns if column.startswith(EVALUATION_LOG)], "Tune is not sent them"


def _committed_then_lost(config: dict) -> None:
    """A Train run (no logging callback: its controller lost between commit and log) whose second
    attempt logs the evaluation it resumes after, twice over."""
    if ray.train.get_checkpoint() is None:
        _report(2, fail_after=2)
    run_log = ServiceRunLog(config["service"], config["uri"])
    _log_resumed_evaluation(run_log, config["run_id"])
    _log_resumed_evaluation(run_log, config["run_id"])


def test_a_retry_logs_the_committed_evaluation_a_lost_controller_left_unlogged(run, tmp_path, local_ray):
    uri, tracker, parent, run_id = run
    with tracking_service_running(uri, parent):
        DataParallelTrainer(
            _committed_then_lost,
            train_loop_config={"service": service_name(parent), "uri": uri, "run_id": run_id},
            scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 0.5}),
            run_config=RunConfig(name="lost", storage_path=str(tmp_path / "ray"), failure_config=FailureConfig(max_failures=1)),
        ).fit()
    history = tracker.client.get_metric_history(run_id, KEY)
    assert [(metric.step, metric.value, metric.timestamp) for metric in history] == [(2, 20.0, 1_000_002)]
