"""Worker processes for training: an update's instances are independent, so their gradients can be
computed side by side and summed in a fixed order (the same weights whatever the process count).

The workers are spawned (numpy's BLAS threads and fork do not mix) with one BLAS thread each: the
network's matrices are small, and BLAS threads of two processes on two cores spin against each
other (a profile measured 370 ms for a product that takes under 10 ms on one thread).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import Pool
from typing import TypeVar

from threadpoolctl import threadpool_limits

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

Task = TypeVar("Task")
Outcome = TypeVar("Outcome")


@contextlib.contextmanager
def worker_pool(processes: int) -> Iterator[Pool | None]:
    """`processes` spawned workers with one BLAS thread each (unless the caller's environment says
    otherwise), or None for 1: the work then runs here."""
    if processes <= 1:
        yield None
        return
    unset = [name for name in BLAS_THREAD_VARIABLES if name not in os.environ]
    os.environ.update({name: "1" for name in unset})  # the children read it as they start
    try:
        pool = multiprocessing.get_context("spawn").Pool(processes)
    finally:
        for name in unset:
            del os.environ[name]
    with pool:
        yield pool


def one_blas_thread():
    """Run the enclosed work on one BLAS thread, as the workers do: a product summed by two threads
    may round differently, and the weights must not depend on how many processes computed them."""
    return threadpool_limits(limits=1, user_api="blas")


def map_in_order(pool: Pool | None, function: Callable[[Task], Outcome], tasks: Iterable[Task]) -> list[Outcome]:
    """`function` over `tasks`, on the pool's workers (one task at a time each) or here; results in
    the order of `tasks`."""
    if pool is None:
        return [function(task) for task in tasks]
    return pool.map(function, list(tasks), chunksize=1)
