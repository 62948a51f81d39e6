"""``sweeper replay`` on a sweep tracked in a real MLflow sqlite store (curves logged per evaluation)."""

from __future__ import annotations

import json
import time

import pytest
from _tracked import add_trials, track_sweep

from sweeper.commands.replay import replay_sweep
from sweeper.config import SweepConfig
from sweeper.errors import ConfigError
from sweeper.results.selection import TrialRecord
from sweeper.tracking.runs import Tracker
from sweeper.tracking.schema import metric_key

CONFIG = SweepConfig(
    name="replayed",
    model="tiny-xlmr",
    intermediate_tasks=["none", "anli", "udpos"],
    target_tasks=["panx"],
    param_space={"learning_rate": [1e-4]},
    scheduler={"type": "asha", "grace_period": 1, "max_t": 4, "reduction_factor": 2},
    resources={"max_concurrent_trials": 1},
)
# intermediate, outcome in the sweep, English-dev F1 per evaluation, zero-shot score
TRIALS = [
    ("none", "completed", [10, 20, 30, 40], 50.0),
    ("anli", "completed", [5, 50, 60, 70], 60.0),
    ("udpos", "early_stopped", [6], None),
]


@pytest.fixture
def sweep(tmp_path):
    output = tmp_path / "out"
    record = track_sweep(output, "replayed", [], {"panx": "f1"})
    tracker = Tracker(record.tracking_uri)
    for intermediate, outcome, curve, zero_shot in TRIALS:
        trial = TrialRecord(
            run_id="",
            intermediate_task=intermediate,
            target_task="panx",
            learning_rate=1e-4,
            seed=1,
            outcome=outcome,
            english_dev=max(curve) if outcome == "completed" else None,
            zero_shot_score=zero_shot,
        )
        (run_id,) = add_trials(record, [trial], {"panx": "f1"})
        for evaluation, score in enumerate(curve, start=1):
            tracker.log_metrics(run_id, {metric_key("target", "panx", "en", "dev", "f1"): score}, 10 * evaluation)
        time.sleep(0.01)  # distinct start times: the sweep's start order
    (output / "config.json").write_text(json.dumps({"config": CONFIG.model_dump(mode="json"), "data_dir": None}))
    return output


def test_replay_compares_the_recorded_a_given_and_no_schedule(sweep):
    """One trial at a time in start order none, anli, udpos. Recorded ASHA (rungs 1, 2, 4): anli's
    first F1 5 is below rung 1's median {10} and is stopped, so panx would select none instead of
    anli; udpos's 6 is below the median of {10, 5} (7.5): stopped, as in the sweep. grace_period=2: rungs 2 and 4 only; anli's 50 at rung 2 beats 20 and completes; udpos,
    stopped in the sweep after one evaluation, would go on: censored. none (FIFO): the same."""
    summaries, markdown = replay_sweep(sweep, ["scheduler.grace_period=2"])
    by_name = {summary.name: summary for summary in summaries}
    assert list(by_name) == ["recorded", "grace_period=2", "none"]
    recorded, later, fifo = by_name.values()
    assert recorded.outcomes == {"completed": 1, "early_stopped": 2}
    assert (recorded.steps, recorded.selected, recorded.changed) == (40 + 10 + 10, {"panx": "none"}, ("panx",))
    assert (later.outcomes, later.selected, later.changed, later.uncertain) == (
        {"completed": 2, "censored": 1},
        {"panx": "anli"},
        (),
        ("panx",),
    )
    assert fifo.steps == 90 and fifo.selected == {"panx": "anli"}
    assert "| panx | anli | none | anli | anli |" in markdown
    saved = json.loads((sweep / "replay.json").read_text())
    assert [schedule["name"] for schedule in saved["schedules"]] == ["recorded", "grace_period=2", "none"]


def test_replay_refuses_other_overrides_and_bad_values(sweep):
    with pytest.raises(ConfigError, match=r"scheduler\.\* keys"):
        replay_sweep(sweep, ["target.learning_rate=1"])
    with pytest.raises(ConfigError, match="reduction_factor"):
        replay_sweep(sweep, ["scheduler.reduction_factor=1"])
    with pytest.raises(ConfigError, match="sweep.json"):
        replay_sweep(sweep / "missing", [])
