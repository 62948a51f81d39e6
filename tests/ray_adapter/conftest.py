"""Fixtures of the Ray adapter's tests: one local Ray per test module, and a sqlite MLflow store."""

from __future__ import annotations

import pytest
import ray

from sweeper.tracking.runs import Tracker, default_tracking_uri


@pytest.fixture(scope="module")
def local_ray(request):
    """A local Ray of 2 CPUs for the test module, which it ships to Ray's workers by value (they
    cannot import tests: its functions run as tasks, trial actors and Train workers)."""
    ray.cloudpickle.register_pickle_by_value(request.module)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(request.module)


@pytest.fixture
def sweep(tmp_path):
    """A sqlite store with a parent run: (tracking URI, Tracker, experiment id, parent run id)."""
    uri = default_tracking_uri(tmp_path)
    tracker = Tracker(uri)
    experiment_id = tracker.experiment_id("sweep", tmp_path / "artifacts")
    parent = tracker.client.create_run(experiment_id).info.run_id
    return uri, tracker, experiment_id, parent
