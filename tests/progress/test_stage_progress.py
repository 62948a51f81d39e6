"""The progress view's state, driven by synthetic trial events (no Ray)."""

import io

import pytest
from rich.console import Console

from sweeper.progress.stage import (
    DONE,
    EARLY_STOPPED,
    FAILED,
    PENDING,
    RUNNING,
    StageProgress,
    format_seconds,
    status_line,
    status_table,
    trial_line,
)


def cfg(intermediate: str, target: str, lr: float) -> dict:
    return {"intermediate_task": intermediate, "target_task": target, "learning_rate": lr, "seed": 1}


def run_trial(progress, trial_id, config, start, scores, end, stopped=False):
    """A trial started at ``start`` reporting ``scores`` (one per evaluation), ended at ``end``."""
    progress.started(trial_id, config, start)
    for evaluation, score in enumerate(scores, 1):
        progress.reported(trial_id, config, evaluation, score, done=stopped and evaluation == len(scores))
    return progress.ended(trial_id, config, end)


def test_counts_pending_include_trials_tune_has_not_created():
    progress = StageProgress("target", max_t=3)
    progress.begin(0.0, total_trials=6)
    progress.started("a", cfg("none", "panx", 1e-4), 0.0)
    progress.started("b", cfg("anli", "panx", 1e-4), 0.0)
    assert progress.counts() == {PENDING: 4, RUNNING: 2, DONE: 0, EARLY_STOPPED: 0, FAILED: 0}
    assert progress.parallel == 2


def test_unknown_total_counts_tune_pending_queue():
    progress = StageProgress("target")
    progress.begin(0.0, total_trials=-1)  # infinite samples
    progress.tune_queue(3)
    assert progress.counts()[PENDING] == 3


def test_early_stopped_vs_done_vs_failed():
    progress = StageProgress("target", max_t=3)
    progress.begin(0.0, total_trials=4)
    assert run_trial(progress, "full", cfg("none", "panx", 1e-4), 0, [10, 20, 30], 30) == DONE
    assert run_trial(progress, "cut", cfg("anli", "panx", 3e-4), 0, [5], 10, stopped=True) == EARLY_STOPPED
    # stopped at max_t (a rung there): it did not end by itself either
    assert run_trial(progress, "last", cfg("anli", "panx", 1e-4), 0, [1, 2, 3], 30, stopped=True) == EARLY_STOPPED
    progress.started("boom", cfg("none", "panx", 3e-4), 0)
    assert progress.failed("boom", cfg("none", "panx", 3e-4), 4) == FAILED
    assert progress.counts() == {PENDING: 0, RUNNING: 0, DONE: 1, EARLY_STOPPED: 2, FAILED: 1}


def test_stopped_trial_whose_teardown_errors_stays_early_stopped():
    progress = StageProgress("target", max_t=3)
    config = cfg("none", "panx", 1e-4)
    progress.started("t", config, 0)
    progress.reported("t", config, 1, 4.0, done=True)
    assert progress.failed("t", config, 5) == EARLY_STOPPED
    # an outcome, once known, is kept
    assert progress.ended("t", config, 9) == EARLY_STOPPED and progress.trials["t"].seconds == 5


def test_best_per_target_with_its_intermediate_and_learning_rate():
    progress = StageProgress("target", max_t=3)
    run_trial(progress, "a", cfg("none", "panx", 1e-4), 0, [10, 35, 30], 9)
    run_trial(progress, "b", cfg("anli", "panx", 3e-4), 0, [40], 3, stopped=True)  # early-stopped trials count
    run_trial(progress, "c", cfg("anli", "tydiqa", 1e-4), 0, [12, 16.4], 6)
    progress.started("d", cfg("none", "tydiqa", 3e-4), 6)
    progress.reported("d", cfg("none", "tydiqa", 3e-4), 1, float("nan"))  # NaN never wins
    bests = progress.bests()
    assert list(bests) == ["panx", "tydiqa"]
    assert (bests["panx"].score, bests["panx"].intermediate_task, bests["panx"].learning_rate, bests["panx"].trial_id) == (
        40,
        "anli",
        3e-4,
        "b",
    )
    assert (bests["tydiqa"].score, bests["tydiqa"].intermediate_task) == (16.4, "anli")
    assert "panx 40.00 (anli, lr 0.0003) · tydiqa 16.40 (anli, lr 0.0001)" in status_line(progress, 10)


def test_no_estimate_until_a_trial_has_ended():
    progress = StageProgress("target", max_t=3)
    progress.begin(0.0, total_trials=2)
    progress.started("a", cfg("none", "panx", 1e-4), 0)
    progress.reported("a", cfg("none", "panx", 1e-4), 2, 10.0)
    assert progress.estimate(100) is None
    assert "estimated once a trial has ended" in status_line(progress, 100)


def test_estimate_arithmetic_per_group_then_stage_wide():
    progress = StageProgress("target", max_t=5)
    progress.begin(0.0, total_trials=6)
    # panx: a done trial of 4 evaluations in 40 s and an early stop after 1 in 20 s: 60 s / 5 = 12 s each
    run_trial(progress, "p1", cfg("none", "panx", 1e-4), 0, [1, 2, 3, 4], 40)
    run_trial(progress, "p2", cfg("anli", "panx", 1e-4), 0, [1], 20, stopped=True)
    # tydiqa: one done trial of 2 evaluations in 10 s: 5 s each, 2 evaluations a full trial
    run_trial(progress, "t1", cfg("none", "tydiqa", 1e-4), 40, [1, 2], 50)
    # running: panx at evaluation 1 (3 left of 4), tydiqa at 0 (2 left); parallel peak = 2
    progress.started("p3", cfg("none", "panx", 3e-4), 50)
    progress.reported("p3", cfg("none", "panx", 3e-4), 1, 5.0)
    progress.started("t2", cfg("anli", "tydiqa", 1e-4), 50)
    # one trial not created yet: the stage-wide rate (70 s / 7 = 10 s) and full trial (4 evaluations)
    estimate = progress.estimate(60)
    assert estimate.evaluations_left == 3 + 2 + 4
    assert estimate.parallel == 2 and estimate.upper_bound
    assert estimate.seconds_per_evaluation == pytest.approx(70 / 7)
    assert estimate.seconds_left == pytest.approx((3 * 12 + 2 * 5 + 4 * 10) / 2)


def test_the_last_trials_are_not_divided_by_more_parallel_slots_than_they_fill():
    progress = StageProgress("target", max_t=3)
    progress.begin(0.0, total_trials=4)
    for trial_id in "abcd":
        progress.started(trial_id, cfg("none", "panx", 1e-4), 0)
    for trial_id in "abc":
        for evaluation in (1, 2, 3):
            progress.reported(trial_id, cfg("none", "panx", 1e-4), evaluation, 1.0)
        progress.ended(trial_id, cfg("none", "panx", 1e-4), 30)
    estimate = progress.estimate(30)
    assert (estimate.parallel, estimate.evaluations_left, estimate.seconds_left) == (1, 3, 30)


def test_full_trial_falls_back_to_max_t_when_only_early_stops_ended():
    progress = StageProgress("target", max_t=3)
    progress.begin(0.0, total_trials=2)
    run_trial(progress, "a", cfg("none", "panx", 1e-4), 0, [1], 8, stopped=True)
    estimate = progress.estimate(8)
    assert (estimate.evaluations_left, estimate.seconds_left) == (3, 24)


def test_stage_without_evaluations_or_asha_counts_trials():
    progress = StageProgress("retrieval")  # retrieval evaluations report no time_attr, no ASHA
    progress.begin(0.0, total_trials=3)
    config = {"intermediate_task": "none", "target_task": "tatoeba"}
    assert run_trial(progress, "a", config, 0, [], 30) == DONE
    estimate = progress.estimate(30)
    assert (estimate.evaluations_left, estimate.seconds_left, estimate.upper_bound) == (2, 60, False)


def test_state_survives_a_resume_running_trials_pending_again():
    progress = StageProgress("target", max_t=3)
    progress.begin(100.0, total_trials=3)
    run_trial(progress, "a", cfg("none", "panx", 1e-4), 100, [10, 20, 30], 130)
    run_trial(progress, "b", cfg("anli", "panx", 1e-4), 100, [5], 110, stopped=True)
    progress.started("c", cfg("none", "tydiqa", 1e-4), 130)
    progress.reported("c", cfg("none", "tydiqa", 1e-4), 2, 7.0)
    restored = StageProgress.from_state(progress.to_state(140.0))
    restored.begin(1000.0)  # another session, another clock
    assert restored.counts() == {PENDING: 1, RUNNING: 0, DONE: 1, EARLY_STOPPED: 1, FAILED: 0}
    assert restored.elapsed(1005.0) == pytest.approx(45)
    assert restored.bests()["tydiqa"].score == 7.0
    restored.started("c", cfg("none", "tydiqa", 1e-4), 1000.0)
    assert restored.ended("c", cfg("none", "tydiqa", 1e-4), 1020.0) == DONE
    assert restored.trials["c"].seconds == 20  # the restarted run's wall time


def test_lines_and_table_render():
    progress = StageProgress("target", max_t=3)
    progress.begin(0.0, total_trials=2)
    run_trial(progress, "t_00001", cfg("anli", "panx", 3e-4), 0, [12.3], 41, stopped=True)
    assert trial_line(progress, "t_00001", EARLY_STOPPED) == (
        "target: trial t_00001 (anli → panx, lr 0.0003) early-stopped after 1 evaluation(s), best dev 12.30, 41s"
    )
    line = status_line(progress, 75)
    assert line.startswith("target: 1 pending, 0 running, 0 done, 1 early-stopped, 0 failed | best dev: panx 12.30")
    same = StageProgress("target", max_t=3)
    same.begin(0.0, total_trials=1)
    run_trial(same, "t_00002", cfg("udpos", "udpos", 1e-4), 0, [8.1], 30)
    assert trial_line(same, "t_00002", DONE).startswith("target: trial t_00002 (udpos → udpos, lr 0.0001) done"), (
        "an intermediate task that is also the target is shown"
    )
    assert "best dev: udpos 8.10 (udpos, lr 0.0001)" in status_line(same, 40)
    assert "1m15s elapsed, ~2m03s left (3 evaluations × 41.0 s ÷ 1 parallel, upper bound: ASHA may stop more)" in line
    console = Console(file=io.StringIO(), width=120)
    console.print(status_table(progress, 75))
    text = console.file.getvalue()
    for expected in (
        "sweeper target stage · 1m15s elapsed",
        "early-stopped",
        "best English dev so far",
        "panx",
        "12.30",
        "0.0003",
        "~2m03s left",
    ):
        assert expected in text


def test_a_stage_with_every_trial_ended_is_finished():
    progress = StageProgress("intermediate")
    progress.begin(0.0, total_trials=1)
    run_trial(progress, "a", {"intermediate_task": "anli"}, 0, [20.5, 24.0], 70)
    assert (
        status_line(progress, 71)
        == "intermediate: 0 pending, 0 running, 1 done, 0 early-stopped, 0 failed | best dev: anli 24.00 | 1m11s elapsed, finished"
    )


def test_format_seconds():
    assert [format_seconds(s) for s in (9.4, 75, 3725)] == ["9s", "1m15s", "1h02m05s"]
