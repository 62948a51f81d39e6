"""Everything ``sweeper run`` checks before it writes anything, with no heavy import (torch, transformers, Ray, MLflow, datasets).

Order: the sweep's tasks, languages and data files (opened and parsed,
:func:`sweeper.sweep.validation.validate_sweep`); the model (:func:`sweeper.models.availability.check_model`);
the tracking URI (:func:`sweeper.tracking.uris.check_tracking_uri`); the Ray address
(:func:`sweeper.ray_adapter.address.probe_ray_address`) or, for a local Ray, the trial's
resources against this machine (:func:`sweeper.sweep.resources.check_resources`). A connected
cluster's nodes are checked after ``ray.init`` (``sweeper.ray_adapter.cluster.check_cluster_resources``),
still before the output folder or the MLflow parent run exists. Once the model is resolved, the
free disk space is checked against the checkpoints the first evaluations will write
(:func:`check_disk_space`).
"""

from __future__ import annotations

import os
from pathlib import Path

from sweeper.config import SweepConfig
from sweeper.models.availability import check_model, weight_bytes
from sweeper.ray_adapter.address import probe_ray_address
from sweeper.storage import CHECKPOINT_BYTES_PER_WEIGHT_BYTE, SpaceNeed, check_free_space, human_bytes, ray_storage
from sweeper.sweep.resources import check_resources, local_node
from sweeper.sweep.validation import validate_sweep
from sweeper.tracking.uris import check_tracking_uri

#: Ray's environment variable for the cluster address (the default of ``--ray-address``).
RAY_ADDRESS_ENV = "RAY_ADDRESS"


def preflight(config: SweepConfig, data_dir: Path | None, ray_address: str | None, tracking_uri: str | None = None) -> str | None:
    """Check the sweep before anything is written (see the module docstring).

    Args:
        tracking_uri: the URI to check (default: ``tracking.tracking_uri``; ``None``: the sqlite
            file in the output folder, nothing to check).

    Returns:
        The Ray address to connect to (``--ray-address`` or ``$RAY_ADDRESS``), ``None`` for a local Ray.

    Raises:
        SweeperError: the first problem found, naming the file, field or value and the fix.
    """
    validate_sweep(config, data_dir)
    check_model(config)
    uri = tracking_uri or config.tracking.tracking_uri
    if uri is not None:
        check_tracking_uri(uri)
    address = ray_address or os.environ.get(RAY_ADDRESS_ENV) or None
    if address is not None:
        probe_ray_address(address)
    else:
        check_resources(config, [local_node()], "this machine")
    return address


def check_disk_space(config: SweepConfig, model_source: str, output_dir: Path, local_ray: bool) -> None:
    """Refuse a sweep whose first checkpoints cannot fit on disk, before anything is written.

    A lower bound, so it never refuses a sweep that could run: every trial that runs at once
    (``resources.max_concurrent_trials``) saves at least one HF ``Trainer`` checkpoint
    (:data:`sweeper.storage.CHECKPOINT_BYTES_PER_WEIGHT_BYTE` × the model's weight files) into its
    trial folder (``OUTPUT/trials``, checked for a local Ray only: a cluster's workers write on their
    own disks) and reports it to Ray Train, which copies it into Ray storage (a local folder; a
    bucket is not checked). Nothing is checked for a Hub model not downloaded yet (its size is
    unknown here).

    Raises:
        ConfigError: a file system with less free space than its share (:func:`sweeper.storage.check_free_space`).
    """
    weights = weight_bytes(model_source)
    if weights is None:
        return
    checkpoint = CHECKPOINT_BYTES_PER_WEIGHT_BYTE * weights
    trials = config.resources.max_concurrent_trials
    share = (
        f"{trials} trial(s) at once × 1 checkpoint of {human_bytes(checkpoint)} "
        f"({CHECKPOINT_BYTES_PER_WEIGHT_BYTE} × the model's {human_bytes(weights)} of weights: weights and AdamW state)"
    )
    needs = []
    storage = ray_storage(config, output_dir)
    if "://" not in storage:
        needs.append(SpaceNeed(Path(storage), trials * checkpoint, f"Ray storage: {share}"))
    if local_ray:
        needs.append(SpaceNeed(output_dir.absolute() / "trials", trials * checkpoint, f"trial folders: {share}"))
    check_free_space(
        needs,
        "Free space there, lower resources.max_concurrent_trials, or put storage.storage_path / --output on a larger disk.",
    )
