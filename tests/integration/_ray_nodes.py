"""A two-node Ray cluster on this machine for the multi-node tests: `ray start --head` and a second
`ray start --address`, each with its own temp folder, ports and CPU count, and each a `--block`ing
process in its own session, so that the test can kill one node's processes and stop everything.

Ray rewrites 127.0.0.1 as this machine's address (``services.resolve_ip_for_localhost``), and
its GCS and raylets listen on all interfaces; the dashboard is bound to 127.0.0.1. Token
authentication is on, with a token of this cluster's own (``TwoNodeCluster.env``): Ray 2.60 turns
it on by itself when ``~/.ray/auth_token`` exists, which another local Ray may have written.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from _mlflow_server import free_port

RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 240


@dataclass
class RayNode:
    """One `ray start --block` process (its descendants are the node's Ray processes)."""

    name: str
    temp_dir: Path
    process: subprocess.Popen
    log: Path

    def processes(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    @staticmethod
    def command_line(proc: psutil.Process) -> str:
        """The process's command line (Ray sets it to the actor's class), ``""`` once it has exited."""
        try:
            return " ".join(proc.cmdline())
        except psutil.Error:  # gone, or a zombie
            return ""

    def raylet(self) -> psutil.Process:
        return next(proc for proc in self.processes() if "/raylet/raylet " in self.command_line(proc))


@dataclass
class TwoNodeCluster:
    address: str  # GCS address for --ray-address
    head: RayNode
    worker: RayNode
    node_ids: dict[str, str]  # node name (head, worker) → Ray node id (hex)
    env: dict[str, str]  # the environment of a process that connects to the cluster


def _ports(*names: str) -> list[str]:
    return [f"--{name}={free_port()}" for name in names]


def _start(name: str, temp_dir: Path, arguments: list[str], log_dir: Path, env: dict[str, str]) -> RayNode:
    log = log_dir / f"ray-{name}.log"
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [
                RAY,
                "start",
                "--block",
                "--disable-usage-stats",
                f"--temp-dir={temp_dir}",
                f"--node-name={name}",
                *arguments,
                *_ports(
                    "node-manager-port",
                    "object-manager-port",
                    "metrics-export-port",
                    "dashboard-agent-listen-port",
                    "dashboard-agent-grpc-port",
                    "runtime-env-agent-port",
                ),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    return RayNode(name, temp_dir, process, log)


def _alive_nodes(address: str, env: dict[str, str]) -> dict[str, str]:
    """Node name → node id of the alive nodes, asked in a separate driver process."""
    script = (
        "import json, sys, ray; ray.init(address=sys.argv[1], logging_level='ERROR');"
        "print(json.dumps({n['NodeName']: n['NodeID'] for n in ray.nodes() if n['Alive']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, address], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    if result.returncode != 0:
        return {}
    return json.loads(result.stdout.strip().splitlines()[-1])


def stop_node(node: RayNode) -> None:
    """SIGKILL the node's `ray start` process and every process it started."""
    descendants = node.processes()
    for proc in [*descendants]:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    if node.process.poll() is None:
        node.process.kill()
    node.process.wait(timeout=60)
    psutil.wait_procs(descendants, timeout=60)


@contextmanager
def two_node_cluster(log_dir: Path, cpus_per_node: int = 1, extra_env: dict[str, str] | None = None) -> Iterator[TwoNodeCluster]:
    """A head and a worker node of ``cpus_per_node`` CPUs each (no GPU), their processes with
    ``extra_env`` in their environment; stopped at the end.

    Temp folders are short (``/tmp/r…``): Ray's Unix sockets live there (107-byte path limit).

    Raises:
        RuntimeError: the two nodes were not both alive within ``START_TIMEOUT_S`` (logs attached).
    """
    root = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    # RAY_ADDRESS reaches every Ray worker: Ray Train's placement-group cleaner finds its cluster by
    # it, and fails ("Found multiple active Ray instances") while another Ray runs on this machine.
    env = {
        **os.environ,
        **(extra_env or {}),
        "RAY_ADDRESS": address,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    head = _start(
        "head",
        root / "h",
        [
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--num-cpus={cpus_per_node}",
            "--num-gpus=0",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            *_ports("dashboard-port", "ray-client-server-port"),
        ],
        log_dir,
        env,
    )
    worker = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _alive_nodes(address, env).get("head"):
            if head.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Ray head did not start:\n{head.log.read_text(encoding='utf-8')[-3000:]}")
            time.sleep(2)
        worker = _start(
            "worker", root / "w", [f"--address={address}", f"--num-cpus={cpus_per_node}", "--num-gpus=0"], log_dir, env
        )
        while len(nodes := _alive_nodes(address, env)) < 2:
            if worker.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Ray worker node did not join:\n{worker.log.read_text(encoding='utf-8')[-3000:]}")
            time.sleep(2)
        yield TwoNodeCluster(address, head, worker, nodes, env)
    finally:
        for node in (worker, head):
            if node is not None:
                stop_node(node)
        subprocess.run(["rm", "-rf", str(root)], check=False)
