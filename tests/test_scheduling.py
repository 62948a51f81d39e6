"""Grouped ASHA driven with synthetic results, no training (Ray Tune's AsyncHyperBandSuite style)."""

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from sweeper.scheduling import GroupedASHAScheduler


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
