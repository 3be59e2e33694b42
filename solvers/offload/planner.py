"""Solving offload problems: the CP-SAT plan, started from the best baseline so it is never worse
than one, and each baseline as a method of its own. Every plan is checked by `evaluate`."""

from __future__ import annotations

import time

import numpy as np

from cpsched.cpmodels.offload import build, build_relaxation
from cpsched.instances.errors import InputError
from cpsched.instances.offload.problem import (
    GB,
    MODES,
    TICKS_PER_MS,
    OffloadPlan,
    OffloadProblem,
    best_timing,
    evaluate,
)
from cpsched.solvers.cpsat import ProgressCallback, Tracker, run_cpsat
from cpsched.solvers.offload.baselines import BASELINES, BaselinePlan
from cpsched.solvers.result import Result
from cpsched.solvers.units import progress_in_ms, trace_in_ms

RELAXATION_SHARE = 0.2  # of the time limit, at most, for the relaxation
SEARCH_SHARE = 0.5  # the relaxation and the local search over modes together
SPREAD_STEPS = 20  # CPU shares tried by spread_candidates



def baseline_plans(problem: OffloadProblem) -> dict[str, BaselinePlan | None]:
    return {name: rule(problem) for name, rule in BASELINES.items()}


def plan_metrics(problem: OffloadProblem, plan: OffloadPlan) -> dict:
    """What the plan does: subgroups and parameters per mode, and the traffic on each link."""
    tables = problem.tables
    counts = {mode: sum(1 for m in plan.modes if m == mode) for mode in MODES}
    params = {mode: int(sum(p for p, m in zip(problem.params, plan.modes) if m == mode)) for mode in MODES}
    cpu = [m == "cpu" for m in plan.modes]
    gpu = [m == "gpu" for m in plan.modes]
    down = sum(p * (problem.grad_bytes if c else problem.state_bytes if s else 0)
               for p, c, s in zip(problem.params.tolist(), cpu, gpu))
    up = sum(p * (problem.param_bytes if c else problem.state_bytes if s else 0)
             for p, c, s in zip(problem.params.tolist(), cpu, gpu))
    return {"subgroups_by_mode": counts, "params_by_mode": params, "h2d_gb": up / GB, "d2h_gb": down / GB,
            "resident_gb": float(sum(tables.state_size[g] for g, m in enumerate(plan.modes) if m == "resident"))
            / GB}


def offload_result(problem: OffloadProblem, plan: OffloadPlan | None, method: str, status: str, started: float,
                   baselines: dict[str, BaselinePlan | None], tracker: Tracker | None = None,
                   bound: int | None = None, interrupted: bool = False, setting: str | None = None) -> Result:
    """A Result for `plan`, checked by the simulator, with every baseline beside it."""
    metrics: dict = {"instance": problem.name, "size": problem.size, "interrupted": interrupted,
                     "baselines": {name: None if b is None else
                                   {"phase_ms": b.evaluation.phase_ms, "setting": b.setting,
                                    "peak_memory_gb": b.evaluation.peak_gb}
                                   for name, b in baselines.items()}}
    if setting is not None:
        metrics["setting"] = setting
    objective = None
    if plan is not None:
        verdict = evaluate(problem, plan)
        if not verdict.feasible:
            metrics["violations"] = verdict.violations
            status = "infeasible"
        objective = verdict.phase_ms
        backward = float(problem.ready_ms.max())
        metrics.update(phase_ms=objective, exposed_ms=max(0.0, objective - backward),
                       peak_memory_gb=verdict.peak_gb, **plan_metrics(problem, plan))
        zero = baselines.get("zero-offload")
        if zero is not None:
            metrics["speedup_vs_zero_offload"] = zero.evaluation.phase / verdict.phase
        swept = {name: b for name, b in baselines.items() if b is not None and name != "all-gpu"}
        if swept:
            name, best = min(swept.items(), key=lambda item: item[1].evaluation.phase)
            metrics["best_baseline"] = name
            metrics["speedup_vs_best_baseline"] = best.evaluation.phase / verdict.phase
    if bound is not None:
        metrics["bound_ms"] = bound / TICKS_PER_MS
        if objective:
            metrics["gap_to_bound"] = (objective - bound / TICKS_PER_MS) / objective
    trace = trace_in_ms(tracker)
    return Result(status, objective, None if bound is None else bound / TICKS_PER_MS, plan, method,
                  time.monotonic() - started, trace, metrics)


def solve_baseline(problem: OffloadProblem, name: str, **_options) -> Result:
    """One baseline's plan. A rule that puts state on the GPU where it can never fit is the user's
    mistake (an InputError), not an empty answer."""
    started = time.monotonic()
    baselines = baseline_plans(problem)
    chosen = baselines[name]
    if chosen is None:
        raise InputError(f"the {name} rule has no plan that fits: the simulator found no time when the "
                         f"optimizer state it puts on the GPU fits in the memory left free (at most "
                         f"{problem.tables.highest_free_bytes() / GB:.2f} GB)", source=problem.name)
    return offload_result(problem, chosen.plan, name, "feasible", started, baselines, setting=chosen.setting)


def improve_modes(problem: OffloadProblem, plan: OffloadPlan, phase: int, deadline: float,
                  tracker: Tracker) -> tuple[int, OffloadPlan, bool]:
    """Local search over modes: move one subgroup to another path while the simulated phase gets
    shorter, until no move helps or the deadline. Cheap (milliseconds a move) and, where updates
    overlap the backward pass, far better at finding plans than CP-SAT's own search. Returns the
    best plan and whether Ctrl-C stopped it."""
    modes = list(plan.modes)
    allowed = [m for m in MODES if m != "resident" or problem.allow_resident]
    improved = True
    try:
        while improved and time.monotonic() < deadline:
            improved = False
            for g in range(problem.subgroups):
                for mode in allowed:
                    if mode == modes[g] or time.monotonic() >= deadline:
                        continue
                    trial = modes.copy()
                    trial[g] = mode
                    found = best_timing(problem, trial)
                    if found is not None and found[0] < phase:
                        phase, plan = found
                        modes = trial
                        improved = True
                        tracker.report(objective=phase)
    except KeyboardInterrupt:
        return phase, plan, True
    return phase, plan, False


def spread_modes(problem: OffloadProblem, resident: set[int], cpu_share: float) -> list[str]:
    """Resident where given; of the rest, `cpu_share` on the CPU, spread evenly over the layers
    (so the links and the CPU take turns) and the others streamed through the GPU."""
    modes, taken, seen = [], 0, 0
    for g in range(problem.subgroups):
        if g in resident:
            modes.append("resident")
            continue
        seen += 1
        on_cpu = round(seen * cpu_share) > taken
        taken += on_cpu
        modes.append("cpu" if on_cpu else "gpu")
    return modes


def spread_candidates(problem: OffloadProblem, resident: set[int]) -> list[tuple[int, OffloadPlan]]:
    """Timed plans for every twentieth of CPU share, without and with `resident` kept on the GPU."""
    found = []
    for kept in [set(), resident] if resident else [set()]:
        for share in np.linspace(0, 1, SPREAD_STEPS + 1):
            timed = best_timing(problem, spread_modes(problem, kept, float(share)))
            if timed is not None:
                found.append(timed)
    return found


def solve_cpsat(problem: OffloadProblem, *, time_limit: float = 60.0, workers: int = 2, seed: int = 0,
                progress: ProgressCallback | None = None, **_options) -> Result:
    """The relaxation (modes and load cuts, no timing) gives a lower bound, and its modes, timed by
    the simulator, a plan, as do evenly spread CPU shares. Local search over modes improves the best
    of those and the baselines. CP-SAT over modes and start times then starts from there, bounded
    by its phase time. The bound is the higher of the two models'. Ctrl-C keeps the best plan."""
    started = time.monotonic()
    deadline = started + time_limit
    tracker = Tracker(started, progress_in_ms(progress))
    baselines = baseline_plans(problem)
    candidates = [(b.evaluation.phase, b.plan) for b in baselines.values() if b is not None]
    tracker.report(objective=min(candidates, key=lambda c: c[0])[0])  # zero-offload always fits
    relaxation = build_relaxation(problem, tracker.objective)
    relaxed = run_cpsat(relaxation.model, deadline=started + RELAXATION_SHARE * time_limit, tracker=Tracker(started),
                        workers=workers, seed=seed)
    bound = relaxed.objective if relaxed.status == "optimal" else relaxed.bound
    if relaxed.values is not None:
        modes = relaxation.modes(relaxed.values)
        found = best_timing(problem, list(modes))
        if found is not None:  # None: the relaxation knows totals, not when memory frees up
            candidates.append(found)
        candidates += spread_candidates(problem, {g for g, m in enumerate(modes) if m == "resident"})
    phase, plan = min(candidates, key=lambda c: c[0])
    tracker.report(objective=phase, bound=bound)
    phase, plan, interrupted = improve_modes(problem, plan, phase, started + SEARCH_SHARE * time_limit, tracker)
    if interrupted:
        return offload_result(problem, plan, "cpsat", "feasible", started, baselines, tracker,
                              bound=None if bound is None else int(bound), interrupted=True)
    built = build(problem, phase, hint=plan, hint_phase=phase)
    outcome = run_cpsat(built.model, deadline=deadline, tracker=tracker, workers=workers, seed=seed)
    if outcome.bound is not None:
        bound = max(bound or 0, outcome.bound)
    status = "optimal" if bound is not None and outcome.objective <= bound else outcome.status
    return offload_result(problem, built.decode(outcome.values), "cpsat", status, started, baselines, tracker,
                          bound=None if bound is None else int(bound), interrupted=outcome.interrupted)

