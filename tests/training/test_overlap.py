"""overlap_host_work: job k+1 is prepared and job k-1 finished in background threads while job k
runs on the device; results come back in job order, at most three jobs are held, no error is lost.

Overlap is proved with events, not timing: a background part that waits for a device part to start
can only finish if the two run at the same time (else the wait times out and the test fails)."""

import threading

import pytest

from sweeper.training.overlap import HOST_THREAD_PREFIX, overlap_host_work

WAIT_S = 30  # only reached when the parts do not overlap (the test then fails)
JOBS = range(4)


def test_each_job_is_prepared_and_finished_while_its_neighbours_run_on_the_device():
    on_device = {job: threading.Event() for job in JOBS}
    prepared, finished, device_order = [], [], []
    threads: dict[str, set[str]] = {"prepare": set(), "device": set(), "finish": set()}

    def prepare(job: int) -> str:
        threads["prepare"].add(threading.current_thread().name)
        if job > 0:
            assert on_device[job - 1].wait(WAIT_S), "job k+1 was not prepared while job k ran on the device"
        prepared.append(job)
        return f"inputs {job}"

    def run_on_device(job: int, inputs: str):
        threads["device"].add(threading.current_thread().name)
        assert inputs == f"inputs {job}"
        on_device[job].set()
        device_order.append(job)
        assert set(finished) >= set(range(job - 1)), "a job older than the previous one is still finishing"
        assert set(prepared) <= set(range(job + 2)), "a job was prepared more than one ahead"

        def finish() -> str:
            threads["finish"].add(threading.current_thread().name)
            if job + 1 in on_device:
                assert on_device[job + 1].wait(WAIT_S), "job k was not finished while job k+1 ran on the device"
            finished.append(job)
            return f"result {job}"

        return finish

    assert list(overlap_host_work(JOBS, prepare, run_on_device)) == [(job, f"result {job}") for job in JOBS]
    assert prepared == device_order == finished == list(JOBS)
    assert threads["device"] == {threading.current_thread().name}
    for part in ("prepare", "finish"):
        assert len(threads[part]) == 1 and threads[part].pop().startswith(f"{HOST_THREAD_PREFIX}-{part}")


def test_no_jobs_yield_nothing():
    assert list(overlap_host_work([], lambda job: job, lambda job, inputs: lambda: job)) == []


def test_a_finishing_error_surfaces_in_job_order_and_stops_later_jobs():
    devices_run: list[int] = []

    def run_on_device(job: int, inputs: int):
        devices_run.append(job)

        def finish() -> int:
            if job == 1:
                raise ValueError("scoring failed for job 1")
            return job

        return finish

    results = overlap_host_work(range(5), lambda job: job, run_on_device)
    assert next(results) == (0, 0)
    with pytest.raises(ValueError, match="scoring failed for job 1"):
        next(results)
    assert devices_run == [0, 1, 2], "job 2 ran on the device while job 1 was scored; no job after it"


def test_a_prepare_error_surfaces_when_its_job_is_due_on_the_device():
    devices_run: list[int] = []

    def prepare(job: int) -> int:
        if job == 2:
            raise FileNotFoundError("dev-xx.tsv")
        return job

    def run_on_device(job: int, inputs: int):
        devices_run.append(job)
        return lambda: job

    with pytest.raises(FileNotFoundError, match="dev-xx.tsv"):
        list(overlap_host_work(range(4), prepare, run_on_device))
    assert devices_run == [0, 1]


def test_a_device_error_propagates_after_the_background_work_in_flight_has_ended():
    device_failing, finish_done = threading.Event(), threading.Event()

    def run_on_device(job: int, inputs: int):
        if job == 1:
            device_failing.set()
            raise RuntimeError("CUDA out of memory in job 1")

        def finish() -> int:
            assert device_failing.wait(WAIT_S)  # still running when job 1's device part fails
            finish_done.set()
            return job

        return finish

    with pytest.raises(RuntimeError, match="CUDA out of memory in job 1"):
        list(overlap_host_work(range(3), lambda job: job, run_on_device))
    assert finish_done.is_set(), "job 0's finishing work was waited for, not abandoned"
