"""One Ray per machine (sweeper.ray_adapter.cluster.running_local_ray): a sweep without
``--ray-address`` uses the Ray that ``ray start`` runs here, and refuses, before writing
anything, to start a second local Ray beside another program's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _sweep_processes import kill_tree
from ray._common.utils import reset_ray_address
from ray._private.services import find_bootstrap_address

from sweeper.errors import ConfigError
from sweeper.ray_adapter.cluster import AUTH_MODE_ENV, AUTH_TOKEN_ENV, running_local_ray

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 240
#: Another sweep's local Ray: started by ``ensure_ray`` in a process of its own, which prints its address.
OTHER_SWEEP = (
    "import time, ray; from pathlib import Path; from sweeper.config import load_config; from sweeper.ray_adapter.cluster import ensure_ray;"
    "ensure_ray(load_config(Path('search_spaces/smoke.yaml'))); print(ray.get_runtime_context().gcs_address, flush=True);"
    "time.sleep(900)"
)
CONNECT = "import sys, ray; ray.init(address=sys.argv[1]); print('connected')"
WITHOUT_TOKEN = {name: value for name, value in os.environ.items() if name not in (AUTH_MODE_ENV, AUTH_TOKEN_ENV)}


@contextmanager
def process_tree(command: list[str]) -> Iterator[subprocess.Popen]:
    """Run ``command`` in its own session (with no Ray token of this process's environment); SIGKILL
    it and all it started at the end, and wait."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True, cwd=ROOT, env=WITHOUT_TOKEN)
    try:
        yield process
    finally:
        kill_tree(process)


def wait_until(condition, what: str):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not within {START_TIMEOUT_S} s: {what}")


def test_another_sweeps_ray_takes_no_stranger_and_a_second_local_ray_is_refused(tmp_path):
    assert running_local_ray() is None, "no Ray runs on this machine before the test"
    with process_tree([sys.executable, "-c", OTHER_SWEEP]) as other:
        address = other.stdout.readline().strip()
        assert address.rpartition(":")[2].isdigit(), address
        # Ray 2.60's GCS listens on every interface: the token keeps other processes out
        stranger = subprocess.run(
            [sys.executable, "-c", CONNECT, address], capture_output=True, text=True, timeout=300, check=False, env=WITHOUT_TOKEN
        )
        assert stranger.returncode != 0 and "connected" not in stranger.stdout, stranger.stdout + stranger.stderr
        with pytest.raises(ConfigError) as refused:
            running_local_ray()
        assert address in str(refused.value) and "--ray-address 127.0.0.1:6379" in str(refused.value)
        output = tmp_path / "out"
        cli = subprocess.run(
            [sys.executable, "-m", "sweeper.commands.cli", "run", "search_spaces/smoke.yaml", "--output", str(output)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=ROOT,
        )
        assert cli.returncode == 2, cli.stdout + cli.stderr
        assert address in " ".join(cli.stderr.split()) and "Traceback" not in cli.stderr
        assert not output.exists(), "refused before anything was written"
    assert running_local_ray() is None, "the Ray of a program that ended does not count"


def test_the_ray_that_ray_start_runs_here_is_used():
    port = 6400 + os.getpid() % 500
    ray_cli = str(Path(sys.executable).with_name("ray"))
    start = [ray_cli, "start", "--head", "--block", "--disable-usage-stats", "--include-dashboard=false"]
    try:
        with process_tree([*start, f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1"]):
            # `ray start` names its GCS in the default temp folder once the node is up
            address = wait_until(
                lambda: (find_bootstrap_address(None) or "").endswith(f":{port}") and find_bootstrap_address(None),
                "`ray start` is up",
            )
            assert running_local_ray() == address
        assert running_local_ray() is None
    finally:  # as `ray stop` does: a later ray.init() without an address would try to join it
        if (find_bootstrap_address(None) or "").endswith(f":{port}"):
            reset_ray_address()
