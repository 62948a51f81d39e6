"""End to end: one target trial trained data-parallel by two Ray Train workers (CPU, gloo).

The smoke sweep shrunk to the ``none`` → PAN-X cell at one learning rate, with
``resources.num_workers=2``: Ray Train starts two workers that train one DDP model (each step
takes a batch per worker), rank 0 alone logs to MLflow and saves, and the trial's target stage
is keyed by its world size.
"""

from __future__ import annotations

import json

import pytest
from _sweep_cli import SMOKE, run_sweep

from sweeper.cache.markers import STAGE_MARKER

OVERRIDES = [
    "intermediate_tasks=[none]",
    "target_tasks=[panx]",
    "param_space.learning_rate=[1.0e-4]",
    "scheduler.type=fifo",
    "zero_shot.languages=[de]",
    "resources.num_workers=2",
    "resources.cpus_per_worker=0.5",
    "resources.max_concurrent_trials=1",
]


@pytest.mark.slow
def test_two_workers_train_one_trial_and_rank_0_alone_tracks_it(tmp_path, data_dir, tiny_dir):
    sweep = run_sweep(SMOKE, tmp_path / "out", data_dir, OVERRIDES)
    (run,) = sweep.children
    assert run.info.status == "FINISHED" and run.data.tags["asha_outcome"] == "completed"
    assert run.data.tags["world_size"] == "2", "the run was trained by two data-parallel workers"
    history = sweep.client.get_metric_history(run.info.run_id, "target/panx/en/dev/f1")
    assert [metric.step for metric in history] == [2, 4, 6], "each evaluation logged once, by rank 0"
    assert "zero_shot/panx/de/dev/f1" in run.data.metrics
    assert [artifact.path for artifact in sweep.client.list_artifacts(run.info.run_id, "best_checkpoint")]
    stage = tmp_path / "stage_cache" / "target" / f"none__panx-{run.data.tags['stage_key']}"
    marker = json.loads((stage / STAGE_MARKER).read_text(encoding="utf-8"))
    assert marker["inputs"]["world_size"] == 2 and [step for step, _ in marker["history"]] == [2, 4, 6]
