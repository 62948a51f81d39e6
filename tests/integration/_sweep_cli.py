"""Run `sweeper run` in-process and collect what it tracked (shared by the end-to-end tests)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import ray
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from sweeper.commands.cli import app
from sweeper.tracking.sweep_record import SweepRecord

SMOKE = Path(__file__).resolve().parents[2] / "search_spaces" / "smoke.yaml"
#: Overrides that shrink the smoke sweep to one target trial (none -> panx), scored in de and en.
ONE_TRIAL = [
    "intermediate_tasks=[none]",
    "target_tasks=[panx]",
    "param_space.learning_rate=[0.0001]",
    "param_space.seed=[1]",
    "scheduler.type=fifo",
    "zero_shot.languages=[de,en]",
    "zero_shot.max_examples_per_language=8",
    "resources.max_concurrent_trials=1",
]
runner = CliRunner()


class TrackedSweep(NamedTuple):
    output: Path
    printed: str
    record: SweepRecord
    client: MlflowClient
    children: list[Run]


def run_sweep(config: Path, output: Path, data_dir: Path, overrides: list[str] = ()) -> TrackedSweep:
    """``sweeper run CONFIG [overrides] --data-dir --output``; then the parent's nested runs.

    Each sweep gets its own stage cache ``<output>/../stage_cache`` (unless ``overrides`` set
    ``storage.stage_cache_dir``), so no test reuses another test's encoders. Shuts Ray down
    afterwards so the next sweep of the session starts its own local Ray.
    """
    if not any(item.startswith("storage.stage_cache_dir=") for item in overrides):
        overrides = [*overrides, f"storage.stage_cache_dir={output.parent / 'stage_cache'}"]
    result = runner.invoke(app, ["run", str(config), *overrides, "--data-dir", str(data_dir), "--output", str(output)])
    ray.shutdown()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    record = SweepRecord.read(output)
    client = MlflowClient(record.tracking_uri)
    children = client.search_runs([record.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{record.parent_run_id}'")
    return TrackedSweep(output, result.output, record, client, children)
