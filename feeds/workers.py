"""Work spread over every core: forked processes, results in order, a clean stop on an early exit."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


def in_order(work: Callable[[Job], Result], jobs: Sequence[Job], processes: int) -> Iterator[Result]:
    """`work(job)` for every job, made in `processes` forked processes, yielded in order.

    The processes are forked, so they share what the caller set up before the first result is
    asked for.  A consumer that stops early (a full disk while writing what is made, an
    interrupt) cancels every job not yet started and waits only for those under way.
    `multiprocessing.Pool` is not used for this: its terminate() deadlocks when a worker is
    part-way through sending a result larger than a pipe holds, as the results here are.
    """
    executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    try:
        yield from executor.map(work, jobs)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
