"""A full disk under the checkpoints (issue 16): the smoke sweep, shrunk to one target trial, with
Ray storage (``storage.storage_path``, where every evaluation's checkpoint goes) on a small tmpfs.
Mounting needs root (CAP_SYS_ADMIN): elsewhere these tests are skipped.

- A disk too small for one checkpoint is refused before anything is written (exit 2, one line).
- A disk that fills up while the trial runs (another program's file takes the space once the sweep
  has started) fails the trial after its retry. The sweep ends with one clear line (exit 2, no
  traceback) that names the full folder and what to do; once the file is gone, ``sweeper resume``
  finishes the sweep in the same output folder and MLflow runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _sweep_cli import ONE_TRIAL, SMOKE
from _sweep_processes import SWEEP_TIMEOUT_S, children, finish, kill_tree, sweeper

from sweeper.tracking.schema import Outcome, Tag
from sweeper.tracking.sweep_record import SWEEP_FILE


def _mount(folder: Path, size: str) -> Path:
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    return folder


@pytest.fixture
def tiny_disk(tmp_path) -> Iterator[Path]:
    """16 MiB: less than one checkpoint of the tiny model (3 × 32 MB)."""
    yield _mount(tmp_path / "tiny-disk", "16m")
    subprocess.run(["umount", "--lazy", str(tmp_path / "tiny-disk")], check=True)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """512 MiB: room for the trial's checkpoints, until something else takes it."""
    yield _mount(tmp_path / "small-disk", "512m")
    subprocess.run(["umount", "--lazy", str(tmp_path / "small-disk")], check=True)


def _error_line(printed: str) -> str:
    (line,) = [line for line in printed.splitlines() if line.startswith("error: ")]
    return line


def test_a_disk_too_small_for_one_checkpoint_is_refused_before_anything_is_written(tmp_path, data_dir, tiny_dir, tiny_disk):
    output, log = tmp_path / "out", tmp_path / "sweep.log"
    common = [f"storage.storage_path={tiny_disk / 'ray'}", f"storage.stage_cache_dir={tmp_path / 'stage_cache'}"]
    driver = sweeper(log, "run", str(SMOKE), *ONE_TRIAL, *common, "--data-dir", str(data_dir), "--output", str(output))
    try:
        driver.wait(timeout=300)
    finally:
        kill_tree(driver)
    printed = log.read_text(encoding="utf-8")
    assert driver.returncode == 2, printed[-5000:]
    line = _error_line(printed)
    assert "not enough free disk space" in line and str(tiny_disk / "ray") in line and "Ray storage" in line, line
    assert "Traceback" not in printed
    assert not output.exists() and not (tmp_path / "stage_cache").exists() and list(tiny_disk.iterdir()) == []


def _fill_once_started(driver: subprocess.Popen, output: Path, disk: Path) -> Path:
    """Once the sweep has written ``sweep.json`` (after every check, before Ray Tune starts its
    trial), take all but 1 MiB of ``disk`` with one file, and return it."""
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    while not (output / SWEEP_FILE).exists():
        assert driver.poll() is None, f"the sweep ended (exit {driver.returncode}) before it started its trials"
        assert time.monotonic() < deadline, "the sweep did not start within the timeout"
        time.sleep(0.05)
    filler = disk / "other-program.bin"
    with filler.open("wb") as file:
        os.posix_fallocate(file.fileno(), 0, shutil.disk_usage(disk).free - 2**20)
    return filler


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_trial_fails_clearly_and_resume_finishes_once_there_is_room(
    tmp_path, data_dir, tiny_dir, small_disk
):
    output, log = tmp_path / "out", tmp_path / "sweep.log"
    common = [f"storage.storage_path={small_disk / 'ray'}", f"storage.stage_cache_dir={tmp_path / 'stage_cache'}"]
    driver = sweeper(log, "run", str(SMOKE), *ONE_TRIAL, *common, "--data-dir", str(data_dir), "--output", str(output))
    try:
        filler = _fill_once_started(driver, output, small_disk)
        driver.wait(timeout=SWEEP_TIMEOUT_S)
    finally:
        kill_tree(driver)
    printed = log.read_text(encoding="utf-8")
    assert driver.returncode == 2, printed[-5000:]
    line = _error_line(printed)
    assert "full disk" in line and str(small_disk / "ray") in line, line
    assert f"sweeper resume {output}" in line, line
    after = printed.split(line)[-1].splitlines()
    assert not [text for text in after if "Traceback" in text and "pid=" not in text], (
        "no driver traceback (Ray's worker logs may follow)"
    )

    filler.unlink()
    resumed_log = tmp_path / "resume.log"
    finish(sweeper(resumed_log, "resume", str(output)), resumed_log)
    record, client, runs = children(output)
    assert client.get_run(record.parent_run_id).info.status == "FINISHED"
    (target,) = [run for run in runs if run.data.tags.get(Tag.STAGE) == "target"]
    assert target.info.status == "FINISHED" and target.data.tags[Tag.OUTCOME] == Outcome.COMPLETED, target.data.tags
    assert json.loads((output / "failures.json").read_text(encoding="utf-8")) == []
