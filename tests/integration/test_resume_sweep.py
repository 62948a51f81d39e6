"""End to end: `kill -9` of a `sweeper run` driver in the target phase, then `sweeper resume`.

The smoke sweep, shrunk to one target (4 target trials, 2 at a time), runs as a subprocess in its
own session; once some target trial has completed, the driver and its local Ray are killed with
SIGKILL. `sweeper resume OUTPUT` must then finish the sweep without re-running finished trials
(their MLflow runs untouched, one run per trial, one parent run) and select what an
uninterrupted run of the same configuration selects. Training on CPU with fixed seeds is
bit-exact (``test_stages.test_a_run_resumed_from_its_checkpoint_ends_as_the_uninterrupted_one``),
so the English-dev scores of every trial completed in both sweeps are compared exactly too.
"""

from __future__ import annotations

import csv
import signal
import time
from pathlib import Path

import pytest
from _sweep_cli import SMOKE
from _sweep_processes import SWEEP_TIMEOUT_S, children, finish, kill_tree, snapshot, sweeper
from mlflow.tracking import MlflowClient

SHRUNK = [
    "target_tasks=[panx]",
    "zero_shot.languages=[de,en]",
    "zero_shot.max_examples_per_language=8",
    "resources.max_concurrent_trials=2",
]


def selections(output: Path) -> dict[str, tuple[str, str]]:
    rows = list(csv.DictReader((output / "report.csv").open(encoding="utf-8")))
    return {row["target_task"]: (row["intermediate_task"], row["english_dev"]) for row in rows if row.get("selected") == "1"}


def completed_histories(client: MlflowClient, runs) -> dict[tuple, tuple]:
    """(intermediate, learning rate) of each completed target trial → its selection score and the
    English-dev accuracy at every evaluation (the tiny random model's F1 is mostly 0)."""
    return {
        (r.data.tags["intermediate_task"], r.data.tags["learning_rate"]): (
            r.data.metrics["selection/english_dev"],
            [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, "target/panx/en/dev/accuracy")],
        )
        for r in runs
        if r.data.tags.get("stage") == "target" and r.data.tags.get("asha_outcome") == "completed"
    }


@pytest.mark.slow
def test_kill_9_then_resume_finishes_without_rerunning_finished_trials(tmp_path, data_dir, tiny_dir):
    common = ["--data-dir", str(data_dir)]
    reference_output, interrupted_output = tmp_path / "uninterrupted", tmp_path / "interrupted"
    # One sweep at a time, each with its own local Ray: two local Ray instances at once make Ray
    # Train's placement-group cleaner fail, and starting two Rays on 2 busy cores can time out.
    logs = {name: tmp_path / f"{name}.log" for name in ("reference", "interrupted", "resume")}
    reference = None
    interrupted = sweeper(logs["interrupted"], "run", str(SMOKE), *SHRUNK, *common, "--output", str(interrupted_output))
    try:
        deadline = time.monotonic() + SWEEP_TIMEOUT_S
        finished_before = {}
        while time.monotonic() < deadline and interrupted.poll() is None:
            time.sleep(1)
            if not (interrupted_output / "sweep.json").is_file():
                continue
            _, client, runs = children(interrupted_output)
            # FINISHED only: a FAILED run may be between two attempts (Tune retries it). Kill once
            # a target trial has finished and another one is under way.
            targets = [r for r in runs if r.data.tags.get("stage") == "target"]
            # the running trial must be far from its end (at most one evaluation logged), or it may
            # finish between this poll and the kill and leave no trial cut short
            early = [
                r
                for r in targets
                if r.info.status == "RUNNING" and len(client.get_metric_history(r.info.run_id, "target/panx/en/dev/f1")) <= 1
            ]
            if early and any(r.info.status == "FINISHED" for r in targets):
                kill_tree(interrupted)
                _, client, runs = children(interrupted_output)
                finished_before = {r.info.run_id: snapshot(client, r) for r in runs if r.info.status == "FINISHED"}
                break
        assert interrupted.returncode == -signal.SIGKILL, (
            "the driver was killed in its target phase: " + logs["interrupted"].read_text()[-3000:]
        )
        running_at_kill = {r.info.run_id for r in runs if r.info.status in ("RUNNING", "FAILED")}
        logged_at_kill = {
            run_id: [m.step for m in client.get_metric_history(run_id, "target/panx/en/dev/f1")] for run_id in running_at_kill
        }
        assert any(r.data.tags.get("stage") == "target" for r in runs if r.info.run_id in running_at_kill), (
            "some target trial was cut short"
        )
        resume_output = finish(sweeper(logs["resume"], "resume", str(interrupted_output)), logs["resume"])
        # the reference trains its target trials itself (it reuses only the anli encoder): the
        # stage cache would otherwise replay the interrupted sweep's finished trials
        reference = sweeper(
            logs["reference"],
            "run",
            str(SMOKE),
            *SHRUNK,
            "storage.cache_target_stages=false",
            *common,
            "--output",
            str(reference_output),
        )
        reference_printed = finish(reference, logs["reference"])
    finally:
        for process in (reference, interrupted):
            if process is not None and process.poll() is None:
                kill_tree(process)

    record, client, runs = children(interrupted_output)
    parents = client.search_runs([record.experiment_id], filter_string="tags.stage = 'sweep'")
    assert [p.info.run_id for p in parents] == [record.parent_run_id], "resume reattached to the one parent run"
    assert client.get_run(record.parent_run_id).info.status == "FINISHED"
    trial_ids = [r.data.tags["ray_trial_id"] for r in runs]
    assert len(trial_ids) == len(set(trial_ids)), "one MLflow run per Tune trial"
    assert sorted(r.data.tags["stage"] for r in runs) == ["intermediate"] + ["target"] * 4
    for run_id, before in finished_before.items():
        assert snapshot(client, client.get_run(run_id)) == before, f"finished run {run_id} was not touched"
    for run in runs:
        assert run.info.status in ("FINISHED", "KILLED"), run.data.tags
        assert run.data.tags["asha_outcome"] in ("completed", "early_stopped")
    for run_id in running_at_kill:  # continued in its own run, from its last checkpoint: no evaluation twice
        steps = [m.step for m in client.get_metric_history(run_id, "target/panx/en/dev/f1")]
        assert steps == sorted(set(steps)), f"run {run_id} logged an evaluation twice: {steps}"
        assert steps[: len(logged_at_kill[run_id])] == logged_at_kill[run_id]
    assert "panx: selected intermediate task" in resume_output

    _, reference_client, reference_runs = children(reference_output)
    assert selections(interrupted_output) == selections(reference_output)
    resumed, reference_histories = completed_histories(client, runs), completed_histories(reference_client, reference_runs)
    both = resumed.keys() & reference_histories.keys()
    assert both and {key: resumed[key] for key in both} == {key: reference_histories[key] for key in both}, (
        "CPU training with fixed seeds is bit-exact, resumed or not"
    )
    assert "panx: selected intermediate task" in reference_printed
