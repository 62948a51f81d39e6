"""Do a trial's resources fit the Ray cluster? Checked before anything is written (pure; no Ray import).

A target trial is a Tune actor (:data:`TRIAL_ACTOR_CPUS`) that drives a Ray Train worker group of
``resources.num_workers`` workers, each with ``cpus_per_worker`` CPUs and, with ``use_gpu``,
``gpus_per_worker`` GPUs (1 when 0). A request no node can hold would wait for
``worker_group_start_timeout_s`` and then be retried, so it is refused up front. The local
machine is measured without starting Ray (:func:`local_node`, as Ray counts it: the CPUs this
process may run on, the GPUs ``CUDA_VISIBLE_DEVICES`` or ``/dev/nvidia*`` show); a running
cluster is checked with the nodes Ray reports (``sweeper.ray_adapter.cluster``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sweeper.config import SweepConfig
from sweeper.errors import ConfigError

#: CPUs of a trial's Tune actor: it only drives its TorchTrainer.
TRIAL_ACTOR_CPUS = 0.01


@dataclass(frozen=True)
class NodeResources:
    """What one Ray node offers: ``cpus`` and ``gpus`` (counts, may be fractional in Ray)."""

    cpus: float
    gpus: float


def local_node() -> NodeResources:
    """This machine as a local Ray would count it (no Ray started)."""
    cpus = float(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else float(os.cpu_count() or 1)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = len([device for device in visible.split(",") if device.strip() and device.strip() != "-1"])
    else:
        gpus = len([path for path in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", path.name)])
    return NodeResources(cpus=cpus, gpus=float(gpus))


def worker_request(config: SweepConfig) -> NodeResources:
    """One Train worker's request."""
    resources = config.resources
    return NodeResources(cpus=resources.cpus_per_worker, gpus=(resources.gpus_per_worker or 1) if resources.use_gpu else 0.0)


def _slots(node: NodeResources, worker: NodeResources, reserved_cpus: float) -> int:
    by_cpu = math.floor((node.cpus - reserved_cpus) / worker.cpus + 1e-9) if worker.cpus else math.inf
    by_gpu = math.floor(node.gpus / worker.gpus + 1e-9) if worker.gpus else math.inf
    return max(int(min(by_cpu, by_gpu, 10**6)), 0)


def check_resources(config: SweepConfig, nodes: list[NodeResources], where: str) -> None:
    """Refuse a trial that no node of ``nodes`` can run.

    Feasible when one node holds the trial actor and the whole worker group, or (Train's PACK
    placement spreads workers when it must) the nodes together hold ``num_workers`` workers and
    one of them the actor beside a worker.

    Args:
        where: how the nodes were found, for the message (e.g. ``this machine``).

    Raises:
        ConfigError: naming the request, what is available and the fix.
    """
    resources = config.resources
    worker = worker_request(config)
    if not nodes:
        raise ConfigError(f"{where} reports no Ray node with resources")
    if any(_slots(node, worker, TRIAL_ACTOR_CPUS) >= resources.num_workers for node in nodes):
        return
    total = sum(_slots(node, worker, 0.0) for node in nodes)
    if total >= resources.num_workers and any(_slots(node, worker, TRIAL_ACTOR_CPUS) >= 1 for node in nodes):
        return
    largest = max(nodes, key=lambda node: (node.gpus, node.cpus))
    gpus = f" and {worker.gpus:g} GPU(s)" if worker.gpus else ""
    fixes = []
    if worker.gpus and largest.gpus < worker.gpus:
        fixes.append(
            "set resources.use_gpu: false"
            if not any(node.gpus for node in nodes)
            else f"resources.gpus_per_worker <= {largest.gpus:g}"
        )
    if worker.cpus > largest.cpus - TRIAL_ACTOR_CPUS:
        fixes.append(f"resources.cpus_per_worker <= {max(largest.cpus - 1, 0.5):g}")
    if resources.num_workers > 1:
        fixes.append("fewer resources.num_workers")
    raise ConfigError(
        f"resources: a trial needs {resources.num_workers} Train worker(s) × {worker.cpus:g} CPU(s){gpus} "
        f"(resources.num_workers, cpus_per_worker{', gpus_per_worker' if worker.gpus else ''}) plus {TRIAL_ACTOR_CPUS:g} CPU "
        f"for its Tune actor, but {where} offers at most {largest.cpus:g} CPU(s) and {largest.gpus:g} GPU(s) per node "
        f"({len(nodes)} node(s)); it would wait {resources.worker_group_start_timeout_s:g} s and fail. "
        f"Fix: {' or '.join(fixes) or 'a larger cluster (--ray-address)'}"
    )
