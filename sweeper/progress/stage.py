"""Live progress of one sweep stage (intermediate / retrieval / target) as plain data, and its text.

Pure: no Ray. :class:`StageProgress` is fed trial events (started, reported a result, finished,
failed) with their times in seconds, and answers what the progress view shows: trials pending /
running / done / early-stopped / failed, the best English-dev ``score`` (0–100) so far per target
task (with the intermediate task and learning rate of that trial), the stage's elapsed time and
an estimate of the time left. ``sweeper.ray_adapter.progress_callback`` feeds it from Ray Tune's callback hooks;
:func:`status_line` and :func:`status_table` render it for logs and for a terminal (rich).

Estimate of the time left (:meth:`StageProgress.estimate`), from the trials that ended (done or
early-stopped; failed trials are not representative and are left out):

- seconds per evaluation = their summed wall time / their summed evaluations (an evaluation is
  one English-dev evaluation, Tune's ``time_attr``; a trial that reports none, e.g. a retrieval
  evaluation, counts as one), so start-up, data preparation and zero-shot time are spread over
  the evaluations;
- evaluations a full trial runs = the most a *done* trial reached (not early-stopped), else
  ``max_t`` (ASHA's last rung), else no estimate;
- both per group (target task; intermediate task in the intermediate stage) when that group has
  ended trials, else over the whole stage;
- time left = Σ over unfinished trials (pending ones included) of the evaluations each still
  lacks to a full trial × seconds per evaluation, ÷ the most trials seen running at once (at
  most the number of unfinished trials: the last trial does not run any faster alone).

Under ASHA this is an upper bound: every unfinished trial is assumed to run to the end, so each
further early stop makes the sweep finish sooner. No estimate before one trial has ended; it
changes when a trial reports an evaluation or ends (not in between).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table

PENDING, RUNNING, DONE, EARLY_STOPPED, FAILED = "pending", "running", "done", "early-stopped", "failed"
#: Trial outcomes in display order.
OUTCOMES = (PENDING, RUNNING, DONE, EARLY_STOPPED, FAILED)
_ENDED = (DONE, EARLY_STOPPED)
#: The stage whose trials are grouped by their own (intermediate) task.
INTERMEDIATE_STAGE = "intermediate"


@dataclass
class TrialProgress:
    """What the view knows of one trial.

    Attributes:
        group: the target task of the trial (the intermediate task in the intermediate stage).
        intermediate_task, learning_rate: from the trial config (``None`` when absent).
        status: one of :data:`OUTCOMES`.
        evaluations: the highest evaluation count (``time_attr``) it reported.
        best_score: its best reported ``score`` (0–100), ``None`` before the first.
        seconds: wall time of its finished runs (a trial restarted on resume runs again).
        started_at: start of its current run (seconds, the caller's clock), ``None`` when not running.
        stop_requested: Tune marked one of its results ``done`` (the scheduler stopped it).
    """

    group: str
    intermediate_task: str | None = None
    learning_rate: float | None = None
    status: str = PENDING
    evaluations: int = 0
    best_score: float | None = None
    seconds: float = 0.0
    started_at: float | None = None
    stop_requested: bool = False

    def wall_seconds(self, now: float) -> float:
        return self.seconds + (now - self.started_at if self.started_at is not None else 0.0)


@dataclass(frozen=True)
class Best:
    """The best English-dev score (0–100) of a group so far and the trial that reached it."""

    score: float
    trial_id: str
    intermediate_task: str | None
    learning_rate: float | None


@dataclass(frozen=True)
class Estimate:
    """Time left in a stage (see the module docstring for how it is estimated).

    Attributes:
        seconds_left: wall seconds until the stage's last trial ends.
        evaluations_left: evaluations the unfinished trials still lack to a full trial.
        seconds_per_evaluation: measured on the trials that ended (all groups together).
        parallel: the most trials seen running at once, at most the unfinished trials.
        upper_bound: under ASHA (``max_t`` set): early stops shorten it.
    """

    seconds_left: float
    evaluations_left: int
    seconds_per_evaluation: float
    parallel: int
    upper_bound: bool


def _group_of(config: Mapping[str, Any]) -> str:
    return str(config.get("target_task") or config.get("intermediate_task") or "trial")


@dataclass
class StageProgress:
    """Counts, bests and the time estimate of one stage's Tune experiment.

    Times are seconds on one clock chosen by the caller (``time.monotonic()`` in the callback,
    plain numbers in tests). Events for a trial that was never started register it.

    Args:
        stage: ``intermediate``, ``retrieval`` or ``target``.
        max_t: ASHA's last rung in evaluations (``scheduler.max_t``), ``None`` without ASHA.
    """

    stage: str
    max_t: int | None = None
    total_trials: int | None = None
    trials: dict[str, TrialProgress] = field(default_factory=dict)
    parallel: int = 0
    elapsed_before: float = 0.0
    started_at: float | None = None
    tune_pending: int = 0

    # -- events ---------------------------------------------------------------------------
    def begin(self, now: float, total_trials: int | None = None) -> None:
        """The experiment starts (or resumes) at ``now``; ``total_trials`` is Tune's
        ``total_num_samples`` (``None`` or negative when unknown)."""
        self.started_at = now
        if total_trials is not None and total_trials >= 0:
            self.total_trials = total_trials

    def _trial(self, trial_id: str, config: Mapping[str, Any]) -> TrialProgress:
        if trial_id not in self.trials:
            rate = config.get("learning_rate")
            self.trials[trial_id] = TrialProgress(
                group=_group_of(config),
                intermediate_task=config.get("intermediate_task"),
                learning_rate=float(rate) if rate is not None else None,
            )
        return self.trials[trial_id]

    def started(self, trial_id: str, config: Mapping[str, Any], now: float) -> None:
        """A trial (new, or restored after a resume) starts running."""
        trial = self._trial(trial_id, config)
        trial.status, trial.started_at = RUNNING, now
        self.parallel = max(self.parallel, self.count(RUNNING))

    def reported(
        self, trial_id: str, config: Mapping[str, Any], evaluation: int | None, score: float | None, done: bool = False
    ) -> None:
        """A trial reported a result: its ``evaluation`` count and ``score`` (either may be
        missing); ``done``: Tune marked the result done, i.e. it stops the trial here."""
        trial = self._trial(trial_id, config)
        if evaluation is not None:
            trial.evaluations = max(trial.evaluations, int(evaluation))
        if score is not None and not math.isnan(score):
            trial.best_score = score if trial.best_score is None else max(trial.best_score, score)
        trial.stop_requested |= done

    def ended(self, trial_id: str, config: Mapping[str, Any], now: float) -> str:
        """A trial ended without error: early-stopped if Tune stopped it (even at ``max_t``: it
        did not finish by itself, so it ran no zero-shot evaluation; MLflow's ``asha_outcome``
        says the same), else done. Returns its outcome (an ended trial keeps its first one)."""
        trial = self._trial(trial_id, config)
        if trial.status not in (RUNNING, PENDING):
            return trial.status
        return self._finish(trial, EARLY_STOPPED if trial.stop_requested else DONE, now)

    def failed(self, trial_id: str, config: Mapping[str, Any], now: float, stopped: bool = False) -> str:
        """A trial raised. One the scheduler stopped (``stopped``: its record lists the trial) or
        Tune already stopped counts as early-stopped: tearing down its Train controller can surface
        as an error (see ``sweeper.ray_adapter.outcomes``)."""
        trial = self._trial(trial_id, config)
        if trial.status not in (RUNNING, PENDING):
            return trial.status
        return self._finish(trial, EARLY_STOPPED if trial.stop_requested or stopped else FAILED, now)

    def _finish(self, trial: TrialProgress, outcome: str, now: float) -> str:
        trial.seconds, trial.started_at, trial.status = trial.wall_seconds(now), None, outcome
        return outcome

    def tune_queue(self, pending: int) -> None:
        """How many trials Tune holds as PENDING (used when the total is unknown)."""
        self.tune_pending = pending

    # -- what the view shows ---------------------------------------------------------------
    def count(self, status: str) -> int:
        return sum(1 for trial in self.trials.values() if trial.status == status)

    def counts(self) -> dict[str, int]:
        """Trials per outcome (:data:`OUTCOMES`); pending includes trials Tune has not created yet."""
        counts = {status: self.count(status) for status in OUTCOMES}
        if self.total_trials is not None:
            counts[PENDING] = max(self.total_trials - sum(counts[s] for s in OUTCOMES if s != PENDING), 0)
        else:
            counts[PENDING] = max(counts[PENDING], self.tune_pending)
        return counts

    def bests(self) -> dict[str, Best]:
        """Per group (target task), the best score reported by any of its trials so far."""
        bests: dict[str, Best] = {}
        for trial_id, trial in self.trials.items():
            if trial.best_score is None:
                continue
            current = bests.get(trial.group)
            if current is None or trial.best_score > current.score:
                bests[trial.group] = Best(trial.best_score, trial_id, trial.intermediate_task, trial.learning_rate)
        return dict(sorted(bests.items()))

    def elapsed(self, now: float) -> float:
        """Seconds this stage has run, runs before a resume included."""
        return self.elapsed_before + (now - self.started_at if self.started_at is not None else 0.0)

    def estimate(self, now: float) -> Estimate | None:
        """Time left in the stage, or ``None`` before a trial has ended (module docstring)."""
        ended = [trial for trial in self.trials.values() if trial.status in _ENDED]
        if not ended:
            return None
        stage_rate = _rate(ended)
        stage_full = _full_evaluations(ended, self.max_t)
        if stage_full is None:
            return None
        seconds = 0.0
        evaluations_left = 0
        unfinished = [trial for trial in self.trials.values() if trial.status in (PENDING, RUNNING)]
        for trial in unfinished:
            group_ended = [t for t in ended if t.group == trial.group]
            rate = _rate(group_ended) if group_ended else stage_rate
            full = _full_evaluations(group_ended, self.max_t) or stage_full
            left = max(full - trial.evaluations, 0)
            evaluations_left += left
            seconds += left * rate
        not_created = self.counts()[PENDING] - sum(1 for trial in unfinished if trial.status == PENDING)
        evaluations_left += max(not_created, 0) * stage_full
        seconds += max(not_created, 0) * stage_full * stage_rate
        parallel = max(min(self.parallel, len(unfinished) + max(not_created, 0)), 1)
        return Estimate(seconds / parallel, evaluations_left, stage_rate, parallel, self.max_t is not None)

    # -- Tune callback state (kept across a resume) ----------------------------------------
    def to_state(self, now: float) -> dict:
        """Plain data to restore with :meth:`from_state` (Tune saves it with the experiment)."""
        return {
            "stage": self.stage,
            "max_t": self.max_t,
            "total_trials": self.total_trials,
            "parallel": self.parallel,
            "elapsed_before": self.elapsed(now),
            "trials": {trial_id: asdict(trial) for trial_id, trial in self.trials.items()},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> StageProgress:
        """The progress saved by :meth:`to_state`; trials that were running are pending again
        (a resumed experiment restarts them), their evaluations and best scores kept."""
        progress = cls(
            state["stage"],
            state["max_t"],
            state["total_trials"],
            parallel=state["parallel"],
            elapsed_before=state["elapsed_before"],
        )
        for trial_id, saved in state["trials"].items():
            trial = TrialProgress(**saved)
            if trial.status == RUNNING:
                trial.status, trial.started_at = PENDING, None
            progress.trials[trial_id] = trial
        return progress


def _rate(ended: list[TrialProgress]) -> float:
    """Seconds per evaluation of ended trials (a trial reporting no evaluation counts one)."""
    return sum(trial.seconds for trial in ended) / sum(max(trial.evaluations, 1) for trial in ended)


def _full_evaluations(ended: list[TrialProgress], max_t: int | None) -> int | None:
    done = [max(trial.evaluations, 1) for trial in ended if trial.status == DONE]
    return max(done) if done else max_t


def format_seconds(seconds: float) -> str:
    """``75`` → ``1m15s``, ``3725`` → ``1h02m05s``, ``9.4`` → ``9s``."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _intermediate_shown(progress: StageProgress, intermediate_task: str | None) -> str | None:
    """The intermediate task a target or retrieval trial starts from (also when it is the target
    task itself, e.g. ``udpos → udpos``); ``None`` in the intermediate stage, where it is the group."""
    return None if progress.stage == INTERMEDIATE_STAGE else intermediate_task


def _best_text(progress: StageProgress, group: str, best: Best) -> str:
    intermediate = _intermediate_shown(progress, best.intermediate_task)
    details = [detail for detail in (intermediate, f"lr {best.learning_rate:g}" if best.learning_rate else None) if detail]
    return f"{group} {best.score:.2f}" + (f" ({', '.join(details)})" if details else "")


def estimate_text(estimate: Estimate | None) -> str:
    """``~2m10s left (14 evaluations × 9.3 s ÷ 4 parallel, upper bound)`` or why there is none."""
    if estimate is None:
        return "time left: estimated once a trial has ended"
    bound = ", upper bound: ASHA may stop more" if estimate.upper_bound else ""
    return (
        f"~{format_seconds(estimate.seconds_left)} left ({estimate.evaluations_left} evaluations × "
        f"{estimate.seconds_per_evaluation:.1f} s ÷ {estimate.parallel} parallel{bound})"
    )


def status_line(progress: StageProgress, now: float) -> str:
    """One compact line for logs, e.g. ``target: 2 pending, 4 running, 1 done, 1 early-stopped,
    0 failed | best dev: panx 39.70 (anli, lr 0.0002) | 1m32s elapsed, ~2m10s left (...)``."""
    counts = progress.counts()
    parts = [f"{progress.stage}: " + ", ".join(f"{counts[status]} {status}" for status in OUTCOMES)]
    bests = progress.bests()
    if bests:
        parts.append("best dev: " + " · ".join(_best_text(progress, group, best) for group, best in bests.items()))
    parts.append(f"{format_seconds(progress.elapsed(now))} elapsed, {_left_text(progress, now)}")
    return " | ".join(parts)


def _left_text(progress: StageProgress, now: float) -> str:
    counts = progress.counts()
    if progress.trials and counts[PENDING] == counts[RUNNING] == 0:
        return "finished"
    return estimate_text(progress.estimate(now))


def trial_line(progress: StageProgress, trial_id: str, outcome: str) -> str:
    """The line printed when a trial ends, e.g. ``target: trial 3f2a_00001 (anli → panx, lr 0.0003)
    early-stopped after 1 evaluation(s), best dev 12.30, 41s``."""
    trial = progress.trials[trial_id]
    cell = " → ".join(name for name in (_intermediate_shown(progress, trial.intermediate_task), trial.group) if name)
    rate = f", lr {trial.learning_rate:g}" if trial.learning_rate else ""
    score = f", best dev {trial.best_score:.2f}" if trial.best_score is not None else ""
    return (
        f"{progress.stage}: trial {trial_id} ({cell}{rate}) {outcome} after {trial.evaluations} "
        f"evaluation(s){score}, {format_seconds(trial.seconds)}"
    )


def status_table(progress: StageProgress, now: float) -> Table:
    """The terminal view: one row of trial counts, the best score per target, elapsed and left."""
    counts = progress.counts()
    table = Table(
        title=f"sweeper {progress.stage} stage · {format_seconds(progress.elapsed(now))} elapsed",
        title_justify="left",
        caption=_left_text(progress, now),
        caption_justify="left",
    )
    for status in OUTCOMES:
        table.add_column(status, justify="right")
    table.add_row(*(str(counts[status]) for status in OUTCOMES))
    bests = progress.bests()
    if not bests:
        return table
    outer = Table.grid(padding=(0, 0))
    outer.add_row(table)
    best_table = Table(title="best English dev so far", title_justify="left")
    for column in ("target", "score", "intermediate", "learning_rate", "trial"):
        best_table.add_column(column, justify="right" if column == "score" else "left")
    for group, best in bests.items():
        rate = f"{best.learning_rate:g}" if best.learning_rate else "-"
        best_table.add_row(group, f"{best.score:.2f}", best.intermediate_task or "-", rate, best.trial_id)
    outer.add_row(best_table)
    return outer
