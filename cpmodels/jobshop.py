"""The job shop as a CP-SAT model: one interval per operation, a NoOverlap per machine,
precedences along each job, and the makespan as the objective.

Options choose between the textbook model (what other toolkits ship) and ours: a horizon from a
known schedule, start domains cut by heads and tails, and an optional cumulative relaxation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from ortools.sat.python import cp_model

from cpsched.instances.jobshop.problem import JobShop, Schedule


@dataclass(frozen=True)
class JobShopModelOptions:
    """How to encode. The defaults are the textbook model."""

    horizon: int | None = None  # an upper bound on the makespan; None: the sum of all durations
    tighten_domains: bool = False  # start of each op within [head, horizon - duration - tail]
    cumulative_relaxation: bool = False  # all operations on a cumulative of capacity n_machines

    def as_kwargs(self) -> dict:
        return asdict(self)


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

    def values_of(self, problem: JobShop, schedule: Schedule) -> np.ndarray:
        """A full variable vector for `schedule`: every start, and its makespan."""
        values = np.zeros(len(self.model.proto.variables), dtype=np.int64)
        values[self.start_indices] = schedule.starts
        values[self.makespan_index] = problem.makespan_of(schedule.starts)
        return values


def build(
    problem: JobShop,
    hint: Schedule | None = None,
    *,
    horizon: int | None = None,
    tighten_domains: bool = False,
    cumulative_relaxation: bool = False,
) -> JobShopModel:
    """Encode `problem` (options as in `JobShopModelOptions`).

    With `hint`, every start and the makespan are hinted: a complete hint. Zero-duration operations
    stay out of the NoOverlap (CP-SAT would let them block a machine; `evaluate` does not)."""
    model = cp_model.CpModel()
    model.name = problem.name
    durations = problem.durations.tolist()
    horizon = problem.sum_of_durations() if horizon is None else int(horizon)
    if tighten_domains:
        lows = problem.heads.tolist()
        highs = (horizon - problem.durations - problem.tails).tolist()
    else:
        lows = [0] * problem.n_operations
        highs = [horizon] * problem.n_operations

    starts = [model.new_int_var(lo, hi, "") for lo, hi in zip(lows, highs)]
    is_last = problem.is_last.tolist()
    for op in range(problem.n_operations - 1):
        if not is_last[op]:
            model.add(starts[op + 1] >= starts[op] + durations[op])

    busy = np.flatnonzero(problem.durations > 0).tolist()
    intervals = {op: model.new_fixed_size_interval_var(starts[op], durations[op], "") for op in busy}
    per_machine: list[list] = [[] for _ in range(problem.n_machines)]
    machine_of = problem.machines.tolist()
    for op in busy:
        per_machine[machine_of[op]].append(intervals[op])
    for machine_intervals in per_machine:
        if len(machine_intervals) > 1:
            model.add_no_overlap(machine_intervals)
    if cumulative_relaxation and problem.n_machines > 1:
        model.add_cumulative(list(intervals.values()), [1] * len(intervals), problem.n_machines)

    lower_bound = problem.lower_bound
    makespan = model.new_int_var(lower_bound, max(horizon, lower_bound), "makespan")
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
    """Hint every variable (each start and the makespan), so that the hint is complete."""
    built.model.clear_hints()
    values = built.values_of(problem, schedule)
    hint = built.model.proto.solution_hint
    hint.vars.extend(range(len(values)))
    hint.values.extend(values.tolist())
