"""The sweep's MLflow bookkeeping in one long-lived process (:class:`TrackingService`), so that
trial actors never import MLflow and Train workers only to log files: per process, MLflow's import
costs about 1.2 s of CPU and a sqlite store 0.7 s more (``bench/driver.py``), against a few
milliseconds per call here.

One named Ray actor per sweep and phase (:func:`tracking_service_running`), pinned to the
driver's node (a sqlite store is a file there) and owned by the driver: it ends with the phase
or the driver, and ``sweeper resume`` starts another. It holds no state but its MLflow client,
so Ray restarts it if its process dies; a call in flight then fails its trial, which Tune retries. Trial actors open
and close their runs through it (:meth:`TrackingService.open`, :meth:`TrackingService.close`)
and log metrics, params and tags through a :class:`ServiceRunLog`; files are logged by the
process that has them, with its own MLflow client.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ray

from sweeper.config import METRIC
from sweeper.ray_adapter.outcomes import FAILED, close_after_error, close_trial_run, trial_outcome
from sweeper.ray_adapter.scheduling import saved_stopped_trial_ids
from sweeper.tracking.schema import SELECTION_KEY, Outcome, Tag

#: Calls the service serves at once (MLflow calls that wait on the store or server overlap).
SERVICE_CONCURRENCY = 8


@dataclass(frozen=True)
class OpenedRun:
    """What :meth:`TrackingService.open` found or made for a trial.

    Attributes:
        run_id: the trial's run, ``RUNNING``; ``None`` when the trial has nothing to do (``report``).
        earlier_tags: the run's tags before this attempt (empty for a new run).
        report: what the trial reports to Tune instead of working, or ``None``: the selection
            score of its run that already completed (Tune's experiment snapshot can predate a
            trial's end), or NaN for a trial grouped ASHA already stopped (the driver closes its run).
    """

    run_id: str | None
    earlier_tags: dict[str, str]
    report: dict[str, float] | None = None


class TrackingService:
    """The Ray actor's class (see the module): a sweep's trial runs, opened, logged to and closed."""

    def __init__(self, tracking_uri: str):
        from sweeper.tracking.runs import Tracker

        self._tracker = Tracker(tracking_uri)

    def open(
        self,
        experiment_id: str,
        parent_run_id: str,
        trial_id: str,
        name: str,
        tags: Mapping[str, object],
        params: Mapping[str, object],
        asha_state_path: Path,
    ) -> OpenedRun:
        """Create the trial's run ``name`` with ``tags`` and ``params``, nested under
        ``parent_run_id`` (tag ``ray_trial_id``), or continue the one an earlier attempt made (a
        retried trial's run is ``FAILED``, a restored one's ``RUNNING``: it is reopened and tag
        ``attempts`` counts up); nothing when that run completed or grouped ASHA (its record at
        ``asha_state_path``) stopped the trial (:attr:`OpenedRun.report`).
        """
        existing = self._tracker.find_child(experiment_id, parent_run_id, trial_id)
        if existing is not None and existing.data.tags.get(Tag.OUTCOME) == Outcome.COMPLETED:
            # Tune requires the scheduler's metric in a trial's first result; without `time_attr`,
            # ASHA records nothing new.
            return OpenedRun(None, dict(existing.data.tags), {METRIC: existing.data.metrics.get(SELECTION_KEY, math.nan)})
        if trial_id in saved_stopped_trial_ids(asha_state_path):
            return OpenedRun(None, {}, {METRIC: math.nan})
        if existing is None:
            tags = {**tags, Tag.RAY_TRIAL_ID: trial_id}
            return OpenedRun(self._tracker.start_child(experiment_id, parent_run_id, name, tags, params), {})
        run_id = existing.info.run_id
        self._tracker.reopen(run_id)
        self._tracker.set_tags(run_id, {Tag.ATTEMPTS: int(existing.data.tags.get(Tag.ATTEMPTS, "1")) + 1})
        return OpenedRun(run_id, dict(existing.data.tags))

    def close(self, run_id: str, tags: Mapping[str, str], earlier_tags: Mapping[str, str]) -> None:
        """Close a trial's run as ``completed`` with ``tags`` (what its work returned)."""
        self._tracker.set_tags(run_id, tags)
        close_trial_run(self._tracker, run_id, trial_outcome(None, (), None), earlier_tags)

    def close_after_error(
        self, run_id: str, trial_id: str, asha_state_path: Path, error: str, earlier_tags: Mapping[str, str]
    ) -> bool:
        """Close a trial's run after its work raised ``error`` (``Type: message``): ``early_stopped``
        if grouped ASHA stopped the trial, else ``failed`` (:func:`~sweeper.ray_adapter.outcomes.close_after_error`).

        Returns:
            Whether the outcome is ``failed`` (the trial re-raises: Tune retries it).
        """
        return close_after_error(self._tracker, run_id, trial_id, asha_state_path, error, earlier_tags).outcome == FAILED

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0, timestamp_ms: int | None = None) -> None:
        self._tracker.log_metrics(run_id, metrics, step, timestamp_ms)

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        self._tracker.log_params(run_id, params)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self._tracker.set_tags(run_id, tags)

    def logged_steps(self, run_id: str, key: str) -> set[int]:
        return self._tracker.logged_steps(run_id, key)


def service_name(parent_run_id: str) -> str:
    """The Ray actor name of the tracking service of the sweep whose parent run is ``parent_run_id``."""
    return f"sweeper-tracking-{parent_run_id}"


@contextmanager
def tracking_service_running(tracking_uri: str, parent_run_id: str) -> Iterator[None]:
    """The sweep's tracking service (named :func:`service_name`), running on this (the driver's)
    node while the block runs, then ended. It takes no CPU from the trials' share (``num_cpus=0``)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    service = (
        ray.remote(TrackingService)
        .options(
            name=service_name(parent_run_id),
            num_cpus=0,
            max_concurrency=SERVICE_CONCURRENCY,
            max_restarts=-1,
            scheduling_strategy=NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False),
        )
        .remote(tracking_uri)
    )
    try:
        yield
    finally:
        ray.kill(service)


class ServiceRunLog:
    """A :class:`~sweeper.tracking.run_log.RunLog` through the tracking service named ``service``
    (:func:`service_name`); files (:meth:`log_artifacts`) are logged from this process, with an
    MLflow client for ``tracking_uri`` made on first use."""

    def __init__(self, service: str, tracking_uri: str):
        self._service = ray.get_actor(service)
        self._tracking_uri = tracking_uri
        self._files = None

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0, timestamp_ms: int | None = None) -> None:
        ray.get(self._service.log_metrics.remote(run_id, dict(metrics), step, timestamp_ms))

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        ray.get(self._service.log_params.remote(run_id, dict(params)))

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        ray.get(self._service.set_tags.remote(run_id, dict(tags)))

    def logged_steps(self, run_id: str, key: str) -> set[int]:
        return ray.get(self._service.logged_steps.remote(run_id, key))

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        if self._files is None:
            from sweeper.tracking.runs import Tracker

            self._files = Tracker(self._tracking_uri)
        self._files.log_artifacts(run_id, local_dir, artifact_path)
