"""Job shop variants as a CP-SAT model: an occupation interval per operation (from its start to its
job's next start when blocking) with one NoOverlap per machine, processing intervals against the
machines' down windows, frozen starts fixed.

NoOverlap of half-open occupations allows a swap exactly (a cycle of jobs all moving at one
instant). Without swaps, every move gets a priority within its instant, and each occupation runs on
a finer clock, time x N + priority, ending one tick after its leaving move's priority: a machine
can then only be entered after its occupant has left in that order, and a cycle of moves at one
instant would need priorities that rise all the way round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from cpsched.instances.jobshop.problem import Schedule
from cpsched.instances.jobshop.variant import JobShopVariant

FROZEN = "frozen"


@dataclass
class VariantModel:
    model: cp_model.CpModel
    starts: list[cp_model.IntVar]
    makespan: cp_model.IntVar

    def decode(self, values: np.ndarray) -> Schedule:
        return Schedule(np.array([values[s.Index()] for s in self.starts], dtype=np.int64))

    def hint(self, schedule: Schedule) -> None:
        """Hint the starts that are free (frozen ones are constants)."""
        self.model.clear_hints()
        for var, start in zip(self.starts, schedule.starts.tolist()):
            if self.model.proto.variables[var.Index()].name != FROZEN:
                self.model.add_hint(var, int(start))


def build(problem: JobShopVariant, horizon: int, hint: Schedule | None = None) -> VariantModel:
    """Every start in [now, horizon] (frozen ones fixed); minimise the makespan."""
    shop = problem.shop
    model = cp_model.CpModel()
    n = shop.n_operations
    frozen = dict(problem.frozen)
    durations = shop.durations.tolist()
    starts = []
    for op in range(n):
        if op in frozen:
            starts.append(model.new_int_var(frozen[op], frozen[op], FROZEN))
        else:
            starts.append(model.new_int_var(problem.now, horizon, ""))
    is_last, is_first = shop.is_last.tolist(), shop.is_first.tolist()
    for op in range(n - 1):
        if not is_last[op]:
            model.add(starts[op + 1] >= starts[op] + durations[op])
    machine_of = shop.machines.tolist()
    occupations: list[list] = [[] for _ in range(shop.n_machines)]
    fine = problem.blocking and not problem.swaps
    scale = n + 1
    moments = []  # without swaps: time x scale + the priority of the operation's move within its instant
    for op in range(n):
        if fine:
            moment = model.new_int_var(0, (horizon + 1) * scale, "")
            model.add(moment == starts[op] * scale + (n - 1 if is_first[op] else model.new_int_var(0, n - 1, "")))
            moments.append(moment)
    for op in range(n):
        if not problem.blocking:
            if durations[op] > 0:
                occupations[machine_of[op]].append(model.new_fixed_size_interval_var(starts[op], durations[op], ""))
            continue
        if fine:
            begin = moments[op]
            end = (starts[op] + durations[op]) * scale if is_last[op] else moments[op + 1] + 1
            size = model.new_int_var(1, (horizon + 1) * scale, "")
        else:
            begin = starts[op]
            end = starts[op] + durations[op] if is_last[op] else starts[op + 1]
            size = model.new_int_var(durations[op], horizon, "")
        occupations[machine_of[op]].append(model.new_interval_var(begin, size, end, ""))
    for intervals in occupations:
        if len(intervals) > 1:
            model.add_no_overlap(intervals)
    windows: dict[int, list] = {}
    for machine, start, end in problem.unavailable:
        windows.setdefault(machine, []).append(model.new_fixed_size_interval_var(start, end - start, ""))
    for machine, down in windows.items():
        running = [model.new_fixed_size_interval_var(starts[op], durations[op], "") for op in range(n)
                   if machine_of[op] == machine and durations[op] > 0 and op not in frozen]
        model.add_no_overlap(down + running)
    makespan = model.new_int_var(0, horizon + max(durations), "makespan")
    for op in np.flatnonzero(shop.is_last).tolist():
        model.add(makespan >= starts[op] + durations[op])
    model.minimize(makespan)
    built = VariantModel(model, starts, makespan)
    if hint is not None:
        built.hint(hint)
    return built
