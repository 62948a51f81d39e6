"""Ray adapter: the live progress view of a sweep stage, as a Ray Tune ``Callback``.

:class:`ProgressCallback` feeds Tune's trial events to a :class:`~sweeper.progress.stage.StageProgress`
and shows it on stderr: on a terminal a ``rich.live.Live`` table (counts, best English dev per
target, elapsed, time left) with a line per trial that ends; otherwise (CI logs, ``ray job submit``
logs, pytest) the same as plain lines: one per ended trial, a status line every ``interval_s``
seconds and one at the end of the stage. The Tuner runs with ``verbose=0``, which silences Tune's
periodic trial table in both of its output engines (``RAY_AIR_NEW_OUTPUT=1``, the 2.60 default,
and ``=0``); Tune still prints each experiment's configuration header (stdout) and logs trial
errors.

Early stops: Tune marks a trial's result ``done`` when its scheduler stops the trial there (a
function trainable that ends by itself gets its ``done`` on a duplicate result that callbacks
never see), so a trial that ends after such a result was early-stopped.

The callback is pickled with the Tuner (``tuner.pkl``) and its state (:meth:`get_state`) is saved
with every experiment snapshot, so ``Tuner.restore`` brings back the counts and bests of trials
that ended before the resume.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from ray import tune
from rich.console import Console
from rich.live import Live

from sweeper.config import METRIC, TIME_ATTR
from sweeper.progress.stage import StageProgress, status_line, status_table, trial_line
from sweeper.ray_adapter.scheduling import saved_stopped_trial_ids

#: Status line period when stderr is not a terminal (seconds).
LOG_INTERVAL_S = 30.0
_REFRESH_S = 1.0  # terminal view refresh period


class ProgressCallback(tune.Callback):
    """Shows the progress of one stage's Tune experiment (see the module docstring).

    Args:
        stage: ``intermediate``, ``retrieval`` or ``target``.
        max_t: ASHA's last rung in evaluations, ``None`` when the stage has no ASHA.
        interval_s: seconds between status lines when stderr is not a terminal.
        state_path: grouped ASHA's state file (``None``: no ASHA): a trial it lists as stopped is
            shown early-stopped even when Tune reports an error from its teardown (the same record
            MLflow's ``asha_outcome`` is decided from, :mod:`sweeper.ray_adapter.outcomes`).
    """

    def __init__(self, stage: str, max_t: int | None = None, interval_s: float = LOG_INTERVAL_S, state_path: Path | None = None):
        self._progress = StageProgress(stage, max_t)
        self._state_path = state_path
        self._interval_s = interval_s
        self._console: Console | None = None
        self._live: Live | None = None
        self._last_shown = -math.inf

    @property
    def progress(self) -> StageProgress:
        return self._progress

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_console": None, "_live": None, "_last_shown": -math.inf}

    def setup(self, stop=None, num_samples=None, total_num_samples=None, **info) -> None:
        self._progress.begin(time.monotonic(), total_num_samples)
        self._console = Console(stderr=True)
        if self._console.is_terminal:
            self._live = Live(
                console=self._console,
                auto_refresh=False,
                transient=False,
                redirect_stdout=sys.stdout.isatty(),
                redirect_stderr=True,
            )
            self._live.start()
        self._show(force=True)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._progress.started(trial.trial_id, trial.config, time.monotonic())
        self._refresh()

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._progress.reported(trial.trial_id, trial.config, result.get(TIME_ATTR), result.get(METRIC), bool(result.get("done")))
        self._refresh()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._ended(trial.trial_id, self._progress.ended(trial.trial_id, trial.config, time.monotonic()))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        stopped = self._state_path is not None and trial.trial_id in saved_stopped_trial_ids(self._state_path)
        self._ended(trial.trial_id, self._progress.failed(trial.trial_id, trial.config, time.monotonic(), stopped))

    def on_step_end(self, iteration, trials, **info) -> None:
        self._progress.tune_queue(sum(1 for trial in trials if trial.status == "PENDING"))
        self._show()

    def on_experiment_end(self, trials, **info) -> None:
        self._show(force=True)
        if self._live is not None:
            self._live.stop()
            self._live = None

    def get_state(self) -> dict:
        return {"progress": self._progress.to_state(time.monotonic())}

    def set_state(self, state: dict) -> None:
        self._progress = StageProgress.from_state(state["progress"])

    def _ended(self, trial_id: str, outcome: str) -> None:
        self._print(trial_line(self._progress, trial_id, outcome))
        self._refresh()

    def _refresh(self) -> None:
        """Redraw the terminal view now (no status line in logs: those come every ``interval_s``)."""
        if self._live is not None:
            self._show(force=True)

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        period = _REFRESH_S if self._live is not None else self._interval_s
        if self._console is None or (not force and now - self._last_shown < period):
            return
        self._last_shown = now
        if self._live is not None:
            self._live.update(status_table(self._progress, now), refresh=True)
        else:
            self._print(status_line(self._progress, now))

    def _print(self, line: str) -> None:
        if self._console is not None:
            self._console.print(line, soft_wrap=True, highlight=False, markup=False)
