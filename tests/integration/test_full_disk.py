"""A full disk under the checkpoints (issue 16): the smoke sweep, shrunk to one target trial, with
Ray storage (``storage.storage_path``, where every evaluation's checkpoint goes) on a 16 MiB tmpfs
that the first checkpoint overflows. The trial fails after its retry, and Tune's own files on that
disk are cut short. The sweep must end with one clear line (exit 2, no traceback) that names the
full folder and what to do; once the disk has room (the tmpfs remounted larger), the sweep run
again over the same stage cache finishes. Mounting needs root (CAP_SYS_ADMIN): elsewhere the test
is skipped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _sweep_cli import SMOKE
from _sweep_processes import children, finish, kill_tree, sweeper

from sweeper.tracking.schema import Outcome, Tag

SHRUNK = [
    "intermediate_tasks=[none]",
    "target_tasks=[panx]",
    "param_space.learning_rate=[0.0001]",
    "param_space.seed=[1]",
    "scheduler.type=fifo",
    "zero_shot.languages=[de,en]",
    "zero_shot.max_examples_per_language=8",
    "resources.max_concurrent_trials=1",
]


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_fails_the_trial_clearly_and_resume_finishes_once_there_is_room(tmp_path, data_dir, tiny_dir, small_disk):
    output, log = tmp_path / "out", tmp_path / "sweep.log"
    storage = small_disk / "ray"
    common = [f"storage.storage_path={storage}", f"storage.stage_cache_dir={tmp_path / 'stage_cache'}"]
    driver = sweeper(log, "run", str(SMOKE), *SHRUNK, *common, "--data-dir", str(data_dir), "--output", str(output))
    try:
        driver.wait(timeout=1200)
    finally:
        kill_tree(driver)
    printed = log.read_text(encoding="utf-8")
    assert driver.returncode == 2, printed[-5000:]
    (line,) = [line for line in printed.splitlines() if line.startswith("error: ")]
    assert "full disk" in line or "No space left on device" in line, line
    assert f"sweeper resume {output}" in line, line
    after = printed.split(line)[-1].splitlines()
    assert not [text for text in after if "Traceback" in text and "pid=" not in text], (
        "no driver traceback (Ray's worker logs may follow)"
    )

    subprocess.run(["mount", "-o", "remount,size=2g", str(small_disk)], check=True)
    again, again_log = tmp_path / "again", tmp_path / "again.log"
    finish(
        sweeper(again_log, "run", str(SMOKE), *SHRUNK, *common, "--data-dir", str(data_dir), "--output", str(again)), again_log
    )
    record, client, runs = children(again)
    assert client.get_run(record.parent_run_id).info.status == "FINISHED"
    (target,) = [run for run in runs if run.data.tags.get(Tag.STAGE) == "target"]
    assert target.info.status == "FINISHED" and target.data.tags[Tag.OUTCOME] == Outcome.COMPLETED, target.data.tags
