"""Connecting to Ray: the cluster at ``--ray-address`` / ``$RAY_ADDRESS``, or a local instance."""

from __future__ import annotations

import os
import ray
from sweeper.config import SweepConfig
from sweeper.ray_adapter.trials import WORKER_GROUP_START_TIMEOUT_ENV


def ensure_ray(config: SweepConfig, address: str | None = None) -> None:
    """Connect to ``address`` (or ``$RAY_ADDRESS``), or start a local Ray, unless already connected.

    The job's runtime environment carries the Train worker-group start timeout to every Train
    controller (``RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S``). When Ray is already initialised by the
    caller, set that variable in its runtime environment yourself.
    """
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    timeout = str(config.resources.worker_group_start_timeout_s)
    ray.init(address=address or "local", runtime_env={"env_vars": {WORKER_GROUP_START_TIMEOUT_ENV: timeout}})
