"""`sweeper` CLI processes for the end-to-end fault tests: start one in its own session, wait for
it, kill it with everything it started, and read back what it tracked in MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
from mlflow.tracking import MlflowClient

from sweeper.tracking.sweep_record import SweepRecord

SWEEP_TIMEOUT_S = 1200  # generous: a shared 2-core machine can be many times slower than alone


def sweeper(log: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m sweeper.commands.cli ARGS`` in a new session, its output to ``log``; its local Ray's
    processes are its descendants (see :func:`kill_tree`). ``env``: default this environment
    without ``$RAY_ADDRESS``."""
    with log.open("w", encoding="utf-8") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sweeper.commands.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env if env is not None else {**os.environ, "RAY_ADDRESS": ""},
        )


def finish(process: subprocess.Popen, log: Path) -> str:
    try:
        process.wait(timeout=SWEEP_TIMEOUT_S)
    finally:
        kill_tree(process)
    output = log.read_text(encoding="utf-8")
    assert process.returncode == 0, output[-5000:]
    return output


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the driver and every process it started (its local Ray), and nothing else."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    for proc in descendants:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(descendants, timeout=30)


def children(output: Path):
    record = SweepRecord.read(output)
    client = MlflowClient(record.tracking_uri)
    runs = client.search_runs([record.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{record.parent_run_id}'")
    return record, client, runs


def snapshot(client: MlflowClient, run) -> tuple:
    """What must not change for a finished run: status, end time, tags (but the later
    ``selected``), and every metric's full history."""
    histories = {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)] for key in run.data.metrics}
    tags = {key: value for key, value in run.data.tags.items() if key != "selected"}
    return run.info.status, run.info.end_time, tags, histories
