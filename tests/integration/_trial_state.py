"""What a running sweep's trials left on this machine, read by the fault tests: a trial's latest
checkpoint in Ray storage, and the Ray Train worker processes, which the tests freeze while they look.

A fault test that waits for a trial to reach a state (a checkpoint stored, evaluations still to come)
keeps the trial's Train workers frozen while it reads MLflow and Ray storage, and lets them run only
:data:`PACE_S` between two looks. The trial then moves on by at most that much of its own work from
one look to the next, however slow a look is on a loaded machine: its window (a tiny model's
evaluations come about 0.25 s apart) cannot pass unseen. Ray Train's controller collects each
report, and registers its checkpoint, when it polls the workers: :data:`FAST_POLLS` makes it poll
every 0.1 s rather than every 2 s, so a checkpoint is registered a look or two after its upload.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import psutil

from sweeper.ray_adapter.trials import train_run_name

PACE_S = 0.1  # how long frozen Train workers run between two looks
FAST_POLLS = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1"}  # the environment of the sweep's Ray processes


def persisted_checkpoint_step(output: Path, run) -> int | None:
    """The step of the latest checkpoint Ray Train recorded for the trial's Train run (Ray storage
    under ``output/ray``), if any."""
    name = train_run_name(run.info.run_name, run.data.tags["ray_trial_id"])
    snapshot = output / "ray" / "train" / name / "checkpoint_manager_snapshot.json"
    try:
        state = json.loads(snapshot.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    latest = state.get("latest_checkpoint_result")
    return None if latest is None else int(latest["metrics"]["step"])


def _command_line(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:  # gone, or a zombie
        return ""


def train_workers(root: psutil.Process) -> list[psutil.Process]:
    """The Ray Train worker processes among ``root``'s descendants (Ray names them by their actor class)."""
    try:
        descendants = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [proc for proc in descendants if "RayTrainWorker" in _command_line(proc)]


def _signal(procs: list[psutil.Process], signum: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(signum)
        except psutil.NoSuchProcess:  # gone already: skipped
            pass


def freeze(procs: list[psutil.Process]) -> None:
    """SIGSTOP each process (one already gone is skipped)."""
    _signal(procs, signal.SIGSTOP)


def thaw(procs: list[psutil.Process]) -> None:
    """SIGCONT each process (one already gone is skipped)."""
    _signal(procs, signal.SIGCONT)
