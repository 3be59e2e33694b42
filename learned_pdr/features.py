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

Feature sets are named, and weights store the names they were trained on, so weights trained on
an older set keep working after a set is added: `candidate_features` computes exactly the columns
a policy asks for. The `lookahead` set adds what happens after the decision: the job's following
operation (its length, and whether its machine will wait for it or it for the machine), how
close each machine is to being the bottleneck, and each job's slack against the current bound.
"""

from __future__ import annotations

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.learned_pdr.blocking_simulator import BlockingSimulator
from cpsched.learned_pdr.simulator import DispatchSimulator

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


LOOKAHEAD_FEATURES = (
    *CANDIDATE_FEATURES,
    "next_duration",  # of the job's following operation, in mean durations (0: none)
    "next_machine_slack",  # this operation's end minus when the following machine is free, in mean durations
    "machine_bottleneck",  # unscheduled work on its machine over the most on any machine
    "next_machine_bottleneck",  # the same for the following operation's machine (0: none)
    "job_slack",  # how far the job's own bound lies below the largest job bound, in mean durations
    "time_progress",  # its earliest start over the largest job bound
)
FEATURE_SETS = {"standard": CANDIDATE_FEATURES, "lookahead": LOOKAHEAD_FEATURES}
BLOCKING_FEATURE_SETS = {"standard": BLOCKING_FEATURES}


def features_for(variant: str, feature_set: str = "standard") -> tuple[str, ...]:
    """The features a rule for `variant` ("classic" or "blocking") reads in the named set."""
    sets = BLOCKING_FEATURE_SETS if variant == "blocking" else FEATURE_SETS
    if feature_set not in sets:
        raise InputError(f"unknown feature set '{feature_set}' for {variant} job shops; choose "
                         f"{' or '.join(sets)}")
    return sets[feature_set]


def known_feature_sets() -> tuple[tuple[str, ...], ...]:
    """Every feature tuple some weights may have been trained on."""
    return (*FEATURE_SETS.values(), *BLOCKING_FEATURE_SETS.values())


def trained_variant(features: tuple[str, ...]) -> str:
    """Which job shops weights trained on `features` are for."""
    return "blocking" if features in BLOCKING_FEATURE_SETS.values() else "classic"


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
        self.next_duration = np.append(problem.durations[1:], 0).astype(np.float64) / self.duration
        self.next_duration[problem.is_last] = 0.0


def candidate_features(sim: DispatchSimulator | BlockingSimulator, jobs: np.ndarray, scales: FeatureScales,
                       names: tuple[str, ...] = CANDIDATE_FEATURES) -> np.ndarray:
    """One row per candidate job, one column per name in `names` (float64)."""
    problem = sim.problem
    machine = sim.candidate_machine[jobs]
    earliest = sim.earliest[jobs]
    duration = sim.candidate_duration[jobs]
    remaining_work = sim.remaining_work[jobs]
    following = scales.next_machine[sim.next_op[jobs]]
    has_next = following >= 0
    following_safe = np.maximum(following, 0)
    following_work = np.where(has_next, sim.machine_remaining_work[following_safe], 0)
    unfinished = sim.candidate_machine >= 0
    queues = np.bincount(sim.candidate_machine[unfinished], minlength=problem.n_machines)
    after = bound_after(earliest, duration, remaining_work)
    own_bound = earliest + remaining_work
    current = float(np.max(sim.earliest[unfinished] + sim.remaining_work[unfinished]))
    most_machine_work = max(float(sim.machine_remaining_work.max()), 1.0)
    columns = {
        "duration": lambda: duration / scales.duration,
        "remaining_work": lambda: remaining_work / scales.job_work,
        "remaining_share": lambda: remaining_work / np.maximum(problem.job_work[jobs], 1),
        "remaining_operations": lambda: (sim.job_end[jobs] - sim.next_op[jobs]) / scales.operations,
        "start_delay": lambda: (earliest - earliest.min()) / scales.duration,
        "idle_created": lambda: np.maximum(earliest - sim.machine_ready[machine], 0) / scales.duration,
        "machine_remaining_work": lambda: sim.machine_remaining_work[machine] / scales.machine_work,
        "next_machine_remaining_work": lambda: following_work / scales.machine_work,
        "machine_queue": lambda: queues[machine] / problem.n_jobs,
        "progress": lambda: np.full(len(jobs), sim.scheduled / problem.n_operations),
        "bound_after": lambda: (after - after.min()) / scales.duration,
        "bound_increase": lambda: np.maximum(after - current, 0) / scales.duration,
        # blocking: the job itself will have left its next machine by then
        "next_machine_held": lambda: has_next & (sim.holder[following_safe] >= 0)
        & (sim.holder[following_safe] != jobs),
        "next_machine_queue": lambda: np.where(has_next, queues[following_safe], 0) / problem.n_jobs,
        "next_duration": lambda: scales.next_duration[sim.next_op[jobs]],
        "next_machine_slack": lambda: np.where(
            has_next, earliest + duration - sim.machine_ready[following_safe], 0) / scales.duration,
        "machine_bottleneck": lambda: sim.machine_remaining_work[machine] / most_machine_work,
        "next_machine_bottleneck": lambda: following_work / most_machine_work,
        "job_slack": lambda: (current - own_bound) / scales.duration,
        "time_progress": lambda: earliest / max(current, 1.0),
    }
    return np.column_stack([columns[name]() for name in names]).astype(np.float64)


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
