"""Host work overlapped with the device: while the GPU runs one split's inference, one background
thread reads the next split's inputs and another decodes, scores and writes the previous split's
predictions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Job = TypeVar("Job")
Inputs = TypeVar("Inputs")
Result = TypeVar("Result")

#: Name prefix of the two background threads (``-prepare``, ``-finish``), as thread listings and
#: ``py-spy dump`` show them.
HOST_THREAD_PREFIX = "sweeper-host-work"


def overlap_host_work(
    jobs: Iterable[Job],
    prepare: Callable[[Job], Inputs],
    run_on_device: Callable[[Job, Inputs], Callable[[], Result]],
) -> Iterator[tuple[Job, Result]]:
    """Yield ``(job, result)`` for each of ``jobs``, in order, running each job in three parts:

    1. ``prepare(job)``: host work before the device (read the examples and their features), in a
       background thread, one job ahead: job k+1 is prepared while job k runs on the device;
    2. ``run_on_device(job, inputs)``: the model's inference, in the calling thread, one job after
       the other; it returns the job's finishing work, a callable;
    3. the finishing work (decode, score, write), in a second background thread while job k+1 runs
       on the device; its return value is the job's ``result``.

    So the device waits for neither the reading of the next job nor the scoring of the previous
    one. At most three jobs are held at once (one prepared, one on the device, one finishing). The
    background parts must not touch the model. Most of a forward pass runs with the GIL released
    (torch operators, CUDA kernels), so Python-heavy host work (TSV parsing, QA span search,
    seqeval) proceeds while the device computes.

    Raises:
        Whatever a part raises, in job order: job k's ``prepare`` error when job k is due on the
        device, its finishing error when its result is due (after job k+1's device part); a
        device error propagates once the background work in flight has ended.
    """
    jobs = list(jobs)
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{HOST_THREAD_PREFIX}-prepare") as preparing,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{HOST_THREAD_PREFIX}-finish") as finishing,
    ):
        prepared = preparing.submit(prepare, jobs[0]) if jobs else None
        finishing_job: tuple[Job, Future[Result]] | None = None
        for index, job in enumerate(jobs):
            inputs = prepared.result()
            if index + 1 < len(jobs):
                prepared = preparing.submit(prepare, jobs[index + 1])
            finish = run_on_device(job, inputs)
            if finishing_job is not None:
                yield finishing_job[0], finishing_job[1].result()
            finishing_job = job, finishing.submit(finish)
        if finishing_job is not None:
            yield finishing_job[0], finishing_job[1].result()
