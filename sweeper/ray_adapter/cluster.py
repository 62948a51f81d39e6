"""Connecting to Ray and knowing the cluster: the cluster at ``--ray-address`` / ``$RAY_ADDRESS``
or a local instance on 127.0.0.1, its nodes, the node a trial runs on, and Tune's pending-trial limit.

:func:`check_cluster_state` refuses, before a sweep writes anything, a sweep that would keep
state on one node's disk of a multi-node cluster (``sweeper.sweep.shared_state``).
:func:`pending_trials_limit` sets ``TUNE_MAX_PENDING_TRIALS_PG`` around a phase's ``Tuner.fit``:
Tune requests resources for at most that many trials it has not started yet, and an autoscaler
only adds nodes for requested resources.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray

from sweeper.cache.store import stage_cache_root
from sweeper.config import SweepConfig
from sweeper.errors import ConfigError
from sweeper.ray_adapter.address import connection_error
from sweeper.storage import ray_storage
from sweeper.sweep.resources import NodeResources, check_resources
from sweeper.sweep.shared_state import check_shared_state, read_mounts
from sweeper.tracking.schema import Tag

#: Ray Train 2.60's environment variable: how long a trial waits for its worker group to start (s).
WORKER_GROUP_START_TIMEOUT_ENV = "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"
#: Ray Train 2.60's environment variable: seconds between two polls of a trial's workers by its Train
#: controller. A poll is when the controller takes the workers' reports (commits their checkpoints,
#: hands results to Tune) and sees that training has ended; Ray's default, 2 s, adds up to 2 s of
#: idle device to each checkpoint the trainer waits for and to each trial's start and end.
TRAIN_POLL_INTERVAL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
#: The poll interval sweeper sets (unless the environment sets one): a poll costs one short Ray task
#: per worker; a worker is only declared lost after ``RAY_TRAIN_WORKER_HEALTH_CHECK_TIMEOUT_S``
#: (10 minutes) without an answer, not after one missed poll.
TRAIN_POLL_INTERVAL_S = 0.5
#: Ray Train 2.60's environment variable: whether Train workers replace ``print`` with one that also
#: logs each line. Where ``sys.stdout`` is not the process's own stream (a Ray worker's), that
#: ``print`` writes each line twice (the HF Trainer's loss lines), and text a library captures by
#: swapping ``sys.stdout`` still reaches the log (``dill`` disassembles functions that way when
#: ``datasets`` fingerprints a feature set): sweeper turns it off.
PRINT_PATCH_ENV = "RAY_TRAIN_ENABLE_PRINT_PATCH"
#: Ray Tune's limit on trials whose resources are requested but not yet granted (read when
#: ``Tuner.fit`` starts; Tune's own default ``auto`` is at least 200, or the concurrency limit
#: of a search algorithm).
PENDING_TRIALS_ENV = "TUNE_MAX_PENDING_TRIALS_PG"
#: The node address of a local Ray (Ray 2.60 advertises the machine's address instead, and its
#: dashboard listens on it).
LOCAL_HOST = "127.0.0.1"
#: Ray 2.60's token authentication: its GCS and raylets listen on every interface (there is no
#: bind option), so a local Ray that sweeper starts takes connections only from processes that
#: hold its random token (``RAY_AUTH_MODE=token``, ``RAY_AUTH_TOKEN``).
AUTH_MODE_ENV, AUTH_TOKEN_ENV = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"


def ensure_ray(config: SweepConfig, address: str | None = None) -> None:
    """Connect to ``address`` (or ``$RAY_ADDRESS``), or to this machine's Ray, unless already connected.

    Without an address: the Ray that ``ray start`` runs on this machine, if any; else a new local
    Ray, unless another program's Ray already runs here (:func:`running_local_ray`). A new local
    Ray's dashboard listens on 127.0.0.1; its GCS and raylet listen on every interface (Ray 2.60
    has no option against it), so it is started with Ray's token authentication and a random
    token (unless ``$RAY_AUTH_MODE`` is set): only this process and the processes Ray starts for
    it (they inherit the environment) can connect. The job's runtime environment carries
    :func:`train_environment` to every Train controller. When Ray is already initialised by the
    caller, set those variables in its runtime environment yourself.

    Raises:
        ConfigError: no address given, and a Ray that another program started (not ``ray start``)
            runs on this machine: a second local Ray would break Ray Train (see :func:`running_local_ray`).
    """
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or running_local_ray()
    runtime_env = {"env_vars": train_environment(config)}
    if address:
        ray.init(address=address, runtime_env=runtime_env)
    else:
        if AUTH_MODE_ENV not in os.environ:
            _turn_on_token_authentication()
        ray.init(address="local", runtime_env=runtime_env, _node_ip_address=LOCAL_HOST, dashboard_host=LOCAL_HOST)
        _keep_credentials_out_of_runtime_envs()


def train_environment(config: SweepConfig) -> dict[str, str]:
    """The environment variables every Train controller and worker of the sweep gets: the
    worker-group start timeout (``resources.worker_group_start_timeout_s``, in seconds), the poll
    interval (:data:`TRAIN_POLL_INTERVAL_S`, or ``$RAY_TRAIN_HEALTH_CHECK_INTERVAL_S`` when set),
    and Ray Train's ``print`` left as Python's (:data:`PRINT_PATCH_ENV`, unless set)."""
    return {
        WORKER_GROUP_START_TIMEOUT_ENV: str(config.resources.worker_group_start_timeout_s),
        TRAIN_POLL_INTERVAL_ENV: os.environ.get(TRAIN_POLL_INTERVAL_ENV, str(TRAIN_POLL_INTERVAL_S)),
        PRINT_PATCH_ENV: os.environ.get(PRINT_PATCH_ENV, "0"),
    }


#: Credentials Ray Tune 2.60 copies from the driver's environment into every trial actor's runtime
#: environment (``ray.tune.execution.class_cache.ENV_VARS_TO_PROPAGATE``). Ray's runtime-env agent
#: then writes them, values included, to ``/tmp/ray/session_*/logs/runtime_env_agent.log``, which
#: every user of the machine can read.
PROPAGATED_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN")


def _keep_credentials_out_of_runtime_envs() -> None:
    """Stop Ray Tune copying :data:`PROPAGATED_CREDENTIALS` into trial actors' runtime environments
    (and so into Ray's logs), for the local Ray this process started: its workers inherit this
    process's environment through the raylet it started, credentials included. A cluster's nodes
    (``--ray-address``, a ``ray start`` Ray) still get them from Tune. Private Ray API, as of Ray
    2.60.0 (pinned in ``pyproject.toml``)."""
    from ray.tune.execution import class_cache

    class_cache.ENV_VARS_TO_PROPAGATE.difference_update(PROPAGATED_CREDENTIALS)


def _turn_on_token_authentication() -> None:
    """Token authentication with a random token, for this process and the Ray it starts.

    Ray reads ``RAY_AUTH_MODE`` once, when it is imported: its configuration and token cache are
    read again (as Ray's own ``authentication_test_utils.reset_auth_token_state`` does; Ray is
    pinned in ``pyproject.toml``).
    """
    from ray._raylet import AuthenticationTokenLoader, Config

    os.environ[AUTH_MODE_ENV], os.environ[AUTH_TOKEN_ENV] = "token", secrets.token_hex(32)
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def running_local_ray() -> str | None:
    """The GCS address (``host:port``) of the Ray that ``ray start`` runs on this machine, or
    ``None`` when no Ray runs here.

    Two Ray instances on one machine break Ray Train: its placement-group cleaner finds "multiple
    active Ray instances" and trials hang or die. A Ray counts as running when one of its raylets
    is found (Ray's own discovery for ``ray.init(address="auto")``) and its GCS accepts a TCP
    connection (a Ray shutting down does not count).

    Raises:
        ConfigError: a Ray runs here that ``ray start`` did not start (another sweep's local Ray,
            which ends with that sweep): the message names it and how to share one Ray.
    """
    from ray._private.services import find_bootstrap_address, find_gcs_addresses

    find_gcs_addresses.cache_clear()  # Ray keeps what it found first for the life of the process
    running = sorted(address for address in find_gcs_addresses() if _accepts_connections(address))
    if not running:
        return None
    started = find_bootstrap_address(None)
    if started in running:
        return started
    raise ConfigError(
        f"a Ray instance started by another program (another sweep?) is running on this machine at {', '.join(running)}; "
        "a second local Ray would break Ray Train's placement-group cleaner. Wait for it to end, or run every sweep "
        "of this machine on one Ray: `ray start --head --node-ip-address 127.0.0.1 --port 6379`, then "
        "`sweeper run ... --ray-address 127.0.0.1:6379` (a Ray started so is found without --ray-address)"
    )


def _accepts_connections(address: str, timeout_s: float = 1.0) -> bool:
    host, _, port = address.rpartition(":")
    return port.isdigit() and connection_error(host, int(port), timeout_s) is None


def cluster_nodes() -> int:
    """The nodes trials of the connected Ray cluster may run on: its alive nodes, and at least 2
    when the node this driver runs on offers no CPU (a head with ``resources: {CPU: 0}``, as in
    ``cluster/*.yaml``: every trial runs on worker nodes, which the autoscaler adds later)."""
    alive = [node for node in ray.nodes() if node["Alive"]]
    here = ray.get_runtime_context().get_node_id()
    driver_cpus = next((node["Resources"].get("CPU", 0) for node in alive if node["NodeID"] == here), 0)
    return max(len(alive), 2 if driver_cpus == 0 else 1)


def check_cluster_state(config: SweepConfig, output_dir: Path) -> None:
    """Check that the connected Ray cluster (:func:`ensure_ray`), if it has more than one node,
    finds the sweep's output folder, stage cache, Ray storage and MLflow store on shared storage.

    Raises:
        NodeLocalStateError: as :func:`sweeper.sweep.shared_state.check_shared_state`.
    """
    check_shared_state(
        cluster_nodes(),
        output_dir,
        stage_cache_root(config),
        ray_storage(config, output_dir),
        config.tracking.tracking_uri,
        config.storage.shared_filesystem,
        read_mounts(),
    )


@contextmanager
def pending_trials_limit(trials: int, max_concurrent_trials: int) -> Iterator[None]:
    """Within the block, ``TUNE_MAX_PENDING_TRIALS_PG`` is the number of trials of the phase that
    may run at once (``min(trials, max_concurrent_trials)``, at least 1), so Tune asks Ray (and an
    autoscaler) for all of them at once, beyond Tune's default cap of 200; a value the user set
    in the environment is kept. Restored afterwards."""
    if PENDING_TRIALS_ENV in os.environ:
        yield
        return
    os.environ[PENDING_TRIALS_ENV] = str(max(1, min(trials, max_concurrent_trials)))
    try:
        yield
    finally:
        del os.environ[PENDING_TRIALS_ENV]


def node_tags() -> dict[str, str]:
    """The Ray node this process runs on, as MLflow tags (``node_id``: hex node id, ``node_ip``)."""
    return {Tag.NODE_ID: ray.get_runtime_context().get_node_id(), Tag.NODE_IP: ray.util.get_node_ip_address()}


def check_cluster_resources(config: SweepConfig) -> None:
    """Refuse a trial no node of the connected cluster can run (:func:`sweeper.sweep.resources.check_resources`).

    Raises:
        ConfigError: naming the request, the largest node and the fix.
    """
    nodes = [
        NodeResources(cpus=node["Resources"].get("CPU", 0.0), gpus=node["Resources"].get("GPU", 0.0))
        for node in ray.nodes()
        if node.get("Alive")
    ]
    check_resources(config, nodes, "the Ray cluster")
