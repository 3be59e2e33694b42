"""Size-invariant features of the candidates a `DispatchSimulator` offers: what the learned rule sees.

Raw quantities (durations, start times, remaining work) grow with the instance; a rule trained on
10 x 10 must read a 100 x 20 instance the same way. So every time is divided by the mean operation
duration, work by the mean work of a job or a machine, and counts by their maximum. Relative start
times are measured from the earliest candidate, not from time zero.

The two bound features are a one-step lookahead that static rules lack: a job's bound is when it
could finish if nothing else delayed it (its earliest start plus its remaining work). Dispatching
candidate j first delays every other candidate k on the machine to j's end, so the largest bound
among the conflict set becomes max(e_j + w_j, max over k != j of max(e_k, e_j + d_j) + w_k). The
maximum over k != j is taken from the two largest values, so a decision costs O(candidates).
"""

from __future__ import annotations

import numpy as np

from learned_pdr.blocking_simulator import BlockingSimulator
from learned_pdr.simulator import DispatchSimulator

CANDIDATE_FEATURES = (
    "duration",  # of the operation, in mean durations
    "remaining_work",  # of its job (this operation included), in mean job work
    "remaining_share",  # of its job's work still to do (1 at the start)
    "remaining_operations",  # of its job, over the most operations any job has
    "start_delay",  # how much later than the earliest candidate it could start, in mean durations
    "idle_created",  # gap it leaves on its machine before starting, in mean durations
    "machine_remaining_work",  # unscheduled work on its machine, in mean machine work
    "next_machine_remaining_work",  # the same for the machine of the job's following operation (0: none)
    "machine_queue",  # unfinished jobs whose next operation is on its machine, over the number of jobs
    "progress",  # share of all operations already scheduled (the same for every candidate)
    "bound_after",  # job bound of the conflict set if this one goes first, over the best such choice
    "bound_increase",  # how far that bound exceeds every unfinished job's current bound
)
# Blocking job shops add what blocking turns on: will the job, once done here, find its next machine
# taken (and so block this one), and how many jobs compete for that machine.
BLOCKING_FEATURES = (
    *CANDIDATE_FEATURES,
    "next_machine_held",  # 1 when another job is on the machine of the job's following operation
    "next_machine_queue",  # unfinished jobs whose next operation is on that machine, over the number of jobs
)


def features_for(variant: str) -> tuple[str, ...]:
    """The features a rule for `variant` ("classic" or "blocking") reads."""
    return BLOCKING_FEATURES if variant == "blocking" else CANDIDATE_FEATURES


class FeatureScales:
    """The per-instance constants that make features size-invariant (computed once per instance)."""

    def __init__(self, sim: DispatchSimulator):
        problem = sim.problem
        total = float(problem.durations.sum()) or 1.0
        self.duration = max(total / max(problem.n_operations, 1), 1e-9)
        self.job_work = max(total / problem.n_jobs, 1e-9)
        self.machine_work = max(total / problem.n_machines, 1e-9)
        self.operations = float(np.diff(problem.job_starts).max())
        self.next_machine = np.append(problem.machines[1:], -1).astype(np.int64)  # of each operation's successor
        self.next_machine[problem.is_last] = -1


def candidate_features(sim: DispatchSimulator | BlockingSimulator, jobs: np.ndarray,
                       scales: FeatureScales) -> np.ndarray:
    """One row per candidate job, one column per name in CANDIDATE_FEATURES, or in BLOCKING_FEATURES
    on the blocking simulator (float64)."""
    problem = sim.problem
    machine = sim.candidate_machine[jobs]
    earliest = sim.earliest[jobs]
    remaining_work = sim.remaining_work[jobs]
    following = scales.next_machine[sim.next_op[jobs]]
    following_work = np.where(following >= 0, sim.machine_remaining_work[np.maximum(following, 0)], 0)
    unfinished = sim.candidate_machine >= 0
    queues = np.bincount(sim.candidate_machine[unfinished], minlength=problem.n_machines)
    queue = queues[machine]
    after = bound_after(earliest, sim.candidate_duration[jobs], remaining_work)
    current = float(np.max(sim.earliest[unfinished] + sim.remaining_work[unfinished]))
    blocking = []
    if isinstance(sim, BlockingSimulator):
        has_next = following >= 0
        holder = sim.holder[np.maximum(following, 0)]
        blocking = [has_next & (holder >= 0) & (holder != jobs),  # the job itself will have left it
                    np.where(has_next, queues[np.maximum(following, 0)], 0) / problem.n_jobs]
    return np.column_stack([
        sim.candidate_duration[jobs] / scales.duration,
        remaining_work / scales.job_work,
        remaining_work / np.maximum(problem.job_work[jobs], 1),
        (sim.job_end[jobs] - sim.next_op[jobs]) / scales.operations,
        (earliest - earliest.min()) / scales.duration,
        np.maximum(earliest - sim.machine_ready[machine], 0) / scales.duration,
        sim.machine_remaining_work[machine] / scales.machine_work,
        following_work / scales.machine_work,
        queue / problem.n_jobs,
        np.full(len(jobs), sim.scheduled / problem.n_operations),
        (after - after.min()) / scales.duration,
        np.maximum(after - current, 0) / scales.duration,
        *blocking,
    ]).astype(np.float64)


def _max_of_others(values: np.ndarray) -> np.ndarray:
    """For each i, the maximum of `values` without element i (-inf when it is alone)."""
    if len(values) < 2:
        return np.full(len(values), -np.inf)
    top_two = np.argpartition(values, -2)[-2:]
    first, second = (top_two[1], top_two[0]) if values[top_two[1]] >= values[top_two[0]] else top_two
    others = np.full(len(values), values[first], dtype=np.float64)
    others[first] = values[second]
    return others


def bound_after(earliest: np.ndarray, duration: np.ndarray, remaining_work: np.ndarray) -> np.ndarray:
    """For each candidate j, the largest job bound of the conflict set once j is dispatched first."""
    end = earliest + duration
    own = (earliest + remaining_work).astype(np.float64)
    waiting = np.maximum(_max_of_others(own), end + _max_of_others(remaining_work.astype(np.float64)))
    return np.maximum(own, waiting)
