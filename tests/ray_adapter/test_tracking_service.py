"""The sweep's tracking service: how a trial's run is opened, continued, skipped and closed
(:class:`TrackingService` on a real sqlite MLflow store, called in-process), and the real Ray
actor reached by name from a task, as trial actors and Train workers reach it."""

from __future__ import annotations

import math
import sys

import ray
from ray.tune.experiment import Trial

from sweeper.config import METRIC
from sweeper.ray_adapter.scheduling import GroupedASHAScheduler, saved_stopped_trial_ids
from sweeper.ray_adapter.tracking_service import ServiceRunLog, TrackingService, service_name, tracking_service_running
from sweeper.tracking.schema import SELECTION_KEY, Outcome, Tag

TAGS = {Tag.STAGE: "target", Tag.LEARNING_RATE: 2e-5}
PARAMS = {"training": {"learning_rate": 2e-5}}


def test_a_trial_run_is_opened_continued_by_a_retry_and_closed_with_its_outcome(sweep, tmp_path):
    uri, tracker, experiment_id, parent = sweep
    service, asha = TrackingService(uri), tmp_path / "asha_state.json"
    first = service.open(experiment_id, parent, "t1", "target/none->panx", TAGS, PARAMS, asha)
    assert first.report is None and first.earlier_tags == {}
    tags = tracker.run_tags(first.run_id)
    assert tags[Tag.RAY_TRIAL_ID] == "t1" and tags["mlflow.parentRunId"] == parent and tags[Tag.LEARNING_RATE] == "2e-05"
    assert tracker.run_params(first.run_id) == {"training.learning_rate": "2e-05"}
    assert service.close_after_error(first.run_id, "t1", asha, "OSError: disk full", first.earlier_tags)
    assert tracker.run_status(first.run_id) == "FAILED" and tracker.run_tags(first.run_id)[Tag.ERROR] == "OSError: disk full"

    retry = service.open(experiment_id, parent, "t1", "target/none->panx", TAGS, PARAMS, asha)
    assert retry.run_id == first.run_id and retry.earlier_tags[Tag.OUTCOME] == Outcome.FAILED
    assert tracker.run_status(retry.run_id) == "RUNNING" and tracker.run_tags(retry.run_id)[Tag.ATTEMPTS] == "2"
    service.log_metrics(retry.run_id, {SELECTION_KEY: 71.5})
    service.close(retry.run_id, {Tag.TARGET_STAGE: "trained"}, retry.earlier_tags)
    tags = tracker.run_tags(retry.run_id)
    assert tracker.run_status(retry.run_id) == "FINISHED" and tags[Tag.OUTCOME] == Outcome.COMPLETED
    assert Tag.ERROR not in tags and tags[Tag.TARGET_STAGE] == "trained"

    # restored from a snapshot older than its end: it reports its score and does not run again
    again = service.open(experiment_id, parent, "t1", "target/none->panx", TAGS, PARAMS, asha)
    assert again.run_id is None and again.report == {METRIC: 71.5}
    assert len(tracker.children(experiment_id, parent)) == 1


def _stopped_by_grouped_asha(state_path) -> list[str]:
    """Six PAN-X trials report falling scores at rung 1 to a real grouped ASHA: the ids it stopped
    (its record, written to ``state_path`` before each decision)."""
    asha = GroupedASHAScheduler(
        ("target_task",), "evaluation", "score", "max", grace_period=1, max_t=4, reduction_factor=2, state_path=state_path
    )
    trials = [Trial("__fake", config={"target_task": "panx"}, trial_id=f"t{index}", stub=True) for index in range(6)]
    for trial in trials:
        asha.on_trial_add(None, trial)
    for trial, score in zip(trials, [90, 80, 70, 10, 5, 1]):
        asha.on_trial_result(None, trial, {"evaluation": 1, "score": score})
    return sorted(saved_stopped_trial_ids(state_path))


def test_a_trial_grouped_asha_stopped_gets_no_run_and_its_error_is_an_early_stop(sweep, tmp_path):
    uri, tracker, experiment_id, parent = sweep
    service, asha = TrackingService(uri), tmp_path / "asha_state.json"
    first, second, *_ = _stopped_by_grouped_asha(tmp_path / "record.json")
    opened = service.open(experiment_id, parent, first, "target/none->panx", TAGS, PARAMS, asha)
    (tmp_path / "record.json").rename(asha)  # stopped while it ran
    assert not service.close_after_error(opened.run_id, first, asha, "ActorDiedError: torn down", opened.earlier_tags)
    assert tracker.run_status(opened.run_id) == "KILLED"
    assert tracker.run_tags(opened.run_id)[Tag.OUTCOME] == Outcome.EARLY_STOPPED
    stopped = service.open(experiment_id, parent, second, "target/none->panx", TAGS, PARAMS, asha)
    assert stopped.run_id is None and math.isnan(stopped.report[METRIC])
    assert len(tracker.children(experiment_id, parent)) == 1, "no run for a trial stopped before it started"


@ray.remote(num_cpus=0.5)
def _log_from_a_worker(service: str, uri: str, run_id: str, folder: str) -> tuple[set[int], bool]:
    """What a Train worker does: metrics and tags through the service, files from its own process."""
    import pathlib

    run_log = ServiceRunLog(service, uri)
    for step in (2, 4):
        run_log.log_metrics(run_id, {"target/panx/en/dev/f1": 50.0 + step}, step)
    run_log.set_tags(run_id, {Tag.WORLD_SIZE: 1})
    run_log.log_artifacts(run_id, pathlib.Path(folder), "predictions/panx")
    return run_log.logged_steps(run_id, "target/panx/en/dev/f1"), "mlflow" in sys.modules


def test_the_service_actor_is_reached_by_name_and_files_are_logged_by_their_process(sweep, tmp_path, local_ray):
    uri, tracker, experiment_id, parent = sweep
    run_id = tracker.start_child(experiment_id, parent, "target/none->panx", TAGS, {})
    (tmp_path / "predictions").mkdir()
    (tmp_path / "predictions" / "test-de.tsv").write_text("O\n", encoding="utf-8")
    with tracking_service_running(uri, parent):
        worker = _log_from_a_worker.remote(service_name(parent), uri, run_id, str(tmp_path / "predictions"))
        steps, imported_mlflow = ray.get(worker)
    assert steps == {2, 4} and imported_mlflow, "MLflow is imported to log files only"
    assert tracker.run_tags(run_id)[Tag.WORLD_SIZE] == "1"
    assert [artifact.path for artifact in tracker.client.list_artifacts(run_id, "predictions/panx")] == [
        "predictions/panx/test-de.tsv"
    ]
