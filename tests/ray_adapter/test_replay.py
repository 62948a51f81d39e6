"""Replaying target phases from recorded dev curves through the sweep's own schedulers."""

from __future__ import annotations

import random

import pytest

from sweeper.config import SchedulerConfig
from sweeper.ray_adapter.replay import make_scheduler, replay
from sweeper.results.replay import CENSORED, COMPLETED, STOPPED, DevCurve

ASHA = SchedulerConfig(type="asha", grace_period=1, max_t=4, reduction_factor=2)


def curve(name, target, scores, finished=True, intermediate="none", seconds=1.0):
    return DevCurve(
        trial_id=name,
        config={"intermediate_task": intermediate, "target_task": target},
        scores=tuple(scores),
        steps=tuple(10 * (k + 1) for k in range(len(scores))),
        seconds=(seconds,) * len(scores),
        finished=finished,
    )


def test_asha_by_hand_one_trial_at_a_time():
    """grace_period 1, reduction_factor 2, max_t 4: rungs at evaluations 1, 2 and 4; each rung keeps
    results at or above the median (50th percentile) of what it has recorded.

    One trial at a time: a runs to its end and records 10 / 20 / 40 at the rungs. b's first score 5
    is below rung 1's cutoff (10): stopped after 1 evaluation. c (12) passes rung 1 (median of
    {10, 5} = 7.5), then 15 at rung 2 is below the median of {20} = 20: stopped after 2. d belongs
    to another target: its group is empty, so it is never compared with a, b, c and completes.
    """
    curves = [
        curve("a", "panx", [10, 20, 30, 40]),
        curve("b", "panx", [5, 50, 50, 50]),
        curve("c", "panx", [12, 15, 60, 60]),
        curve("d", "udpos", [1, 1, 1, 1]),
    ]
    replayed = replay(curves, make_scheduler(ASHA), max_concurrent_trials=1)
    assert [(trial.outcome, trial.evaluations, trial.steps) for trial in replayed] == [
        (COMPLETED, 4, 40),
        (STOPPED, 1, 10),
        (STOPPED, 2, 20),
        (COMPLETED, 4, 40),
    ]
    assert [trial.best_score for trial in replayed] == [40, 5, 15, 1]


def test_grouping_by_intermediate_too_keeps_cells_apart():
    curves = [curve("a", "panx", [10, 20, 30, 40], intermediate="anli"), curve("b", "panx", [5, 6, 7, 8])]
    by_target = replay(curves, make_scheduler(ASHA), 1)
    by_cell = replay(curves, make_scheduler(ASHA.model_copy(update={"group_by": ["target_task", "intermediate_task"]})), 1)
    assert by_target[1].outcome == STOPPED
    assert by_cell[1].outcome == COMPLETED


def test_fifo_runs_everything_and_censors_trials_the_sweep_stopped():
    curves = [curve("a", "panx", [10, 20]), curve("b", "panx", [5], finished=False)]
    replayed = replay(curves, make_scheduler(SchedulerConfig(type="fifo")), 2)
    assert [trial.outcome for trial in replayed] == [COMPLETED, CENSORED]


def test_concurrency_orders_results_by_time():
    """Two slots: a (slow, 3 s per evaluation) and b (1 s) start together; b's evaluation 1 (t=1)
    arrives before a's (t=3), so rung 1 is empty for b and b continues, while a (10 < 50) is
    stopped at t=3. With one slot a reports first and b (50 > 10) continues too."""
    curves = [curve("a", "panx", [10, 20, 30, 40], seconds=3.0), curve("b", "panx", [50, 60, 70, 80])]
    two = replay(curves, make_scheduler(ASHA), 2)
    assert [trial.outcome for trial in two] == [STOPPED, COMPLETED]
    assert two[0].end_seconds == 3.0
    one = replay(curves, make_scheduler(ASHA), 1)
    assert [trial.outcome for trial in one] == [COMPLETED, COMPLETED]


def test_a_400_trial_sweep():
    """A synthetic sweep of the paper's size: 4 targets × 10 intermediate tasks × 5 learning rates ×
    2 seeds, 8 evaluations each. Every trial gets an outcome; ASHA stops trials within each target
    and uses fewer steps than no early stopping, and the replay is deterministic."""
    rng = random.Random(0)
    curves = []
    for target in ("xnli", "panx", "udpos", "tydiqa"):
        for intermediate in range(10):
            quality = rng.uniform(20, 80)
            for trial in range(10):
                scores = [quality * (1 - 0.5 ** (k + 1)) + rng.gauss(0, 3) for k in range(8)]
                curves.append(
                    curve(
                        f"{target}-{intermediate}-{trial}",
                        target,
                        scores,
                        intermediate=f"i{intermediate}",
                        seconds=rng.uniform(0.5, 2.0),
                    )
                )
    asha = SchedulerConfig(type="asha", grace_period=1, max_t=8, reduction_factor=3)
    replayed = replay(curves, make_scheduler(asha), 4)
    again = replay(curves, make_scheduler(asha), 4)
    fifo = replay(curves, make_scheduler(SchedulerConfig(type="fifo")), 4)
    assert len(replayed) == 400 and replayed == again
    stopped = [trial for trial in replayed if trial.outcome == STOPPED]
    assert 100 < len(stopped) < 400
    assert {trial.curve.config["target_task"] for trial in stopped} == {"xnli", "panx", "udpos", "tydiqa"}
    assert sum(trial.steps for trial in replayed) < sum(trial.steps for trial in fifo) == 400 * 80


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one length"):
        DevCurve("a", {}, (1.0,), (), (1.0,), True)
    with pytest.raises(ValueError, match="own trial_id"):
        replay([curve("a", "panx", [1]), curve("a", "panx", [2])], make_scheduler(ASHA), 1)
