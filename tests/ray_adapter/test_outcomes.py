"""A trial's outcome agrees with grouped ASHA's record, whatever its teardown raises and in
whatever order the trial's error path and the driver's close run (deterministic interleavings).

The race of issue 16: ASHA stops a trial, Tune ends its actor, the Train controller's teardown
raises ``ActorDiedError`` inside ``TorchTrainer.fit()`` and the trial's error path used to close
its MLflow run FAILED. Here the real scheduler decides (its state file written as in a sweep), the
real error path (:func:`close_after_error`) and the real driver close
(:func:`reconcile_trial_runs`) run against a real sqlite MLflow store, in every order.
"""

from __future__ import annotations

import random

import pytest
from ray.exceptions import ActorDiedError
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from sweeper.progress.stage import EARLY_STOPPED as SHOWN_EARLY_STOPPED
from sweeper.progress.stage import FAILED as SHOWN_FAILED
from sweeper.progress.stage import StageProgress
from sweeper.ray_adapter.outcomes import (
    COMPLETED,
    EARLY_STOPPED,
    FAILED,
    UNCLOSED,
    close_after_error,
    close_trial_run,
    reconcile_trial_runs,
    trial_outcome,
)
from sweeper.ray_adapter.scheduling import GroupedASHAScheduler, saved_stopped_trial_ids
from sweeper.tracking.records import load_failed_trials
from sweeper.tracking.runs import Tracker, default_tracking_uri

TEARDOWN = ActorDiedError()  # what fit() raises when the stopped trial's placement group is removed


def _asha(state_path):
    return GroupedASHAScheduler(
        group_by=("target_task",),
        time_attr="evaluation",
        metric="score",
        mode="max",
        grace_period=1,
        max_t=4,
        reduction_factor=2,
        state_path=state_path,
    )


def _schedule(rng: random.Random, state_path, count: int) -> tuple[list[str], frozenset[str]]:
    """Feed ``count`` trials random rung-1/rung-2 results through a real scheduler; its record."""
    asha = _asha(state_path)
    trials = [Trial("__fake", config={"target_task": "panx"}, trial_id=f"t{i}", stub=True) for i in range(count)]
    for trial in trials:
        asha.on_trial_add(None, trial)
    for evaluation in (1, 2):
        for trial in rng.sample(trials, len(trials)):
            if trial.trial_id not in asha.stopped_trial_ids:
                asha.on_trial_result(None, trial, {"evaluation": evaluation, "score": rng.uniform(0, 100)})
    return [trial.trial_id for trial in trials], saved_stopped_trial_ids(state_path)


@pytest.mark.parametrize("error", [None, TEARDOWN, RuntimeError("CUDA out of memory"), "ActorDiedError: placement group removed"])
def test_a_stopped_trial_is_early_stopped_whatever_it_raised(error):
    decided = trial_outcome("t1", {"t1"}, error)
    assert (decided.outcome, decided.status, decided.error) == (EARLY_STOPPED, "KILLED", None)
    assert trial_outcome("t2", {"t1"}, error).outcome == (COMPLETED if error is None else FAILED)


def test_decision_many_random_interleavings_agree_with_the_scheduler(tmp_path):
    """300 random schedules: every decision (trial side, driver side, progress view) equals the record."""
    rng = random.Random(16)
    seen = {True: 0, False: 0}
    for repetition in range(300):
        state = tmp_path / f"asha{repetition % 4}.json"
        state.unlink(missing_ok=True)
        trial_ids, stopped = _schedule(rng, state, rng.randint(2, 6))
        for trial_id in trial_ids:
            seen[trial_id in stopped] += 1
            error = rng.choice([None, TEARDOWN, RuntimeError("boom")])
            expected = EARLY_STOPPED if trial_id in stopped else (COMPLETED if error is None else FAILED)
            assert trial_outcome(trial_id, saved_stopped_trial_ids(state), error).outcome == expected
            progress = StageProgress("target", 4)
            progress.started(trial_id, {"target_task": "panx", "intermediate_task": "none"}, 0.0)
            shown = progress.failed(trial_id, {"target_task": "panx", "intermediate_task": "none"}, 1.0, trial_id in stopped)
            assert shown == (SHOWN_EARLY_STOPPED if trial_id in stopped else SHOWN_FAILED)
    assert min(seen.values()) > 150, seen  # both kinds of trial, many times


@pytest.fixture(scope="module")
def tracker(tmp_path_factory) -> Tracker:
    return Tracker(default_tracking_uri(tmp_path_factory.mktemp("outcomes")))


# What happens to one trial's run before the driver closes the experiment:
#   teardown_first: its error path runs with the teardown error (the fix decides from the record);
#   stale_failed:   its run was closed FAILED by a teardown error (as before the fix, or a record
#                   that reached a shared filesystem late): the driver must correct it;
#   actor_gone:     Tune ended the actor before it could close its run (left RUNNING);
#   teardown_after: its error path runs only after the driver's close (must not undo it).
STOPPED_PATHS = ("teardown_first", "stale_failed", "actor_gone", "teardown_after")
# A trial ASHA did not stop: completed, failed for real (its own path), or killed (RUNNING + Tune error).
OTHER_PATHS = ("completed", "failed", "killed")


@pytest.mark.parametrize("seed", range(30))
def test_recorded_outcomes_agree_with_the_scheduler_in_every_order(tracker, tmp_path, seed):
    rng = random.Random(seed)
    experiment_id = tracker.experiment_id(f"race-{seed}", tmp_path / "artifacts")
    parent = tracker.client.create_run(experiment_id, tags={"stage": "sweep"}).info.run_id
    state = tmp_path / "asha_state.json"
    trial_ids, stopped = _schedule(rng, state, 6)
    runs, paths, tune_errors, after = {}, {}, {}, []
    for trial_id in trial_ids:
        run_id = tracker.start_child(
            experiment_id, parent, f"target/none->panx-{trial_id}", {"stage": "target", "ray_trial_id": trial_id}, {}
        )
        path = rng.choice(STOPPED_PATHS if trial_id in stopped else OTHER_PATHS)
        runs[trial_id], paths[trial_id] = run_id, path
        if path == "teardown_first":
            assert close_after_error(tracker, run_id, trial_id, state, TEARDOWN, {}).outcome == EARLY_STOPPED
            tune_errors[run_id] = TEARDOWN
        elif path == "stale_failed":
            tracker.set_tags(run_id, {"asha_outcome": FAILED, "error": "ActorDiedError: placement group was removed"})
            tracker.finish(run_id, "FAILED")
            tune_errors[run_id] = TEARDOWN
        elif path == "teardown_after":
            after.append((trial_id, run_id))
        elif path == "completed":
            close_trial_run(tracker, run_id, trial_outcome(trial_id, stopped, None), {})
        elif path == "failed":
            tune_errors[run_id] = RuntimeError("CUDA out of memory")
            assert close_after_error(tracker, run_id, trial_id, state, tune_errors[run_id], {}).outcome == FAILED
        elif path == "killed":
            tune_errors[run_id] = "OutOfMemoryError: the trial's process was killed"
    reconcile_trial_runs(
        tracker, experiment_id, parent, saved_stopped_trial_ids(state), lambda run: tune_errors.get(run.info.run_id)
    )
    for trial_id, run_id in after:
        tags = tracker.client.get_run(run_id).data.tags
        assert close_after_error(tracker, run_id, trial_id, state, TEARDOWN, tags).outcome == EARLY_STOPPED
    failed = {failure.run_id for failure in load_failed_trials(tracker, experiment_id, parent)}
    for trial_id, run_id in runs.items():
        run = tracker.client.get_run(run_id)
        outcome, status = run.data.tags["asha_outcome"], run.info.status
        if trial_id in stopped:
            assert (outcome, status, "error" in run.data.tags) == (EARLY_STOPPED, "KILLED", False), paths[trial_id]
            assert run_id not in failed
        elif paths[trial_id] == "completed":
            assert (outcome, status) == (COMPLETED, "FINISHED")
        else:
            assert (outcome, status) == (FAILED, "FAILED") and run_id in failed
            assert run.data.tags["error"] != UNCLOSED


def test_a_run_left_running_without_any_error_is_failed_not_early_stopped(tracker, tmp_path):
    experiment_id = tracker.experiment_id("unclosed", tmp_path / "artifacts")
    parent = tracker.client.create_run(experiment_id, tags={"stage": "sweep"}).info.run_id
    run_id = tracker.start_child(
        experiment_id, parent, "retrieval/none->tatoeba", {"stage": "retrieval", "ray_trial_id": "r0"}, {}
    )
    assert reconcile_trial_runs(tracker, experiment_id, parent, frozenset(), lambda run: None) == [run_id]
    run = tracker.client.get_run(run_id)
    assert (run.info.status, run.data.tags["asha_outcome"], run.data.tags["error"]) == ("FAILED", FAILED, UNCLOSED)


def test_scheduler_saves_its_record_before_it_returns_stop(tmp_path):
    """What makes the trial-side check deterministic: the state file names the trial before Tune can stop it."""
    state = tmp_path / "asha_state.json"
    asha = _asha(state)
    trials = [Trial("__fake", config={"target_task": "panx"}, trial_id=f"t{i}", stub=True) for i in range(2)]
    for trial in trials:
        asha.on_trial_add(None, trial)
    asha.on_trial_result(None, trials[0], {"evaluation": 1, "score": 80.0})
    assert asha.on_trial_result(None, trials[1], {"evaluation": 1, "score": 10.0}) == TrialScheduler.STOP
    assert saved_stopped_trial_ids(state) == {"t1"}
