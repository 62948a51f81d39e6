"""What a running sweep's trials left on this machine, read by the fault tests: a trial's latest
checkpoint in Ray storage, and the Ray Train worker processes."""

from __future__ import annotations

import json
from pathlib import Path

import psutil

from sweeper.ray_adapter.trials import train_run_name


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
