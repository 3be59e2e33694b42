"""Giffler-Thompson dispatching: builds an active schedule one operation at a time.

At each step the operation that could finish first fixes a machine; among the jobs whose next
operation could start on that machine before then (the conflict set), a priority rule chooses.
State is a few numpy vectors over jobs, so a step costs O(n_jobs) vector work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from instances.jobshop import JobShop, Schedule

# A rule maps (problem, candidate jobs, their next operations, their earliest starts,
# remaining work per candidate job) to a key per candidate: the smallest key is dispatched.
Rule = Callable[[JobShop, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]

RULES: dict[str, Rule] = {
    "spt": lambda p, jobs, ops, est, work: p.durations[ops],
    "lpt": lambda p, jobs, ops, est, work: -p.durations[ops],
    "mwkr": lambda p, jobs, ops, est, work: -work,
    "lwkr": lambda p, jobs, ops, est, work: work,
    "mopnr": lambda p, jobs, ops, est, work: ops - p.job_starts[jobs + 1],
    "fifo": lambda p, jobs, ops, est, work: est,
}


def dispatch(problem: JobShop, rule: str = "mwkr", non_delay: bool = False) -> Schedule:
    """A schedule built by the named priority rule (ties go to the lower job index).

    Active (Giffler-Thompson) by default: the candidates are the operations that could start
    before the earliest possible completion on its machine. `non_delay` keeps only those that can
    start at the earliest possible start time, so no machine waits while it could work."""
    if rule not in RULES:
        raise ValueError(f"unknown rule '{rule}'; choose one of {', '.join(RULES)}")
    key = RULES[rule]
    next_op = problem.job_starts[:-1].copy()
    job_end = problem.job_starts[1:]
    job_ready = np.zeros(problem.n_jobs, dtype=np.int64)
    machine_ready = np.zeros(problem.n_machines, dtype=np.int64)
    remaining_work = problem.job_work.copy()
    starts = np.zeros(problem.n_operations, dtype=np.int64)
    active = np.flatnonzero(next_op < job_end)
    while active.size:
        ops = next_op[active]
        machines = problem.machines[ops]
        earliest = np.maximum(job_ready[active], machine_ready[machines])
        finish = earliest + problem.durations[ops]
        first = np.argmin(earliest) if non_delay else np.argmin(finish)
        machine = machines[first]
        cutoff = earliest[first] + 1 if non_delay else finish[first]
        conflict = np.flatnonzero((machines == machine) & (earliest < cutoff))
        if conflict.size == 0:  # a zero-duration operation finishing at its start
            conflict = np.array([first])
        chosen = conflict[np.argmin(key(problem, active[conflict], ops[conflict], earliest[conflict],
                                        remaining_work[active[conflict]]))]
        job, op = active[chosen], ops[chosen]
        start = earliest[chosen]
        starts[op] = start
        end = start + problem.durations[op]
        job_ready[job] = end
        if problem.durations[op] > 0:
            machine_ready[machine] = end
        remaining_work[job] -= problem.durations[op]
        next_op[job] += 1
        if next_op[job] == job_end[job]:
            active = active[active != job]
    return Schedule(starts)
