"""A trial worker's CPUs: torch threads and DataLoader workers from ``resources.cpus_per_worker``."""

import pytest

from sweeper.training.trainer import MAX_DATALOADER_WORKERS, dataloader_workers, host_threads


@pytest.mark.parametrize(("cpus", "threads"), [(0.25, 1), (1, 1), (1.5, 1), (2, 2), (7.9, 7), (16, 16)])
def test_threads_are_the_whole_cpus_a_worker_was_given(cpus, threads):
    assert host_threads(cpus) == threads


def test_dataloader_workers_use_spare_cpus_on_a_gpu_only():
    assert [dataloader_workers(threads, on_gpu=True) for threads in (1, 2, 3, 8)] == [0, 1, 2, MAX_DATALOADER_WORKERS]
    assert [dataloader_workers(threads, on_gpu=False) for threads in (1, 2, 8)] == [0, 0, 0]
