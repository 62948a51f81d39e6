"""Grouped ASHA driven with synthetic results, no training (Ray Tune's AsyncHyperBandSuite style)."""

import json

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from sweeper.ray_adapter.scheduling import GroupedASHAScheduler, saved_stopped_trial_ids


def scheduler(group_by=("target_task",)):
    return GroupedASHAScheduler(
        group_by=group_by, time_attr="evaluation", metric="score", mode="max", grace_period=1, max_t=4, reduction_factor=2
    )


def trial(trial_id, **config):
    return Trial("__fake", config=config, trial_id=trial_id, stub=True)


def result(evaluation, score):
    return {"evaluation": evaluation, "score": score}


def test_trials_of_different_targets_are_never_compared():
    asha = scheduler()
    xnli = [trial(f"x{i}", target_task="xnli") for i in range(2)]
    panx = trial("p0", target_task="panx")
    for t in xnli + [panx]:
        asha.on_trial_add(None, t)
    assert asha.on_trial_result(None, xnli[0], result(1, 85.0)) == TrialScheduler.CONTINUE
    assert asha.on_trial_result(None, xnli[1], result(1, 90.0)) == TrialScheduler.CONTINUE
    # A PAN-X F1 of 20 is far below the XNLI accuracies at rung 1; one shared ASHA would stop it.
    assert asha.on_trial_result(None, panx, result(1, 20.0)) == TrialScheduler.CONTINUE


def test_within_a_group_the_bottom_trials_are_stopped():
    asha = scheduler()
    trials = [trial(f"t{i}", target_task="panx") for i in range(3)]
    for t in trials:
        asha.on_trial_add(None, t)
    assert asha.on_trial_result(None, trials[0], result(1, 80.0)) == TrialScheduler.CONTINUE
    assert asha.on_trial_result(None, trials[1], result(1, 70.0)) == TrialScheduler.STOP
    assert asha.on_trial_result(None, trials[2], result(1, 90.0)) == TrialScheduler.CONTINUE


def test_results_without_time_attr_or_metric_are_ignored():
    asha = scheduler()
    t = trial("t0", target_task="panx")
    asha.on_trial_add(None, t)
    assert asha.on_trial_result(None, t, {"score": 1.0}) == TrialScheduler.CONTINUE
    assert asha.rung_history()[("panx",)] == [(4, {}), (2, {}), (1, {})]


def test_trials_reaching_max_t_are_left_to_finish():
    asha = scheduler()
    t = trial("t0", target_task="panx")
    asha.on_trial_add(None, t)
    assert asha.on_trial_result(None, t, result(4, 50.0)) == TrialScheduler.CONTINUE


def test_cell_grouping_separates_intermediate_tasks():
    asha = scheduler(group_by=("intermediate_task", "target_task"))
    a = trial("a", intermediate_task="mnli", target_task="panx")
    b = trial("b", intermediate_task="none", target_task="panx")
    for t in (a, b):
        asha.on_trial_add(None, t)
    asha.on_trial_result(None, a, result(1, 90.0))
    assert asha.on_trial_result(None, b, result(1, 10.0)) == TrialScheduler.CONTINUE
    assert set(asha.rung_history()) == {("mnli", "panx"), ("none", "panx")}


def test_missing_group_key_is_a_clear_error():
    with pytest.raises(KeyError, match="target_task"):
        scheduler().on_trial_add(None, trial("t", intermediate_task="mnli"))


def test_the_scheduler_remembers_which_trials_it_stopped():
    asha = scheduler()
    trials = [trial(f"t{i}", target_task="panx") for i in range(3)]
    for t in trials:
        asha.on_trial_add(None, t)
    asha.on_trial_result(None, trials[0], result(1, 80.0))
    asha.on_trial_result(None, trials[1], result(1, 70.0))
    asha.on_trial_result(None, trials[2], result(1, 90.0))
    assert asha.stopped_trial_ids == {"t1"}, "only the trial ASHA stopped, not those that went on"


def persisted(path, group_by=("target_task",)):
    return GroupedASHAScheduler(
        group_by=group_by,
        time_attr="evaluation",
        metric="score",
        mode="max",
        grace_period=1,
        max_t=4,
        reduction_factor=2,
        state_path=path,
    )


# Two groups of four trials; each step is (trial index, evaluation, score). Scores are chosen so
# that later decisions depend on rung values recorded before the crash point.
TRIALS = [("a0", "panx"), ("a1", "panx"), ("a2", "panx"), ("a3", "panx"), ("b0", "xnli"), ("b1", "xnli")]
STEPS = [
    (0, 1, 50.0),
    (4, 1, 70.0),
    (1, 1, 60.0),
    (5, 1, 60.0),
    (0, 2, 55.0),
    (1, 2, 65.0),
    # crash after these six results
    (2, 1, 40.0),
    (3, 1, 62.0),
    (3, 2, 58.0),
    (1, 3, 66.0),
    (5, 2, 80.0),
    (2, 2, 90.0),
    (3, 3, 70.0),
]
CRASH_AFTER = 6


def with_trials(asha):
    """``asha`` with the trials of :data:`TRIALS` added (as Tune adds them, also on restore)."""
    trials = [trial(trial_id, target_task=target) for trial_id, target in TRIALS]
    for t in trials:
        asha.on_trial_add(None, t)
    return asha, trials


def drive(asha, trials, steps):
    """Feed ``steps`` to ``asha``; a stopped trial reports nothing more (as under Tune)."""
    decisions = []
    for index, evaluation, score in steps:
        if trials[index].trial_id in asha.stopped_trial_ids:
            continue
        decisions.append(
            (trials[index].trial_id, evaluation, asha.on_trial_result(None, trials[index], result(evaluation, score)))
        )
    return decisions


def uninterrupted_decisions():
    uninterrupted, trials = with_trials(scheduler())
    return uninterrupted, drive(uninterrupted, trials, STEPS)


def test_a_restarted_scheduler_decides_as_an_uninterrupted_one(tmp_path):
    uninterrupted, expected = uninterrupted_decisions()
    assert any(decision == TrialScheduler.STOP for *_, decision in expected[CRASH_AFTER:]), "the tail must prune"

    path = tmp_path / "asha_state.json"
    decisions = drive(*with_trials(persisted(path)), STEPS[:CRASH_AFTER])
    # The driver dies; only the state file survives. Tuner.restore hands back a scheduler that
    # has seen nothing, and Tune re-adds every trial of the restored experiment.
    after, restored = with_trials(persisted(path))
    decisions += drive(after, restored, STEPS[CRASH_AFTER:])
    assert decisions == expected
    assert after.rung_history() == uninterrupted.rung_history()
    assert after.stopped_trial_ids == uninterrupted.stopped_trial_ids


def test_without_the_state_file_a_restarted_scheduler_would_decide_differently():
    """The control case: the crash point matters, so the test above can fail."""
    _, expected = uninterrupted_decisions()
    assert drive(*with_trials(scheduler()), STEPS[CRASH_AFTER:]) != expected[CRASH_AFTER:]


def test_a_trial_stopped_before_the_crash_stays_stopped(tmp_path):
    path = tmp_path / "asha_state.json"
    before, trials = with_trials(persisted(path))
    before.on_trial_result(None, trials[0], result(1, 80.0))
    assert before.on_trial_result(None, trials[1], result(1, 10.0)) == TrialScheduler.STOP
    after, _ = with_trials(persisted(path))
    # Tune's snapshot may predate the stop, so the restored trial runs and reports again.
    assert after.on_trial_result(None, trials[1], result(2, 99.0)) == TrialScheduler.STOP
    assert after.stopped_trial_ids == {"a1"}


def test_the_state_file_is_replaced_whole(tmp_path):
    path = tmp_path / "asha_state.json"
    asha = persisted(path)
    t = trial("a0", target_task="panx")
    asha.on_trial_add(None, t)
    asha.on_trial_result(None, t, result(1, 50.0))
    state = json.loads(path.read_text())
    assert state["trial_groups"] == {"a0": ["panx"]}
    assert [1, {"a0": 50.0}] in state["groups"][0]["rungs"]
    assert not list(tmp_path.glob("*.tmp")), "written to a temporary file, then renamed"
    assert saved_stopped_trial_ids(path) == frozenset()
    asha.on_trial_add(None, trial("a1", target_task="panx"))
    asha.on_trial_result(None, trial("a1", target_task="panx"), result(1, 10.0))
    assert saved_stopped_trial_ids(path) == {"a1"}
    assert saved_stopped_trial_ids(tmp_path / "none.json") == frozenset()
