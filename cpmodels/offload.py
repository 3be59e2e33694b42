"""The optimizer-offload schedule as a CP-SAT model.

Per subgroup, one of three literals (cpu, gpu, resident) picks its path; each path's steps are
optional intervals on the four resources (D2H link, H2D link, CPU Adam, GPU Adam stream), each
resource a NoOverlap. A gpu subgroup's state is an optional interval from its upload's start to its
download's end, a resident one a fixed interval over the whole horizon; both go into one cumulative
whose capacity is the highest free memory, with fixed intervals taking away what is not free at
each step of the timeline. The objective is the end of the last step.

Redundant constraints give the LP a bound: for every release time r, what must still run on a
resource after r fits between r and the end. Identical subgroups are interchangeable, so their modes
(cpu, then resident, then gpu) and starts are ordered.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from cpsched.instances.offload.problem import MODES, OffloadPlan, OffloadProblem

MAX_RELEASE_CUTS = 64  # release times that get a redundant bound (spread over the distinct ones)


@dataclass
class OffloadModel:
    model: cp_model.CpModel
    mode: dict[str, list[cp_model.IntVar]]  # literal per mode and subgroup
    cpu_starts: list[list[cp_model.IntVar]]  # [gradient down, CPU Adam, parameters up] per subgroup
    gpu_starts: list[list[cp_model.IntVar]]  # [state up, GPU Adam, state down]; GPU Adam also for resident
    hold: list[cp_model.IntVar]  # a gpu subgroup's time with state on the GPU
    phase: cp_model.IntVar
    resident_bytes: cp_model.IntVar

    def modes(self, values: np.ndarray) -> tuple[str, ...]:
        return tuple(next(m for m in MODES if values[self.mode[m][g].Index()]) for g in range(len(self.mode["cpu"])))

    def decode(self, values: np.ndarray) -> OffloadPlan:
        n = len(self.hold)
        modes = []
        starts = np.full((n, 3), -1, dtype=np.int64)
        for g in range(n):
            mode = next(m for m in MODES if values[self.mode[m][g].Index()])
            modes.append(mode)
            if mode == "cpu":
                starts[g] = [values[v.Index()] for v in self.cpu_starts[g]]
            elif mode == "gpu":
                starts[g] = [values[v.Index()] for v in self.gpu_starts[g]]
            else:
                starts[g, 1] = values[self.gpu_starts[g][1].Index()]
        return OffloadPlan(tuple(modes), starts)

    def hint(self, problem: OffloadProblem, plan: OffloadPlan, phase: int) -> None:
        """A complete hint: every variable, those of unused paths at 0 (the runner takes a complete
        hint as the first incumbent), with identical subgroups in the model's order."""
        tables = problem.tables
        plan = canonical(problem, plan)
        model = self.model
        model.clear_hints()
        for g, chosen in enumerate(plan.modes):
            for m in MODES:
                model.add_hint(self.mode[m][g], m == chosen)
            cpu = plan.starts[g] if chosen == "cpu" else [0, 0, 0]
            gpu = plan.starts[g] if chosen == "gpu" else [0, plan.starts[g, 1] if chosen == "resident" else 0, 0]
            for var, value in zip(self.cpu_starts[g], cpu):
                model.add_hint(var, int(value))
            for var, value in zip(self.gpu_starts[g], gpu):
                model.add_hint(var, int(value))
            model.add_hint(self.hold[g], int(gpu[2]) + int(tables.state_down[g]) - int(gpu[0]))
        model.add_hint(self.phase, phase)
        model.add_hint(self.resident_bytes, sum(int(tables.state_size[g]) for g, m in enumerate(plan.modes)
                                              if m == "resident"))


def build(problem: OffloadProblem, horizon: int, hint: OffloadPlan | None = None,
          hint_phase: int | None = None) -> OffloadModel:
    """The model with every start in [0, horizon] (a known plan's phase time is a valid horizon)."""
    tables = problem.tables
    n = problem.subgroups
    model = cp_model.CpModel()
    lowest, highest = tables.lowest_free_bytes(), tables.highest_free_bytes()
    memory_end = max(horizon, int(tables.capacity_times[-1]) + 1)
    phase = model.new_int_var(0, horizon, "phase")
    mode: dict[str, list] = {m: [] for m in MODES}
    cpu_starts, gpu_starts, hold = [], [], []
    on: dict[str, list] = {resource: [] for resource in ("d2h", "h2d", "cpu", "gpu")}
    memory, demands = [], []
    for g in range(n):
        x = {m: model.new_bool_var(f"{m}{g}") for m in MODES}
        for m in MODES:
            mode[m].append(x[m])
        model.add_exactly_one(x.values())
        need = int(tables.state_size[g])
        if not problem.allow_resident or need > lowest:
            model.add(x["resident"] == 0)
        if need > highest:
            model.add(x["gpu"] == 0)
        on_gpu = x["cpu"].Not()

        def step(name: str, resource: str, duration: int, present, g: int = g) -> tuple:
            start = model.new_int_var(0, horizon, f"{name}{g}")
            on[resource].append(model.new_optional_fixed_size_interval_var(start, duration, present, f"i{name}{g}"))
            model.add(start + duration <= phase).only_enforce_if(present)
            return start, start + duration

        down, down_end = step("gd", "d2h", int(tables.grad_down[g]), x["cpu"])
        adam, adam_end = step("ca", "cpu", int(tables.cpu_update[g]), x["cpu"])
        up, _ = step("pu", "h2d", int(tables.param_up[g]), x["cpu"])
        model.add(down >= int(tables.release[g])).only_enforce_if(x["cpu"])
        model.add(adam >= down_end).only_enforce_if(x["cpu"])
        model.add(adam >= int(tables.update_release[g])).only_enforce_if(x["cpu"])
        model.add(up >= adam_end).only_enforce_if(x["cpu"])
        cpu_starts.append([down, adam, up])

        state_up, state_up_end = step("su", "h2d", int(tables.state_up[g]), x["gpu"])
        gpu_adam, gpu_adam_end = step("ga", "gpu", int(tables.gpu_update[g]), on_gpu)
        state_down, state_down_end = step("sd", "d2h", int(tables.state_down[g]), x["gpu"])
        model.add(gpu_adam >= int(tables.update_release[g])).only_enforce_if(on_gpu)
        model.add(gpu_adam >= state_up_end).only_enforce_if(x["gpu"])
        model.add(state_down >= gpu_adam_end).only_enforce_if(x["gpu"])
        gpu_starts.append([state_up, gpu_adam, state_down])

        held = model.new_int_var(0, horizon, f"hold{g}")
        hold.append(held)
        memory.append(model.new_optional_interval_var(state_up, held, state_down_end, x["gpu"], f"mem{g}"))
        demands.append(need)
        memory.append(model.new_optional_fixed_size_interval_var(0, memory_end, x["resident"], f"res{g}"))
        demands.append(need)
    for intervals in on.values():
        model.add_no_overlap(intervals)
    steps = [*list(tables.capacity_times), memory_end]
    for i, free in enumerate(tables.capacity_bytes):
        taken = highest - int(free)
        if taken > 0 and steps[i + 1] > steps[i]:
            memory.append(model.new_fixed_size_interval_var(int(steps[i]), int(steps[i + 1] - steps[i]), f"cap{i}"))
            demands.append(taken)
    model.add_cumulative(memory, demands, highest)

    resident_bytes = add_load_cuts(problem, model, mode, phase)
    _order_identical(problem, model, mode, cpu_starts, gpu_starts)
    model.minimize(phase)
    built = OffloadModel(model, mode, cpu_starts, gpu_starts, hold, phase, resident_bytes)
    if hint is not None:
        built.hint(problem, hint, hint_phase if hint_phase is not None else horizon)
    return built


def add_load_cuts(problem: OffloadProblem, model: cp_model.CpModel, mode: dict, phase, *,
                  relaxation: bool = False) -> cp_model.IntVar:
    """phase >= r + the work each resource must still do after r, for spread release times r:
    CPU Adam, the GPU stream, parameter uploads, state downloads, and uploads of state that was not
    prefetched into the memory free at r. The full model also counts gradient downloads after
    their release; the relaxation leaves them out, so that subgroups of equal size and update time
    stay interchangeable there, and adds the first CPU (GPU) Adam before any parameter upload (state
    download) and the last parameter upload after the CPU Adam."""
    tables = problem.tables
    times = np.unique(tables.update_release if relaxation else np.concatenate([tables.release, tables.update_release]))
    if len(times) > MAX_RELEASE_CUTS:
        times = times[np.linspace(0, len(times) - 1, MAX_RELEASE_CUTS).round().astype(int)]
    cpu, gpu, resident = mode["cpu"], mode["gpu"], mode["resident"]
    n = problem.subgroups
    resident_bytes = model.new_int_var(0, tables.lowest_free_bytes(), "resident_bytes")
    model.add(resident_bytes == sum(int(tables.state_size[g]) * resident[g] for g in range(n)))
    for g in range(n):  # a streamed state needs room beside the resident ones
        model.add(resident_bytes + int(tables.state_size[g]) * gpu[g] <= tables.highest_free_bytes())
    ticks_per_byte = max(float(tables.state_up[g]) / max(1, int(tables.state_size[g])) for g in range(n))
    # rounded so the cut stays valid: the room counted up, each resident state's share of it down
    prefetch_room = sum(math.floor(ticks_per_byte * int(tables.state_size[g])) * resident[g] for g in range(n))
    for r in times.tolist():
        later = np.flatnonzero(tables.update_release >= r).tolist()
        if not later:
            continue
        cpu_work = sum(int(tables.cpu_update[g]) * cpu[g] for g in later)
        uploads = sum(int(tables.param_up[g]) * cpu[g] for g in later)
        downloads = sum(int(tables.state_down[g]) * gpu[g] for g in later)
        model.add(phase >= r + sum(int(tables.gpu_update[g]) * (gpu[g] + resident[g]) for g in later))
        free = int(tables.capacity_bytes[np.searchsorted(tables.capacity_times, r, side="right") - 1])
        model.add(phase >= r + uploads + sum(int(tables.state_up[g]) * gpu[g] for g in later)
                  - math.ceil(ticks_per_byte * free) + prefetch_room)
        if relaxation:
            any_cpu = _any(model, [cpu[g] for g in later])
            any_gpu = _any(model, [gpu[g] for g in later])
            model.add(phase >= r + cpu_work + int(tables.param_up.min()) * any_cpu)
            model.add(phase >= r + int(tables.cpu_update.min()) * any_cpu + uploads)
            model.add(phase >= r + int(tables.gpu_update.min()) * any_gpu + downloads)
        else:
            sent = np.flatnonzero(tables.release >= r).tolist()
            model.add(phase >= r + cpu_work)
            model.add(phase >= r + uploads)
            model.add(phase >= r + downloads + sum(int(tables.grad_down[g]) * cpu[g] for g in sent))
    model.add(phase >= sum(int(tables.param_up[g]) * cpu[g] + int(tables.state_up[g]) * gpu[g] for g in range(n)))
    return resident_bytes


def _any(model: cp_model.CpModel, literals: list) -> cp_model.IntVar:
    """A literal true exactly when one of `literals` is."""
    flag = model.new_bool_var("")
    if literals:
        model.add_max_equality(flag, literals)
    else:
        model.add(flag == 0)
    return flag


def build_relaxation(problem: OffloadProblem, horizon: int) -> OffloadModel:
    """Modes and the load cuts only, no timing: its optimum bounds the full model's from below, and
    its modes, timed by the simulator, make a good plan."""
    tables = problem.tables
    model = cp_model.CpModel()
    phase = model.new_int_var(0, horizon, "phase")
    mode: dict[str, list] = {m: [model.new_bool_var(f"{m}{g}") for g in range(problem.subgroups)] for m in MODES}
    for g in range(problem.subgroups):
        model.add_exactly_one(mode[m][g] for m in MODES)
        need = int(tables.state_size[g])
        if not problem.allow_resident or need > tables.lowest_free_bytes():
            model.add(mode["resident"][g] == 0)
        if need > tables.highest_free_bytes():
            model.add(mode["gpu"][g] == 0)
    resident_bytes = add_load_cuts(problem, model, mode, phase, relaxation=True)
    _order_modes(model, mode, groups_by(list(zip(problem.params.tolist(), tables.update_release.tolist()))))
    model.minimize(phase)
    return OffloadModel(model, mode, [], [], [], phase, resident_bytes)


def groups_by(keys: list) -> list[list[int]]:
    """Indices with equal keys, each group in index order."""
    groups: dict = {}
    for g, key in enumerate(keys):
        groups.setdefault(key, []).append(g)
    return list(groups.values())


def identical_groups(problem: OffloadProblem) -> list[list[int]]:
    """Subgroups that can trade places: equal size, gradient-ready and update times."""
    tables = problem.tables
    return groups_by(list(zip(problem.params.tolist(), tables.release.tolist(), tables.update_release.tolist())))


MODE_RANK = {"cpu": 2, "resident": 1, "gpu": 0}  # the order the symmetry breaking keeps within a group


def canonical(problem: OffloadProblem, plan: OffloadPlan) -> OffloadPlan:
    """The same plan with each group of identical subgroups reordered as the model's symmetry
    breaking wants: cpu, then resident, then gpu, each in start order (a swap of identical rows)."""
    modes = list(plan.modes)
    starts = plan.starts.copy()
    for members in identical_groups(problem):
        if len(members) < 2:
            continue
        rows = sorted(((modes[g], tuple(plan.starts[g])) for g in members),
                      key=lambda row: (-MODE_RANK[row[0]], row[1][1] if row[0] == "resident" else row[1][0]))
        for g, (mode, row) in zip(members, rows):
            modes[g] = mode
            starts[g] = row
    return OffloadPlan(tuple(modes), starts)


def _order_modes(model: cp_model.CpModel, mode: dict, groups: list[list[int]]) -> list[tuple[int, int]]:
    """Within each group of interchangeable subgroups, modes in MODE_RANK order. Returns the
    ordered pairs (consecutive members)."""
    def rank(g: int):
        return sum(weight * mode[m][g] for m, weight in MODE_RANK.items() if weight)

    pairs = [(f, g) for members in groups for f, g in itertools.pairwise(members)]
    for f, g in pairs:
        model.add(rank(f) >= rank(g))
    return pairs


def _order_identical(problem: OffloadProblem, model: cp_model.CpModel, mode: dict, cpu_starts, gpu_starts) -> None:
    """Identical subgroups can trade places: keep cpu ones first, then resident, then gpu, and each
    mode's in start order."""
    for f, g in _order_modes(model, mode, identical_groups(problem)):
        for m, starts in (("cpu", cpu_starts), ("gpu", gpu_starts), ("resident", gpu_starts)):
            index = 1 if m == "resident" else 0
            model.add(starts[f][index] <= starts[g][index]).only_enforce_if([mode[m][f], mode[m][g]])
