"""A job shop read backwards, and its schedules mirrored back.

Reversing every job's operations gives an instance whose schedules, mirrored in time, are schedules
of the original with the same makespan. A constructive rule run on both gets two different
schedules for the price of two runs (bidirectional list scheduling): the learned rule's backward
schedule is the shorter on 45 of the 80 Taillard and 39 of the 80 Demirkol instances, and keeping
the shorter takes its mean gap on Taillard from 14.0% to 11.9% (docs/notes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cpsched.instances.jobshop.problem import JobShop, Schedule


def reversed_operations(problem: JobShop) -> np.ndarray:
    """For each operation, its index in the reversed instance (an involution: the same map takes
    the reversed instance's operations back)."""
    job = problem.job_of
    return problem.job_starts[job] + problem.job_starts[job + 1] - 1 - np.arange(problem.n_operations)


def reversed_jobshop(problem: JobShop) -> JobShop:
    """`problem` with every job's operations in reverse order (same jobs, machines and durations)."""
    order = reversed_operations(problem)
    return JobShop(f"{problem.name} reversed", problem.n_machines, problem.machines[order].copy(),
                   problem.durations[order].copy(), problem.job_starts.copy())


def mirrored(problem: JobShop, reversed_starts: np.ndarray) -> Schedule:
    """The schedule of `problem` that a schedule of `reversed_jobshop(problem)` (its starts) gives:
    each operation ends when its mirror image starts, counted back from the makespan, and then
    starts as early as its job and machine predecessors allow (never later, so never longer)."""
    order = reversed_operations(problem)
    mirror_starts = np.asarray(reversed_starts, dtype=np.int64)[order]
    makespan = int((mirror_starts + problem.durations).max())
    return Schedule(left_justified(problem, makespan - mirror_starts - problem.durations))


def left_justified(problem: JobShop, starts: np.ndarray) -> np.ndarray:
    """The semi-active schedule with the same machine sequences as the feasible `starts`: each
    operation, in order of start, begins when both its job and its machine are free (an operation
    of no duration only waits for its job, as `evaluate` asks)."""
    order = np.lexsort((np.arange(problem.n_operations), starts))  # ties: a job's own order
    job_of, machines, durations = problem.job_of.tolist(), problem.machines.tolist(), problem.durations.tolist()
    job_free = [0] * problem.n_jobs
    machine_free = [0] * problem.n_machines
    shifted = np.empty(problem.n_operations, dtype=np.int64)
    for op in order.tolist():
        job, machine, duration = job_of[op], machines[op], durations[op]
        if duration == 0:  # an operation of no duration holds no machine, nor waits for one
            shifted[op] = job_free[job]
            continue
        start = max(job_free[job], machine_free[machine])
        shifted[op] = start
        job_free[job] = machine_free[machine] = start + duration
    return shifted


def shorter_both_ways(problem: JobShop, build: Callable[[JobShop], Schedule]) -> Schedule:
    """The shorter of the schedules `build` makes for `problem` and, mirrored, for its reversal."""
    forward = build(problem)
    backward = mirrored(problem, build(reversed_jobshop(problem)).starts)
    return min((forward, backward), key=lambda schedule: problem.makespan_of(schedule.starts))
