"""What a trial's results are logged through (:class:`RunLog`): an MLflow ``Tracker`` in the
process, or the sweep's tracking service (``sweeper.ray_adapter.tracking_service``). No MLflow
import here: trial actors and Train workers import this module."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol


class RunLog(Protocol):
    """Logging to existing MLflow runs, by run id (:class:`sweeper.tracking.runs.Tracker` is one)."""

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0, timestamp_ms: int | None = None) -> None:
        """Log ``metrics`` (0–100 scores, counts) at optimizer ``step``, measured at ``timestamp_ms``
        (milliseconds since the Unix epoch; default: now)."""

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Log params (values cut at MLflow's 6,000 characters)."""

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Set tags (credentials inside URI values redacted)."""

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        """Log the files under ``local_dir`` (a folder of this machine) under ``artifact_path``."""

    def logged_steps(self, run_id: str, key: str) -> set[int]:
        """The steps at which metric ``key`` was logged (empty: never)."""
