"""Job shop methods: the textbook CP-SAT model (`cpsat-plain`) and ours (`cpsat`).

Each method returns a `Result` whose schedule `instances.jobshop.evaluate` has checked, and whose
objective agrees with that check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from cpmodels.jobshop import JobShopModelOptions, build
from instances.catalog import best_known
from instances.jobshop import JobShop, Schedule, evaluate
from learned_pdr import RULES, dispatch
from solvers.cpsat import Progress, ProgressCallback, run_cpsat
from solvers.jobshop_tabu import tabu_search
from solvers.result import Result


@dataclass(frozen=True)
class CpsatRecipe:
    """How a CP-SAT method builds its model and sets the solver."""

    warm_start: bool  # horizon = makespan of the best dispatching-rule schedule
    hint: bool = True  # with warm_start: also hint that schedule
    local_search_share: float = 0.0  # at most this share of the time limit for tabu search
    local_search_stall: int = 20_000  # tabu iterations without a new best before CP-SAT takes over
    model: JobShopModelOptions = field(default_factory=JobShopModelOptions)
    parameters: dict = field(default_factory=dict)


RECIPES: dict[str, CpsatRecipe] = {
    "cpsat-plain": CpsatRecipe(warm_start=False),
    "cpsat": CpsatRecipe(
        warm_start=True,
        local_search_share=0.5,
        model=JobShopModelOptions(tighten_domains=True),
        parameters={
            "push_all_tasks_toward_start": True,
            "use_dynamic_precedence_in_disjunctive": True,
        },
    ),
}


def best_dispatch(problem: JobShop) -> Schedule:
    """The shortest of the static rules' active and non-delay schedules (milliseconds on benchmark
    sizes)."""
    schedules = [dispatch(problem, rule, non_delay) for rule in RULES for non_delay in (False, True)]
    return min(schedules, key=lambda s: evaluate(problem, s).makespan)


def solve_cpsat(
    problem: JobShop,
    recipe: CpsatRecipe,
    method: str,
    *,
    time_limit: float,
    workers: int,
    seed: int,
    progress: ProgressCallback | None = None,
) -> Result:
    started = time.monotonic()
    deadline = started + time_limit
    warm_trace: list[tuple[float, float | None, float | None]] = []
    lower_bound = problem.lower_bound()

    def report(makespan: int) -> None:
        entry = (time.monotonic() - started, float(makespan), float(lower_bound))
        warm_trace.append(entry)
        if progress is not None:
            progress(Progress(*entry))

    hint = best_dispatch(problem) if recipe.warm_start else None
    if hint is not None:
        report(evaluate(problem, hint).makespan)
        if recipe.local_search_share > 0:
            improved = tabu_search(problem, hint, deadline=started + recipe.local_search_share * time_limit,
                                   seed=seed, stall_iterations=recipe.local_search_stall, on_improvement=report)
            hint = improved.schedule
            if improved.interrupted:  # Ctrl-C: no CP-SAT phase, return the best so far
                return finish_result(problem, hint, "feasible", None, method, started, warm_trace,
                                     interrupted=True)
    options = recipe.model
    if hint is not None:
        options = JobShopModelOptions(
            horizon=evaluate(problem, hint).makespan,
            tighten_domains=options.tighten_domains,
            cumulative_relaxation=options.cumulative_relaxation,
        )
    try:
        built = build(problem, hint=hint if recipe.hint else None, options=options)
    except KeyboardInterrupt:  # Ctrl-C while building: the warm start is the answer
        if hint is None:
            raise
        return finish_result(problem, hint, "feasible", None, method, started, warm_trace, interrupted=True)
    outcome = run_cpsat(
        built.model,
        deadline=deadline,
        started=started,
        workers=workers,
        seed=seed,
        parameters=recipe.parameters,
        progress=progress,
    )
    schedule = built.decode(outcome.values) if outcome.values is not None else None
    return finish_result(problem, schedule, outcome.status, outcome.bound, method, started,
                         warm_trace + outcome.trace, interrupted=outcome.interrupted)


def finish_result(
    problem: JobShop,
    schedule: Schedule | None,
    status: str,
    bound: float | None,
    method: str,
    started: float,
    trace: list,
    interrupted: bool = False,
) -> Result:
    """Check the schedule independently, add the proved bound and the gaps, and wrap it up."""
    objective = None
    if schedule is not None:
        check = evaluate(problem, schedule)
        if not check.feasible:
            raise AssertionError(f"{method} returned an infeasible schedule: {check.violations[:3]}")
        objective = check.makespan
    if status != "infeasible":
        bound = max(bound or 0, problem.lower_bound())
    metrics: dict = {"instance": problem.name, "size": problem.size}
    if objective is not None and bound:
        metrics["gap_to_bound"] = (objective - bound) / bound
    known = best_known(problem.name)
    if known is not None:
        metrics["best_known_lower"] = known.lower_bound
        metrics["best_known_upper"] = known.upper_bound
        if objective is not None:
            metrics["gap_to_best_known"] = (objective - known.upper_bound) / known.upper_bound
    if interrupted:
        metrics["interrupted"] = True
    return Result(status, objective, bound, schedule, method, time.monotonic() - started, trace, metrics)
