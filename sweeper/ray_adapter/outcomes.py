"""A trial's recorded outcome, decided from one source of truth: grouped ASHA's record of the trials it stopped.

A trial that the scheduler stopped is ``early_stopped`` whatever its teardown raised: Tune stops
the trial's actor, whose Ray Train controller and worker group are then destroyed, and
``TorchTrainer.fit()`` in the trial can raise (``ActorDiedError: ... placement group was
removed``) before or after the driver sees the stop. That error is the stop, not a failure.
:class:`~sweeper.ray_adapter.scheduling.GroupedASHAScheduler` writes the stopped trial ids to its
state file (``asha_state.json``) *before* it returns its STOP decision, so by the time any teardown
error can be raised, the file already names the trial; the trial's own error path and the
driver's close of left-over runs both decide here, from that file, and agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sweeper.ray_adapter.scheduling import saved_stopped_trial_ids
from sweeper.tracking.schema import RESULT_STAGES, Outcome, Tag

if TYPE_CHECKING:  # the tracking service and the driver pass theirs: no MLflow import here
    from sweeper.tracking.runs import Tracker

COMPLETED, EARLY_STOPPED, FAILED = Outcome.COMPLETED, Outcome.EARLY_STOPPED, Outcome.FAILED
#: MLflow run status per outcome.
RUN_STATUS = {COMPLETED: "FINISHED", EARLY_STOPPED: "KILLED", FAILED: "FAILED"}
#: How much of an error message the ``error`` tag keeps (characters).
ERROR_TAG_LIMIT = 5000

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialOutcome:
    """What a trial's MLflow run is closed with.

    Attributes:
        outcome: ``completed``, ``early_stopped`` or ``failed`` (tag ``asha_outcome``).
        status: the run status (``FINISHED``, ``KILLED``, ``FAILED``).
        error: ``ExceptionType: message`` for a failed trial (tag ``error``), else ``None``.
    """

    outcome: str
    status: str
    error: str | None = None

    def tags(self) -> dict[str, str]:
        """The run tags to set (``asha_outcome``, and ``error`` for a failure)."""
        return {Tag.OUTCOME: self.outcome} | ({Tag.ERROR: self.error} if self.error is not None else {})


def describe_error(error: BaseException | str) -> str:
    """``ExceptionType: message`` (at most :data:`ERROR_TAG_LIMIT` characters)."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text[:ERROR_TAG_LIMIT]


def trial_outcome(trial_id: str | None, stopped_trial_ids: Collection[str], error: BaseException | str | None) -> TrialOutcome:
    """Decide a trial's outcome.

    Args:
        trial_id: the Tune trial id (``None`` when unknown: not a scheduled trial).
        stopped_trial_ids: the trials grouped ASHA stopped
            (:func:`sweeper.ray_adapter.scheduling.saved_stopped_trial_ids`).
        error: what the trial (or its teardown) raised, or ``None``.

    Returns:
        ``early_stopped`` when the scheduler stopped the trial, whatever ``error`` is (a teardown
        error is logged, not recorded); else ``failed`` with the error, or ``completed``.
    """
    if trial_id is not None and trial_id in stopped_trial_ids:
        if error is not None:
            logger.info("trial %s was stopped by grouped ASHA; its teardown raised %s", trial_id, describe_error(error))
        return TrialOutcome(EARLY_STOPPED, RUN_STATUS[EARLY_STOPPED])
    if error is not None:
        return TrialOutcome(FAILED, RUN_STATUS[FAILED], describe_error(error))
    return TrialOutcome(COMPLETED, RUN_STATUS[COMPLETED])


def close_trial_run(tracker: Tracker, run_id: str, outcome: TrialOutcome, tags: Mapping[str, str]) -> None:
    """Close a trial's MLflow run with ``outcome``: tag ``asha_outcome`` (and ``error`` for a
    failure; an ``error`` tag left by an earlier attempt or a teardown is deleted otherwise), then
    its run status.

    Args:
        tags: the run's current tags (to know whether an ``error`` tag is there).
    """
    if outcome.error is None and Tag.ERROR in tags:
        tracker.delete_tag(run_id, Tag.ERROR)
    tracker.set_tags(run_id, outcome.tags())
    tracker.finish(run_id, outcome.status)


def close_after_error(
    tracker: Tracker, run_id: str, trial_id: str, state_path: Path, error: BaseException | str, tags: Mapping[str, str]
) -> TrialOutcome:
    """A trial's own error path: close its run as the scheduler's record at ``state_path`` says
    (``early_stopped`` if grouped ASHA stopped it, else ``failed`` with ``error``).

    Returns:
        The outcome; the caller re-raises ``error`` when it is ``failed`` (Tune retries the trial).
    """
    decided = trial_outcome(trial_id, saved_stopped_trial_ids(state_path), error)
    close_trial_run(tracker, run_id, decided, tags)
    return decided


#: A trial's error as Tune reported it, looked up by its MLflow run (``None``: no error).
ErrorOf = Callable[[object], BaseException | str | None]
#: What a run left ``RUNNING`` without any error from Tune is closed with.
UNCLOSED = "the trial ended without closing its MLflow run (no error from Tune)"


def reconcile_trial_runs(
    tracker: Tracker,
    experiment_id: str,
    parent_run_id: str,
    stopped_trial_ids: Collection[str],
    error_of: ErrorOf,
    stages: Collection[str] = RESULT_STAGES,
) -> list[str]:
    """The driver's close after an experiment: make each trial run of ``stages`` under
    ``parent_run_id`` agree with the scheduler's record (authoritative over what trials wrote).

    A run of a stopped trial that is not ``early_stopped`` (still ``RUNNING``: its actor ended
    first; or closed ``FAILED`` by an error raised while it was torn down) becomes ``KILLED`` /
    ``early_stopped`` without ``error`` tag. Any other run left ``RUNNING`` is closed ``FAILED``
    with ``error_of(run)`` (or :data:`UNCLOSED`).

    Returns:
        The ids of the runs it closed or corrected.
    """
    changed = []
    for run in tracker.children(experiment_id, parent_run_id):
        tags = run.data.tags
        if tags.get(Tag.STAGE) not in stages:
            continue
        trial_id = tags.get(Tag.RAY_TRIAL_ID)
        stopped = trial_id in stopped_trial_ids
        if run.info.status != "RUNNING" and not (stopped and tags.get(Tag.OUTCOME) != EARLY_STOPPED):
            continue
        close_trial_run(tracker, run.info.run_id, trial_outcome(trial_id, stopped_trial_ids, error_of(run) or UNCLOSED), tags)
        changed.append(run.info.run_id)
    return changed
