"""Connecting to Ray: the cluster at ``--ray-address`` / ``$RAY_ADDRESS``, or a local instance on 127.0.0.1."""

from __future__ import annotations

import os

import ray

from sweeper.config import SweepConfig
from sweeper.ray_adapter.trials import WORKER_GROUP_START_TIMEOUT_ENV
from sweeper.sweep.resources import NodeResources, check_resources

#: The interface a local Ray listens on (its GCS, raylet, object manager and dashboard).
LOCAL_HOST = "127.0.0.1"


def ensure_ray(config: SweepConfig, address: str | None = None) -> None:
    """Connect to ``address`` (or ``$RAY_ADDRESS``), or start a local Ray, unless already connected.

    A local Ray listens on 127.0.0.1 only (``_node_ip_address``, ``dashboard_host``): nothing on
    the machine's network interfaces. The job's runtime environment carries the Train
    worker-group start timeout to every Train controller (``RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S``).
    When Ray is already initialised by the caller, set that variable in its runtime environment yourself.
    """
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    runtime_env = {"env_vars": {WORKER_GROUP_START_TIMEOUT_ENV: str(config.resources.worker_group_start_timeout_s)}}
    if address:
        ray.init(address=address, runtime_env=runtime_env)
    else:
        ray.init(address="local", runtime_env=runtime_env, _node_ip_address=LOCAL_HOST, dashboard_host=LOCAL_HOST)


def check_cluster_resources(config: SweepConfig) -> None:
    """Refuse a trial no node of the connected cluster can run (:func:`sweeper.sweep.resources.check_resources`).

    Raises:
        ConfigError: naming the request, the largest node and the fix.
    """
    nodes = [
        NodeResources(cpus=node["Resources"].get("CPU", 0.0), gpus=node["Resources"].get("GPU", 0.0))
        for node in ray.nodes() if node.get("Alive")
    ]
    check_resources(config, nodes, "the Ray cluster")
