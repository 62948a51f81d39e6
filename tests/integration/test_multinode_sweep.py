"""End to end on two Ray nodes: a sweep spreads its trials over both, and survives losing one.

The module starts a Ray head and a second Ray node on this machine (`ray start`, 1 CPU each, own
temp folders and ports) and a real `mlflow server` on 127.0.0.1. Folders of this machine stand in
for shared storage (``storage.shared_filesystem=true``). The smoke sweep, shrunk to 4 target
trials of 6 evaluations (FIFO, no early stopping), runs as a `sweeper run --ray-address` process;
a trial's Train worker takes 0.6 CPU, so two trials at a time run on different nodes.

Once a trial on the worker node has a checkpoint in Ray storage and evaluations still to come, the
test `kill -9`s the node's raylet and its Train workers (a node loss: nothing on the node survives).
It looks with those workers frozen (SIGSTOP), so the trial cannot finish or log more between the
look and the kill, nor pass its window between two looks (see ``_trial_state``). The sweep must
finish with every trial's result in exactly one MLflow run per trial, the interrupted trial
continued in its run on the surviving node from its checkpoint, and every evaluation logged
exactly once (an evaluation is logged once its checkpoint is committed: those the retry runs
again were never logged). Before that, the same sweep without ``storage.shared_filesystem`` is
refused with exit code 2 and nothing written.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from _mlflow_server import mlflow_server
from _ray_nodes import two_node_cluster
from _sweep_cli import SMOKE
from _sweep_processes import sweeper
from _trial_state import FAST_POLLS, PACE_S, freeze, persisted_checkpoint_step, thaw, train_workers
from mlflow.tracking import MlflowClient

from sweeper.sweep.shared_state import is_shared_location, read_mounts
from sweeper.tracking.schema import Tag
from sweeper.tracking.sweep_record import SweepRecord

SHRUNK = [
    "intermediate_tasks=[none]",
    "target_tasks=[panx]",
    "param_space.seed=[1,2]",
    "scheduler.type=fifo",
    "target.max_steps=12",
    "zero_shot.languages=[de,en]",
    "zero_shot.max_examples_per_language=8",
    "resources.max_concurrent_trials=2",
    "resources.cpus_per_worker=0.6",
]
DEV_F1 = "target/panx/en/dev/f1"
STEPS = [2, 4, 6, 8, 10, 12]  # target.max_steps=12, eval_steps=2
SWEEP_TIMEOUT_S = 1200  # generous: a shared 2-core machine can be many times slower than alone


@dataclass
class Observed:
    """What the test saw while the sweep ran, and how the sweep ended."""

    node_ids: dict[str, str]
    output: Path
    returncode: int
    log: str
    refused: subprocess.CompletedProcess | None
    refused_output: Path
    nodes_seen: dict[str, set[str]] = field(default_factory=dict)  # run id → node ids it was tagged with
    killed_run: str | None = None  # the run whose Train worker was on the node killed
    logged_at_kill: list[int] = field(default_factory=list)
    checkpoint_step: int | None = None
    driver_peak_rss: int = 0
    driver_cpu_s: float = 0.0
    wall_s: float = 0.0


def target_runs(output: Path) -> tuple[MlflowClient, list]:
    record = SweepRecord.read(output)
    client = MlflowClient(record.tracking_uri)
    runs = client.search_runs([record.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{record.parent_run_id}'")
    return client, [run for run in runs if run.data.tags.get("stage") == "target"]


def kill_node_mid_trial(cluster, observed: Observed, client: MlflowClient, runs: list, frozen: list) -> bool:
    """If a trial on the worker node (its Train workers ``frozen``) has a checkpoint in Ray storage and
    evaluations still to come, kill the node: raylet first, then the frozen workers."""
    for run in runs:
        if run.info.status != "RUNNING" or run.data.tags.get(Tag.NODE_ID) != cluster.node_ids["worker"]:
            continue
        checkpoint = persisted_checkpoint_step(observed.output, run)
        logged = [metric.step for metric in client.get_metric_history(run.info.run_id, DEV_F1)]
        if checkpoint is not None and logged and logged[-1] < STEPS[-1]:
            observed.killed_run, observed.logged_at_kill, observed.checkpoint_step = run.info.run_id, logged, checkpoint
            cluster.worker.raylet().kill()
            for proc in frozen:
                proc.kill()
            return True
    return False


@pytest.fixture(scope="module")
def observed(tmp_path_factory, data_dir, tiny_dir) -> Iterator[Observed]:
    root = tmp_path_factory.mktemp("multinode")
    server_dir = root / "mlflow"
    server_dir.mkdir()
    with mlflow_server(server_dir) as uri:
        with two_node_cluster(root, extra_env=FAST_POLLS) as cluster:
            observed = _run_and_kill(cluster, root, uri, data_dir)
        yield observed  # the tests read MLflow: the server stays up, the cluster is gone


def _run_and_kill(cluster, root: Path, uri: str, data_dir: Path) -> Observed:
    """The refused sweep, then the sweep that loses the worker node (see the module docstring)."""
    common = [
        *SHRUNK,
        f"tracking.tracking_uri={uri}",
        f"storage.stage_cache_dir={root / 'stage_cache'}",
        "--data-dir",
        str(data_dir),
        "--ray-address",
        cluster.address,
    ]
    refused_output = root / "refused"
    refused = None
    if not is_shared_location(str(refused_output), read_mounts(), shared_filesystem=False):
        refused = subprocess.run(
            [sys.executable, "-m", "sweeper.commands.cli", "run", str(SMOKE), *common, "--output", str(refused_output)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=cluster.env,
        )
    output, log = root / "out", root / "sweep.log"
    started = time.monotonic()
    driver = sweeper(log, "run", str(SMOKE), *common, "storage.shared_filesystem=true", "--output", str(output), env=cluster.env)
    observed = Observed(cluster.node_ids, output, 0, "", refused, refused_output)
    try:
        process = psutil.Process(driver.pid)
        killed = False
        while driver.poll() is None and time.monotonic() - started < SWEEP_TIMEOUT_S:
            time.sleep(0.5 if killed else PACE_S)
            try:
                observed.driver_peak_rss = max(observed.driver_peak_rss, process.memory_info().rss)
                times = process.cpu_times()
                observed.driver_cpu_s = times.user + times.system
            except psutil.NoSuchProcess:
                break
            if not (output / "sweep.json").is_file():
                continue
            # until the kill, the worker node's Train workers run only between two looks
            frozen = [] if killed else train_workers(psutil.Process(cluster.worker.process.pid))
            freeze(frozen)
            try:
                client, runs = target_runs(output)
                for run in runs:
                    if Tag.NODE_ID in run.data.tags:
                        observed.nodes_seen.setdefault(run.info.run_id, set()).add(run.data.tags[Tag.NODE_ID])
                killed = killed or (bool(frozen) and kill_node_mid_trial(cluster, observed, client, runs, frozen))
            finally:
                thaw(frozen)  # killed ones are skipped
        driver.wait(timeout=max(1, SWEEP_TIMEOUT_S - (time.monotonic() - started)))
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    observed.wall_s = time.monotonic() - started
    observed.returncode, observed.log = driver.returncode, log.read_text(encoding="utf-8")
    # the figures docs/cluster.md quotes for the driver on the head node
    print(
        f"\ndriver: peak RSS {observed.driver_peak_rss / 2**20:.0f} MiB, CPU {observed.driver_cpu_s:.0f} s "
        f"over {observed.wall_s:.0f} s wall"
    )
    return observed


@pytest.mark.slow
def test_node_local_state_is_refused_before_anything_is_written(observed):
    if observed.refused is None:
        pytest.skip("this machine's temporary folder is a network mount: nothing node-local to refuse")
    assert observed.refused.returncode == 2, observed.refused.stdout + observed.refused.stderr
    message = " ".join(observed.refused.stderr.split())
    assert "2 nodes" in message and "--output =" in message and "storage.shared_filesystem=true" in message
    assert not observed.refused_output.exists(), "refused before the output folder was created"


@pytest.mark.slow
def test_trials_ran_on_both_nodes(observed):
    assert observed.returncode == 0, observed.log[-5000:]
    seen = set().union(*observed.nodes_seen.values())
    assert seen == set(observed.node_ids.values()), f"trials ran on {seen}, the nodes are {observed.node_ids}"


@pytest.mark.slow
def test_the_sweep_survives_losing_a_node_mid_trial(observed):
    assert observed.killed_run is not None, "a trial on the worker node was cut short after a checkpoint"
    assert observed.returncode == 0, observed.log[-5000:]
    record = SweepRecord.read(observed.output)
    client, runs = target_runs(observed.output)
    assert client.get_run(record.parent_run_id).info.status == "FINISHED"
    # no lost and no duplicated runs: one per trial of the grid (2 learning rates × 2 seeds)
    assert len({run.data.tags["ray_trial_id"] for run in runs}) == len(runs) == 4
    assert sorted((run.data.tags["learning_rate"], run.data.tags["seed"]) for run in runs) == sorted(
        (lr, seed) for lr in ("0.0001", "0.0003") for seed in ("1", "2")
    )
    for run in runs:  # every trial's result
        assert run.info.status == "FINISHED" and run.data.tags["asha_outcome"] == "completed", run.data.tags
        assert "selection/english_dev" in run.data.metrics and "error" not in run.data.tags
        steps = sorted(metric.step for metric in client.get_metric_history(run.info.run_id, DEV_F1))
        assert steps == STEPS, f"every evaluation logged once: {steps}"
    killed = client.get_run(observed.killed_run)
    assert killed.data.tags["attempts"] == "2", "retried once (resources.max_failures=1)"
    assert killed.data.tags[Tag.NODE_ID] == observed.node_ids["head"], "finished on the surviving node"
    history = client.get_metric_history(observed.killed_run, DEV_F1)
    steps = [metric.step for metric in sorted(history, key=lambda metric: metric.timestamp)]
    # continued from its checkpoint, not from scratch (that would log the evaluations up to the
    # checkpoint again), and what was logged before the kill is kept as it was
    assert steps == STEPS, (observed.checkpoint_step, observed.logged_at_kill, steps)
    assert steps[: len(observed.logged_at_kill)] == observed.logged_at_kill
    assert "panx: selected intermediate task" in observed.log
