"""Faults of a real machine, injected into one running sweep (issue 16), each with its own test.

The smoke sweep, shrunk to two target trials run one after the other (12 steps, an evaluation
and a Ray Train checkpoint every 2), runs as a `sweeper run` process in its own session, tracked
on a real `mlflow server`. While it runs, the test looks at it again and again and:

1. ``kill -9``s the Train worker of a trial once that trial has a checkpoint in Ray storage and
   evaluations still to come. It looks with the worker frozen (SIGSTOP), so the trial cannot pass
   that window between two looks, nor move on between the look and the kill (see ``_trial_state``).
   Tune retries the trial from its checkpoint, in the same MLflow run.
2. stops the MLflow server (SIGTERM) while a later trial trains (seen the same way, its worker
   frozen while the test looks), for :data:`OUTAGE_S` seconds, then starts it again on the same
   port and store. MLflow's client retries its requests: no metric may be lost, and the trial
   goes on.
3. freezes the MLflow server once every trial has finished (the driver then waits on it,
   between the target phase and a finished report: ASHA clean-up, selection, report, submission
   folder), ``kill -9``s the driver and its local Ray, and thaws the server. ``sweeper resume``
   must finish selection and report without training again.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from _mlflow_server import MlflowServer, running_mlflow_server
from _sweep_cli import SMOKE
from _sweep_processes import children, finish, kill_tree, snapshot, sweeper
from _trial_state import FAST_POLLS, PACE_S, freeze, persisted_checkpoint_step, thaw, train_workers

from sweeper.tracking.schema import SELECTION_KEY, Outcome, Tag

SHRUNK = [
    "intermediate_tasks=[none]",
    "target_tasks=[panx]",
    "param_space.learning_rate=[0.0001]",
    "param_space.seed=[1,2]",
    "scheduler.type=fifo",
    "target.max_steps=12",
    "zero_shot.languages=[de,en]",
    "zero_shot.max_examples_per_language=8",
    "resources.max_concurrent_trials=1",
]
DEV_F1 = "target/panx/en/dev/f1"
STEPS = [2, 4, 6, 8, 10, 12]  # target.max_steps=12, eval_steps=2
TRIALS = 2  # param_space.seed
OUTAGE_S = 15  # how long the MLflow server is down
SWEEP_TIMEOUT_S = 1500  # generous: a shared 2-core machine can be many times slower than alone


@dataclass
class Faults:
    """What the test did to the sweep, and what it saw."""

    output: Path
    log: Path
    killed_run: str | None = None  # fault 1: the run whose Train worker was killed
    checkpoint_step: int | None = None
    logged_at_kill: list[int] = field(default_factory=list)
    outage_run: str | None = None  # fault 2: the run that trained while the server was down
    logged_before_outage: list[int] = field(default_factory=list)
    driver_killed: bool = False  # fault 3
    before_driver_kill: dict = field(default_factory=dict)  # run id → snapshot
    interrupted_returncode: int | None = None
    resume_log: str = ""


def _target_runs(output: Path):
    _, client, runs = children(output)
    return client, [run for run in runs if run.data.tags.get(Tag.STAGE) == "target"]


def _logged(client, run) -> list[int]:
    return [metric.step for metric in client.get_metric_history(run.info.run_id, DEV_F1)]


def _kill_train_worker(faults: Faults, client, runs, frozen: list) -> bool:
    """Fault 1, once the running trial (its one Train worker ``frozen``) has a checkpoint in Ray
    storage and evaluations to come; ``False``: not yet."""
    for run in runs:
        checkpoint = persisted_checkpoint_step(faults.output, run)
        logged = _logged(client, run) if run.info.status == "RUNNING" and checkpoint is not None else []
        if len(frozen) == 1 and logged and logged[-1] < STEPS[-1]:
            faults.killed_run, faults.logged_at_kill, faults.checkpoint_step = run.info.run_id, logged, checkpoint
            frozen[0].kill()
            return True
    return False


def _stop_server_mid_trial(server: MlflowServer, faults: Faults, client, runs, frozen: list) -> bool:
    """Fault 2, once the next trial (its Train worker ``frozen``, thawed for the outage) has logged
    an evaluation and has more to come; ``False``: not yet."""
    for run in runs:
        logged = _logged(client, run) if run.info.run_id != faults.killed_run and run.info.status == "RUNNING" else []
        if logged and logged[-1] < STEPS[-2]:
            faults.outage_run, faults.logged_before_outage = run.info.run_id, logged
            server.stop()
            thaw(frozen)
            time.sleep(OUTAGE_S)
            server.start()
            return True
    return False


def _kill_driver_after_the_trials(driver, server: MlflowServer, faults: Faults, client, runs) -> bool:
    """Fault 3, once every trial has finished."""
    if len(runs) < TRIALS or any(run.info.status != "FINISHED" for run in runs):
        return False
    record, client, all_runs = children(faults.output)
    assert client.get_run(record.parent_run_id).info.status == "RUNNING", "the sweep had not finished yet"
    faults.before_driver_kill = {run.info.run_id: snapshot(client, run) for run in all_runs}
    server.freeze()
    try:
        faults.interrupted_returncode = driver.poll()
        kill_tree(driver)
    finally:
        server.thaw()
    faults.driver_killed = faults.interrupted_returncode is None
    return True


@pytest.fixture(scope="module")
def faults(tmp_path_factory, data_dir, tiny_dir) -> Iterator[Faults]:
    root = tmp_path_factory.mktemp("faults")
    (root / "mlflow").mkdir()
    with running_mlflow_server(root / "mlflow") as server:
        faults = Faults(root / "out", root / "sweep.log")
        common = [f"tracking.tracking_uri={server.uri}", f"storage.stage_cache_dir={root / 'stage_cache'}"]
        args = ["run", str(SMOKE), *SHRUNK, *common, "--data-dir", str(data_dir), "--output", str(faults.output)]
        driver = sweeper(faults.log, *args, env={**os.environ, "RAY_ADDRESS": "", **FAST_POLLS})
        try:
            deadline = time.monotonic() + SWEEP_TIMEOUT_S
            while driver.poll() is None and time.monotonic() < deadline and not faults.driver_killed:
                pacing = faults.outage_run is None  # faults 1 and 2 wait for a window of a trial
                time.sleep(PACE_S if pacing else 0.5)
                if not (faults.output / "sweep.json").is_file():
                    continue
                frozen = train_workers(psutil.Process(driver.pid)) if pacing else []
                freeze(frozen)
                try:
                    client, runs = _target_runs(faults.output)
                    if faults.killed_run is None:
                        _kill_train_worker(faults, client, runs, frozen)
                    elif faults.outage_run is None:
                        _stop_server_mid_trial(server, faults, client, runs, frozen)
                    else:
                        _kill_driver_after_the_trials(driver, server, faults, client, runs)
                finally:
                    thaw(frozen)  # a killed worker is skipped
        finally:
            kill_tree(driver)
        assert faults.driver_killed, "every fault was injected: " + faults.log.read_text(encoding="utf-8")[-5000:]
        resume_log = root / "resume.log"
        finish(sweeper(resume_log, "resume", str(faults.output)), resume_log)
        faults.resume_log = resume_log.read_text(encoding="utf-8")
        yield faults  # the tests read MLflow: the server stays up


@pytest.mark.slow
def test_one_run_per_trial_and_every_evaluation_logged(faults):
    client, runs = _target_runs(faults.output)
    assert len(runs) == len({run.data.tags[Tag.RAY_TRIAL_ID] for run in runs}) == TRIALS, "no lost and no duplicated run"
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags[Tag.OUTCOME] == Outcome.COMPLETED, run.data.tags
        assert sorted(_logged(client, run)) == STEPS, "every evaluation logged, once"


@pytest.mark.slow
def test_a_killed_train_worker_is_retried_from_its_checkpoint_in_the_same_run(faults):
    client, _ = _target_runs(faults.output)
    killed = client.get_run(faults.killed_run)
    assert killed.data.tags[Tag.ATTEMPTS] == "2", "retried once (resources.max_failures=1)"
    history = client.get_metric_history(killed.info.run_id, DEV_F1)
    steps = [metric.step for metric in sorted(history, key=lambda metric: metric.timestamp)]
    # continued from its checkpoint, not from scratch (that would log the evaluations up to the
    # checkpoint again); those after it ran again, logged once: an evaluation is logged once its
    # checkpoint is committed
    assert steps == STEPS, (faults.checkpoint_step, faults.logged_at_kill, steps)
    assert steps[: len(faults.logged_at_kill)] == faults.logged_at_kill


@pytest.mark.slow
def test_an_mlflow_server_outage_loses_no_metric_and_the_trial_goes_on(faults):
    client, _ = _target_runs(faults.output)
    run = client.get_run(faults.outage_run)
    assert run.data.tags.get(Tag.ATTEMPTS, "1") == "1", "the trial went on through the outage, not retried"
    assert sorted(_logged(client, run)) == STEPS, "each evaluation logged once, those during the outage too"
    assert faults.logged_before_outage[-1] < STEPS[-2], "evaluations were still to come when the server stopped"


@pytest.mark.slow
def test_resume_finishes_selection_and_report_after_the_driver_is_killed(faults):
    record, client, runs = children(faults.output)
    assert client.get_run(record.parent_run_id).info.status == "FINISHED"
    after = {run.info.run_id: snapshot(client, run) for run in runs}
    assert after == faults.before_driver_kill, "nothing trained or logged again"
    rows = list(csv.DictReader((faults.output / "report.csv").open(encoding="utf-8")))
    selected = [row for row in rows if row["selected"] == "1" and row["language"] == "avg"]
    assert [row["target_task"] for row in selected] == ["panx"]
    best = max(run.data.metrics[SELECTION_KEY] for run in runs if run.data.tags.get(Tag.STAGE) == "target")
    assert float(selected[0]["english_dev"]) == pytest.approx(best, abs=0.01)
    assert "panx: selected intermediate task" in faults.resume_log
