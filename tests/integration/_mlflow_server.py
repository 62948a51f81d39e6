"""A real `mlflow server` on 127.0.0.1 for the end-to-end tests: sqlite backend and proxied
artifact storage in a temporary folder, started on a free port and stopped at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 180


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class MlflowServer:
    """``mlflow server`` on 127.0.0.1:``port`` with ``root/mlflow.db`` and artifacts under
    ``root/artifacts``; it can be stopped and started again on the same port and store, and frozen
    (SIGSTOP: requests hang) and thawed."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.uri = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start it and wait until ``/health`` answers 200.

        Raises:
            RuntimeError: the server exited or was not healthy within ``START_TIMEOUT_S`` (its log
                is in the message).
        """
        log_path = self.root / "server.log"
        command = [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.root / "artifacts"),
            "--workers",
            "1",
        ]
        # No job-execution consumers (huey, for GenAI jobs): seven busy processes a tracking test does not use.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with log_path.open("a", encoding="utf-8") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(self.uri):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"mlflow server did not become healthy at {self.uri}:\n{log_path.read_text(encoding='utf-8')[-3000:]}"
                )
            time.sleep(1)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP the server's processes: requests are accepted by the kernel and never answered."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)


@contextmanager
def running_mlflow_server(root: Path) -> Iterator[MlflowServer]:
    """A started :class:`MlflowServer` on a free port, stopped at the end."""
    server = MlflowServer(root, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def mlflow_server(root: Path) -> Iterator[str]:
    """The ``http://127.0.0.1:<port>`` URI of a :func:`running_mlflow_server` in ``root``."""
    with running_mlflow_server(root) as server:
        yield server.uri


def _stop(process: subprocess.Popen) -> None:
    """SIGCONT then SIGTERM the server's process group (the CLI and its uvicorn worker, in their
    own session), then SIGKILL whatever is left of it after 20 s."""
    try:
        os.killpg(process.pid, signal.SIGCONT)
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
