"""The job shop as a CP-SAT model: one interval per operation, a NoOverlap per machine,
precedences along each job, and the makespan as the objective.

Options choose between the textbook model (what other toolkits ship) and ours: a horizon from a
known schedule, start domains cut by heads and tails, and an optional cumulative relaxation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from instances.jobshop import JobShop, Schedule


@dataclass(frozen=True)
class JobShopModelOptions:
    """How to encode. The defaults are the textbook model."""

    horizon: int | None = None  # an upper bound on the makespan; None: the sum of all durations
    tighten_domains: bool = False  # start of each op within [head, horizon - duration - tail]
    cumulative_relaxation: bool = False  # all operations on a cumulative of capacity n_machines


@dataclass
class JobShopModel:
    """A built model and where its variables are, to hint it and to decode answers."""

    model: cp_model.CpModel
    start_indices: np.ndarray  # proto index of each operation's start variable
    makespan_index: int
    horizon: int

    def decode(self, values: np.ndarray) -> Schedule:
        """The schedule in a full vector of variable values (as the solver's response holds it)."""
        return Schedule(np.asarray(values, dtype=np.int64)[self.start_indices])


def build(
    problem: JobShop, hint: Schedule | None = None, options: JobShopModelOptions | None = None
) -> JobShopModel:
    """Encode `problem`; with `hint`, every start and the makespan are hinted (a complete hint)."""
    options = options or JobShopModelOptions()
    model = cp_model.CpModel()
    model.name = problem.name
    durations = problem.durations.tolist()
    horizon = problem.sum_of_durations() if options.horizon is None else int(options.horizon)
    if options.tighten_domains:
        lows = problem.heads.tolist()
        highs = (horizon - problem.durations - problem.tails).tolist()
    else:
        lows = [0] * problem.n_operations
        highs = [horizon] * problem.n_operations

    starts = [model.new_int_var(lo, hi, "") for lo, hi in zip(lows, highs)]
    intervals = [model.new_fixed_size_interval_var(s, d, "") for s, d in zip(starts, durations)]
    is_last = problem.is_last.tolist()
    for op in range(problem.n_operations - 1):
        if not is_last[op]:
            model.add(starts[op + 1] >= starts[op] + durations[op])

    machine_of = problem.machines.tolist()
    per_machine: list[list] = [[] for _ in range(problem.n_machines)]
    for op, machine in enumerate(machine_of):
        per_machine[machine].append(intervals[op])
    for machine_intervals in per_machine:
        if len(machine_intervals) > 1:
            model.add_no_overlap(machine_intervals)
    if options.cumulative_relaxation and problem.n_machines > 1:
        model.add_cumulative(intervals, [1] * len(intervals), problem.n_machines)

    makespan = model.new_int_var(problem.lower_bound(), max(horizon, problem.lower_bound()), "makespan")
    for op in np.flatnonzero(problem.is_last).tolist():
        model.add(makespan >= starts[op] + durations[op])
    model.minimize(makespan)

    built = JobShopModel(
        model=model,
        start_indices=np.array([s.index for s in starts], dtype=np.int64),
        makespan_index=makespan.index,
        horizon=horizon,
    )
    if hint is not None:
        hint_schedule(built, problem, hint)
    return built


def hint_schedule(built: JobShopModel, problem: JobShop, schedule: Schedule) -> None:
    """Hint every start variable and the makespan, so that the hint is complete and feasible."""
    proto = built.model.proto
    built.model.clear_hints()
    starts = np.asarray(schedule.starts, dtype=np.int64)
    makespan = int((starts + problem.durations).max()) if problem.n_operations else 0
    proto.solution_hint.vars.extend(built.start_indices.tolist() + [built.makespan_index])
    proto.solution_hint.values.extend(starts.tolist() + [makespan])
