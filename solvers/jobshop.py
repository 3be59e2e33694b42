"""Job shop methods: the textbook CP-SAT model (`cpsat-plain`) and ours (`cpsat`).

Each method returns a `Result` whose schedule `instances.jobshop.evaluate` has checked, and whose
objective is the makespan that check computed.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from cpmodels.jobshop import JobShopModelOptions, build
from instances.catalog import best_known_for
from instances.jobshop import JobShop, Schedule, evaluate
from learned_pdr import RULES, dispatch
from solvers.cpsat import ProgressCallback, Tracker, run_cpsat
from solvers.jobshop_tabu import tabu_search
from solvers.result import Result


@dataclass(frozen=True)
class CpsatRecipe:
    """How a CP-SAT method warm-starts, builds its model and sets the solver."""

    warm_start: bool = False  # start from the best dispatching-rule schedule; its makespan is the horizon
    local_search_share: float = 0.0  # at most this share of the time limit for tabu search on it
    local_search_stall: int | None = 20_000  # tabu iterations without a new best before CP-SAT takes over
    hint: bool = True  # hint CP-SAT with the warm start (it is the first incumbent either way)
    model: JobShopModelOptions = field(default_factory=JobShopModelOptions)
    parameters: dict = field(default_factory=dict)


RECIPES: dict[str, CpsatRecipe] = {
    "cpsat-plain": CpsatRecipe(),
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
    return min(schedules, key=lambda schedule: problem.makespan_of(schedule.starts))


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
    """Warm start (if the recipe asks), then CP-SAT until `time_limit` seconds after the call."""
    started = time.monotonic()
    deadline = started + time_limit
    tracker = Tracker(started, progress)
    tracker.report(bound=problem.lower_bound)
    warm = None
    options = recipe.model
    try:
        if recipe.warm_start:
            warm = best_dispatch(problem)
            tracker.report(objective=problem.makespan_of(warm.starts))
            if recipe.local_search_share > 0:
                improved = tabu_search(
                    problem, warm, deadline=started + recipe.local_search_share * time_limit, seed=seed,
                    stall_iterations=recipe.local_search_stall,
                    on_improvement=lambda makespan: tracker.report(objective=makespan),
                )
                warm = improved.schedule
                if improved.interrupted:  # Ctrl-C: no CP-SAT phase, the best so far is the answer
                    return finish_result(problem, warm, "feasible", None, method, tracker, interrupted=True)
            options = dataclasses.replace(options, horizon=problem.makespan_of(warm.starts))
        built = build(problem, hint=warm if recipe.hint else None, **options.as_kwargs())
    except KeyboardInterrupt:  # Ctrl-C before CP-SAT started
        if warm is None:
            raise
        return finish_result(problem, warm, "feasible", None, method, tracker, interrupted=True)
    outcome = run_cpsat(
        built.model,
        deadline=deadline,
        tracker=tracker,
        workers=workers,
        seed=seed,
        parameters=recipe.parameters,
        initial=built.values_of(problem, warm) if warm is not None else None,
    )
    schedule = built.decode(outcome.values) if outcome.values is not None else None
    return finish_result(problem, schedule, outcome.status, outcome.bound, method, tracker,
                         interrupted=outcome.interrupted)


def finish_result(
    problem: JobShop,
    schedule: Schedule | None,
    status: str,
    bound: float | None,
    method: str,
    tracker: Tracker,
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
        bound = max(bound or 0, problem.lower_bound)
        if objective is not None and bound >= objective:
            status = "optimal"
    else:
        bound = None
    metrics: dict = {"instance": problem.name, "size": problem.size}
    if objective is not None and bound:
        metrics["gap_to_bound"] = (objective - bound) / bound
    known = best_known_for(problem)
    if known is not None:
        metrics["best_known_lower"] = known.lower_bound
        metrics["best_known_upper"] = known.upper_bound
        if objective is not None:
            metrics["gap_to_best_known"] = (objective - known.upper_bound) / known.upper_bound
    if interrupted:
        metrics["interrupted"] = True
    return Result(status, objective, bound, schedule, method, time.monotonic() - tracker.started,
                  tracker.trace, metrics)
