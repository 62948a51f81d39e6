"""A finished sweep's target trials with their English-dev curves, read back from MLflow (adapter).

Each target trial run logs ``target/<task>/en/dev/<metric>`` at every English-dev evaluation
(step = optimizer step; a trial replayed from the stage cache logs its cached evaluations the
same way), and the scheduler compared trials on that metric (the run's ``selection_metric``).
"""

from __future__ import annotations

from itertools import pairwise

from sweeper.results.replay import DevCurve
from sweeper.results.selection import TrialRecord
from sweeper.tracking.records import load_trial_records
from sweeper.tracking.runs import Tracker
from sweeper.tracking.schema import Tag, metric_key
from sweeper.tracking.sweep_record import SweepRecord

#: Trial outcomes with a curve a replay can use (failed trials are left out).
REPLAYABLE = ("completed", "early_stopped")


def load_dev_curves(tracker: Tracker, record: SweepRecord) -> tuple[list[DevCurve], dict[str, TrialRecord]]:
    """The sweep's target trials that completed or were stopped early, as :class:`DevCurve` in the
    order the sweep started them (run start time), and their records by run id.

    A curve's ``seconds`` are the gaps between the run's start and its evaluations' timestamps; its
    ``config`` holds ``intermediate_task`` and ``target_task`` (the keys ASHA may group by).

    Raises:
        ValueError: a replayable trial logged no English-dev evaluation.
    """
    records = {
        trial.run_id: trial
        for trial in load_trial_records(tracker, record.experiment_id, record.parent_run_id)
        if trial.learning_rate is not None and trial.outcome in REPLAYABLE
    }
    started = []
    for run_id, trial in records.items():
        run = tracker.client.get_run(run_id)
        key = metric_key("target", trial.target_task, "en", "dev", run.data.tags[Tag.SELECTION_METRIC])
        history = sorted(tracker.client.get_metric_history(run_id, key), key=lambda point: (point.step, point.timestamp))
        if not history:
            raise ValueError(f"target trial run {run_id} ({trial.intermediate_task} → {trial.target_task}) logged no {key}")
        times = [run.info.start_time, *(point.timestamp for point in history)]
        curve = DevCurve(
            trial_id=run_id,
            config={"intermediate_task": trial.intermediate_task, "target_task": trial.target_task},
            scores=tuple(point.value for point in history),
            steps=tuple(point.step for point in history),
            seconds=tuple(max(later - earlier, 0) / 1000 for earlier, later in pairwise(times)),
            finished=trial.outcome == "completed",
        )
        started.append((run.info.start_time, run_id, curve))
    return [curve for _, _, curve in sorted(started)], records
