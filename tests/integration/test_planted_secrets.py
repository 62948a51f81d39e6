"""Security defaults with planted values (issue 16): a real sweep, one trial of the smoke sweep,
given credentials the way users give them (inside the Ray storage URI, inside the tracking URI,
and in the environment), against a real S3-compatible server (moto) and a real `mlflow server`.

None of the planted values may reach what sweeper shows or keeps: `sweeper plan`, `run` and
`report` output, any file of the output folder (``config.json``, ``sweep.json``, the report),
the MLflow store (params, tags, metrics, artifacts: the server's sqlite file and artifact folder)
or the logs of the sweep's local Ray. MLflow's telemetry writes nothing (its installation id
lives under ``$XDG_CONFIG_HOME/mlflow``).

Not checked: the Ray storage bucket itself. Ray Tune's own files there (``tuner.pkl``, the search
state) hold the storage URI, credentials included (seen in this test's bucket), which Tune needs
to restore the experiment; whoever can read the bucket holds those credentials already.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from _mlflow_server import mlflow_server
from _sweep_cli import ONE_TRIAL, SMOKE
from _sweep_processes import children, finish, sweeper

from sweeper.tracking.schema import Outcome, Tag

STORAGE_KEY, STORAGE_SECRET = "AKIAPL4NTEDKEY", "pl4nted-storage-secret"
TRACKING_PASSWORD = "pl4nted-tracking-password"
ENVIRONMENT = {"HF_TOKEN": "hf_pl4ntedEnvToken", "AWS_SECRET_ACCESS_KEY": "pl4nted-aws-env-secret"}
PLANTED = [STORAGE_KEY, STORAGE_SECRET, TRACKING_PASSWORD, *ENVIRONMENT.values()]


def _leaks(folder: Path) -> list[str]:
    """``path: planted value`` for every file under ``folder`` whose bytes hold a planted value."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        content = path.read_bytes()
        found += [f"{path}: {value}" for value in PLANTED if value.encode() in content]
    return found


def _ray_sessions_since(start: float) -> list[Path]:
    root = Path("/tmp/ray")
    return [path for path in root.glob("session_2*") if path.is_dir() and path.stat().st_mtime >= start] if root.is_dir() else []


@pytest.mark.slow
def test_planted_credentials_and_environment_secrets_are_never_shown_or_kept(tmp_path, data_dir, tiny_dir, s3_bucket):
    started = time.time()
    bucket, _, query = s3_bucket.partition("?")
    storage = f"s3://{STORAGE_KEY}:{STORAGE_SECRET}@{bucket[len('s3://') :]}/sweeps?{query}"
    xdg = tmp_path / "xdg-config"
    env = {**os.environ, **ENVIRONMENT, "RAY_ADDRESS": "", "XDG_CONFIG_HOME": str(xdg)}
    for name in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"):  # set in this process by importing sweeper.tracking
        env.pop(name, None)
    (tmp_path / "mlflow").mkdir()
    with mlflow_server(tmp_path / "mlflow") as uri:
        tracking = uri.replace("http://", f"http://alice:{TRACKING_PASSWORD}@")
        common = [
            *ONE_TRIAL,
            f"storage.storage_path={storage}",
            f"storage.stage_cache_dir={tmp_path / 'stage_cache'}",
            f"tracking.tracking_uri={tracking}",
        ]
        output = tmp_path / "out"
        logs = {name: tmp_path / f"{name}.log" for name in ("plan", "run", "report")}
        finish(sweeper(logs["plan"], "plan", str(SMOKE), *common, "--data-dir", str(data_dir), env=env), logs["plan"])
        printed = finish(
            sweeper(logs["run"], "run", str(SMOKE), *common, "--data-dir", str(data_dir), "--output", str(output), env=env),
            logs["run"],
        )
        finish(sweeper(logs["report"], "report", str(output), env=env), logs["report"])

        record, client, runs = children(output)
        (target,) = [run for run in runs if run.data.tags.get(Tag.STAGE) == "target"]
        assert target.data.tags[Tag.OUTCOME] == Outcome.COMPLETED, "the sweep really wrote to the bucket and the server"
        assert "***@" in printed or "***@" in logs["plan"].read_text(encoding="utf-8"), "a URI that must be shown is redacted"
        leaks = [f"{name} output: {value}" for name, log in logs.items() for value in PLANTED if value in log.read_text("utf-8")]
        leaks += _leaks(output) + _leaks(tmp_path / "mlflow")
        for session in _ray_sessions_since(started):
            leaks += _leaks(session / "logs")
    assert leaks == []
    assert not (xdg / "mlflow").exists(), "MLflow telemetry is off unless the user turns it on"
