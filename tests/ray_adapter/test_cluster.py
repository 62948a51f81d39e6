"""Tune's pending-trial limit follows the phase's size (sweeper.ray_adapter.cluster)."""

import os

from sweeper.ray_adapter.cluster import PENDING_TRIALS_ENV, pending_trials_limit


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
