"""Tune's pending-trial limit follows the phase's size, and every Train controller gets the
sweep's start timeout and poll interval (sweeper.ray_adapter.cluster)."""

import os
from pathlib import Path

from sweeper.config import load_config
from sweeper.ray_adapter.cluster import (
    PENDING_TRIALS_ENV,
    PRINT_PATCH_ENV,
    TRAIN_POLL_INTERVAL_ENV,
    WORKER_GROUP_START_TIMEOUT_ENV,
    pending_trials_limit,
    train_environment,
)

ROOT = Path(__file__).resolve().parents[2]


def test_pending_trials_limit_is_the_phase_concurrency_and_is_restored(monkeypatch):
    monkeypatch.delenv(PENDING_TRIALS_ENV, raising=False)
    with pending_trials_limit(420, 500):
        assert os.environ[PENDING_TRIALS_ENV] == "420", "every trial of the grid, beyond Tune's 200"
    assert PENDING_TRIALS_ENV not in os.environ
    with pending_trials_limit(420, 16):
        assert os.environ[PENDING_TRIALS_ENV] == "16", "no more than may run at once"
    with pending_trials_limit(0, 2):
        assert os.environ[PENDING_TRIALS_ENV] == "1"
    monkeypatch.setenv(PENDING_TRIALS_ENV, "7")
    with pending_trials_limit(420, 500):
        assert os.environ[PENDING_TRIALS_ENV] == "7", "the user's own setting wins"
    assert os.environ[PENDING_TRIALS_ENV] == "7"


def test_train_controllers_poll_every_half_second_unless_the_environment_says_otherwise(monkeypatch):
    config = load_config(ROOT / "search_spaces" / "smoke.yaml")
    monkeypatch.delenv(TRAIN_POLL_INTERVAL_ENV, raising=False)
    monkeypatch.delenv(PRINT_PATCH_ENV, raising=False)
    assert train_environment(config) == {
        WORKER_GROUP_START_TIMEOUT_ENV: str(config.resources.worker_group_start_timeout_s),
        TRAIN_POLL_INTERVAL_ENV: "0.5",
        PRINT_PATCH_ENV: "0",
    }, "not Ray's 2 s: each checkpoint the trainer waits for, and each trial's start and end, wait for a poll"
    monkeypatch.setenv(TRAIN_POLL_INTERVAL_ENV, "0.1")
    assert train_environment(config)[TRAIN_POLL_INTERVAL_ENV] == "0.1", "the user's own setting wins"
