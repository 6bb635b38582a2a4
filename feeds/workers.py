"""Work spread out: over every core (forked processes), or over many requests that wait on the
network (threads); results in order, a clean stop on an early exit."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

Job = TypeVar("Job")
Result = TypeVar("Result")
Progress = Callable[[int], None]  # told how many more pieces of work are done


def in_order(work: Callable[[Job], Result], jobs: Sequence[Job], processes: int) -> Iterator[Result]:
    """`work(job)` for every job, made in `processes` forked processes, yielded in order.

    The processes are forked, so they share what the caller set up before the first result is
    asked for.  A consumer that stops early (a full disk while writing what is made, an
    interrupt) cancels every job not yet started and waits only for those under way.
    `multiprocessing.Pool` is not used for this: its terminate() deadlocks when a worker is
    part-way through sending a result larger than a pipe holds, as the results here are.
    Should the caller be killed, its workers end within a second instead of waiting forever.
    """
    import multiprocessing  # here: a build or a server that forks nothing need not load them
    from concurrent.futures import ProcessPoolExecutor

    executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                                   initializer=end_with, initargs=(os.getpid(),))
    try:
        yield from executor.map(work, jobs)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


ORPHAN_CHECK = 0.5  # seconds between a worker's looks at whether its caller still runs


def end_with(caller: int) -> None:
    """In a worker: end when the process that started it is gone (killed, so it could not say)."""

    def watch() -> None:
        while os.getppid() == caller:
            time.sleep(ORPHAN_CHECK)
        os._exit(1)

    threading.Thread(target=watch, name="feeds-orphan-check", daemon=True).start()


def each(pool: ThreadPoolExecutor, work: Callable[[Job], Result], items: Sequence[Job],
         progress: Progress | None = None) -> list[Result]:
    """`work(item)` for every item, at once in `pool`, in order; the first error stops what has
    not started (a missing bucket fails one request, not thirty thousand)."""
    futures = [pool.submit(work, item) for item in items]
    try:
        results = []
        for future in futures:
            results.append(future.result())
            if progress is not None:
                progress(1)
        return results
    except BaseException:
        for future in futures:
            future.cancel()
        raise
