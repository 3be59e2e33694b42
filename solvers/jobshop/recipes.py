"""Job shop methods: dispatching rules, the textbook CP-SAT model (`cpsat-plain`), ours (`cpsat`),
large-neighbourhood search (`lns`), and `auto`, which picks by size.

Each method returns a `Result` whose schedule `instances.jobshop.evaluate` has checked, and whose
objective is the makespan that check computed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cpsched.cpmodels.jobshop import JobShopModelOptions, build
from cpsched.instances.catalog import best_known_for
from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import JobShop, Schedule, evaluate
from cpsched.learned_pdr import best_dispatch, dispatch_spec, dispatch_within
from cpsched.learned_pdr.learned import DeadlinePassed
from cpsched.learned_pdr.rules import RuleSpec, parse_rule_spec
from cpsched.solvers.cpsat import Progress, ProgressCallback, Tracker, run_cpsat
from cpsched.solvers.jobshop.lns import lns
from cpsched.solvers.jobshop.tabu import tabu_search
from cpsched.solvers.jobshop.tabu import warm_up as warm_up_tabu_search
from cpsched.solvers.result import Result, checked_makespan


@dataclass(frozen=True)
class JobShopRecipe:
    """How a job shop method warm-starts, improves and finishes.

    The phases run in order, all within one time limit: a dispatched schedule (`warm_start`), tabu
    search on it, then either CP-SAT on the whole model or LNS with small CP-SAT window models."""

    warm_start: str | None = None  # "best" (the shortest rule schedule) or a rule spec; None: cold
    local_search_share: float = 0.0  # at most this share of the time limit for tabu search on it
    # Tabu moves without a new best before the next phase: two of the search's own restarts (compiled
    # moves run ~300,000 a second on 30 x 20, so this is seconds; on dmu41-80 it stalls within 10-25 s).
    local_search_stall: int | None = 2_000_000
    finish: str = "cpsat"  # "cpsat": the whole model; "lns": large-neighbourhood search
    hint: bool = True  # hint CP-SAT with the warm start (it is the first incumbent either way)
    model: JobShopModelOptions = field(default_factory=JobShopModelOptions)
    parameters: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.finish not in ("cpsat", "lns"):
            raise ValueError(f"finish must be 'cpsat' or 'lns', not {self.finish!r}")
        if self.finish == "lns" and self.warm_start is None:
            raise ValueError("LNS improves a schedule: give the recipe a warm start")


RECIPES: dict[str, JobShopRecipe] = {
    "cpsat-plain": JobShopRecipe(),
    "cpsat": JobShopRecipe(
        warm_start="best",
        local_search_share=0.5,
        model=JobShopModelOptions(tighten_domains=True),
        parameters={
            "push_all_tasks_toward_start": True,
            "use_dynamic_precedence_in_disjunctive": True,
        },
    ),
    "lns": JobShopRecipe(warm_start="best", finish="lns"),
}
# `auto` on large instances: the whole model is too big for CP-SAT to improve in time, and after
# tabu search LNS rarely improves (docs/notes), so tabu gets 90% of the time.
LARGE_RECIPE = JobShopRecipe(warm_start="best", local_search_share=0.9, finish="lns")
AUTO_LARGE_OPERATIONS = 5_000  # from this many operations `auto` uses LARGE_RECIPE (docs/notes)
KERNEL_NOTE = ("preparing the tabu-search kernel (compiled once after installing, about 10 s; the time limit "
               "starts after it)")
DISPATCH_SHARE = 0.1  # "best" tries rules for at most this share of the time limit (one always runs)
FIRST_RULE_SHARE = 0.5  # past this share the first rule gives way to the rank-order schedule (learned_pdr.rules)
MODEL_BYTES_PER_OPERATION = 30_000  # CP-SAT peak per operation: 1.8 GB after 30 s on 1000 x 100, plus margin
SEARCH_BYTES_PER_OPERATION = 5_000  # dispatch, tabu and LNS peak per operation on 1000 x 100, plus margin


def auto_recipe(problem: JobShop) -> tuple[str, JobShopRecipe]:
    """What `auto` runs on this problem: exact CP-SAT when small, LNS when large."""
    if problem.n_operations >= AUTO_LARGE_OPERATIONS or not fits_in_memory(problem):
        return "large", LARGE_RECIPE
    return "cpsat", RECIPES["cpsat"]


def available_memory() -> int | None:
    """Bytes of memory available now (Linux), or None where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def fits_in_memory(problem: JobShop, bytes_per_operation: int = MODEL_BYTES_PER_OPERATION) -> bool:
    """Whether `bytes_per_operation` for each operation fits in 80% of the memory available now (or
    the memory cannot be read)."""
    available = available_memory()
    return available is None or problem.n_operations * bytes_per_operation < 0.8 * available


def check_memory(problem: JobShop, finish: str) -> None:
    """Refuse, before building anything big, a solve that would exhaust memory."""
    whole_model = finish == "cpsat"
    per_operation = MODEL_BYTES_PER_OPERATION if whole_model else SEARCH_BYTES_PER_OPERATION
    if fits_in_memory(problem, per_operation):
        return
    need = problem.n_operations * per_operation / 2**30
    have = (available_memory() or 0) / 2**30
    what = "the whole CP-SAT model" if whole_model else "the search"
    advice = "; use --method lns or auto" if whole_model else "; split the instance or use a larger machine"
    raise InputError(f"{problem.name}: {what} of {problem.n_operations} operations needs about {need:.1f} GB, "
                     f"only {have:.1f} GB is available{advice}")


def warm_start_spec(text: str) -> str:
    """A user's --warm-start, checked before any work: a rule spec or "best"."""
    spec = text.strip().lower()
    if spec == "best":
        return spec
    try:
        return str(parse_rule_spec(spec))
    except InputError as error:
        raise InputError(f"{error}; --warm-start also takes 'best' (the shortest of them)") from None


def warm_start_schedule(problem: JobShop, spec: str, deadline: float, seed: int,
                        offer: Callable[[Schedule, int], None], weights: str | None = None,
                        first_deadline: float | None = None) -> Schedule:
    """The dispatched schedule a recipe starts from: a rule spec, or "best" of the rules in time
    (`pdr-sample` samples until `deadline`; the first rule may run until `first_deadline`). Each
    schedule is offered (with its makespan) as it comes, so Ctrl-C meanwhile loses none of them."""
    if spec == "best":
        return best_dispatch(problem, deadline=deadline, on_improvement=offer, weights=weights,
                             first_deadline=first_deadline)
    schedule = dispatch_spec(problem, spec, seed, weights, stop_sampling_at=deadline, on_rollout=offer)
    offer(schedule, problem.makespan_of(schedule.starts))
    return schedule


def solve_jobshop(
    problem: JobShop,
    recipe: JobShopRecipe,
    method: str,
    *,
    time_limit: float,
    workers: int,
    seed: int,
    progress: ProgressCallback | None = None,
    warm_start: str | None = None,
    weights: str | None = None,
) -> Result:
    """Run the recipe's phases until `time_limit` seconds after the call. `warm_start` (a rule
    spec or "best") overrides the recipe's. Ctrl-C in any phase returns the best schedule so far."""
    if warm_start is not None:  # bad input is refused before any work
        recipe = dataclasses.replace(recipe, warm_start=warm_start_spec(warm_start))
    check_memory(problem, recipe.finish)
    if recipe.local_search_share > 0:
        if progress is not None:
            progress(Progress(0.0, None, None, note=KERNEL_NOTE))
        warm_up_tabu_search()  # compiling is not searching: keep it out of the time limit
    started = time.monotonic()
    deadline = started + time_limit
    tracker = Tracker(started, progress)
    tracker.report(bound=problem.lower_bound)
    best: Schedule | None = None
    found_by = None

    search_metrics: dict = {}

    def finish(schedule, status, bound=None, interrupted=False):
        return finish_result(problem, schedule, status, bound, method, tracker, interrupted=interrupted,
                             found_by=found_by, extra_metrics=search_metrics)

    def offer_dispatched(schedule: Schedule, makespan: int) -> None:
        nonlocal best, found_by
        if best is None or makespan < problem.makespan_of(best.starts):
            best, found_by = schedule, "dispatch"
            tracker.report(objective=makespan)

    try:
        if recipe.warm_start is not None:
            warm_start_schedule(problem, recipe.warm_start, started + DISPATCH_SHARE * time_limit, seed,
                                offer_dispatched, weights, first_deadline=started + FIRST_RULE_SHARE * time_limit)
            if recipe.local_search_share > 0:
                improved = tabu_search(
                    problem, best, deadline=started + recipe.local_search_share * time_limit, seed=seed,
                    stall_iterations=recipe.local_search_stall,
                    on_improvement=lambda makespan: tracker.report(objective=makespan),
                )
                search_metrics["tabu_iterations"] = improved.iterations
                if improved.makespan < problem.makespan_of(best.starts):
                    best, found_by = improved.schedule, "tabu"
                if improved.interrupted:
                    return finish(best, "feasible", interrupted=True)
        if best is not None and problem.makespan_of(best.starts) <= problem.lower_bound:
            return finish(best, "feasible")  # at the lower bound: `finish_result` marks it optimal
        if recipe.finish == "lns":
            if time.monotonic() >= deadline:
                return finish(best, "feasible")
            searched = lns(problem, best, deadline=deadline, workers=workers, seed=seed,
                           on_improvement=lambda makespan: tracker.report(objective=makespan))
            search_metrics.update(lns_moves=searched.moves, lns_improvements=searched.improvements)
            if searched.makespan < problem.makespan_of(best.starts):
                best, found_by = searched.schedule, "lns"
            return finish(best, "feasible", interrupted=searched.interrupted)
        options = recipe.model
        if best is not None:
            options = dataclasses.replace(options, horizon=problem.makespan_of(best.starts))
        built = build(problem, hint=best if recipe.hint else None, **options.as_kwargs())
    except KeyboardInterrupt:  # Ctrl-C before CP-SAT started
        if best is None:
            raise
        return finish(best, "feasible", interrupted=True)
    outcome = run_cpsat(
        built.model,
        deadline=deadline,
        tracker=tracker,
        workers=workers,
        seed=seed,
        parameters=recipe.parameters,
        initial=built.values_of(problem, best) if best is not None else None,
    )
    schedule = built.decode(outcome.values) if outcome.values is not None else None
    if schedule is not None and (best is None or outcome.objective < problem.makespan_of(best.starts)):
        found_by = "cpsat"
    return finish(schedule, outcome.status, outcome.bound, outcome.interrupted)


def solve_dispatch(problem: JobShop, spec: str | RuleSpec, method: str, *, time_limit: float, seed: int,
                   progress: ProgressCallback | None = None, weights: str | None = None) -> Result:
    """One dispatching rule, no search: the baseline every other method must beat (milliseconds for
    a static rule, two rollouts of the network for `pdr`). `pdr-sample:K` samples until
    `time_limit` or Ctrl-C, keeping the best; the metrics say how many rollouts it made. A rule
    whose first schedule is not done at `time_limit` returns none, saying so (the limit is kept)."""
    tracker = Tracker(time.monotonic(), progress)
    tracker.report(bound=problem.lower_bound)
    try:
        done = dispatch_within(problem, spec, seed, weights, stop_sampling_at=tracker.started + time_limit,
                               on_improvement=lambda _, makespan: tracker.report(objective=makespan),
                               deadline=tracker.started + time_limit)
    except DeadlinePassed:
        result = finish_result(problem, None, "unknown", None, method, tracker, found_by="dispatch")
        result.metrics["reason"] = (f"the rule did not finish its schedule within the time limit ({time_limit:g} s): "
                                    "give a longer --time-limit")
        return result
    tracker.report(objective=problem.makespan_of(done.schedule.starts))
    return finish_result(problem, done.schedule, "feasible", None, method, tracker, done.interrupted,
                         found_by="dispatch", extra_metrics=done.metrics())


def finish_result(
    problem: JobShop,
    schedule: Schedule | None,
    status: str,
    bound: float | None,
    method: str,
    tracker: Tracker,
    interrupted: bool = False,
    found_by: str | None = None,
    extra_metrics: dict | None = None,
) -> Result:
    """Check the schedule independently, add the proved bound and the gaps, and wrap it up."""
    objective = None if schedule is None else checked_makespan(evaluate(problem, schedule), method)
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
    if found_by is not None and schedule is not None:
        metrics["found_by"] = found_by  # the phase whose schedule this is (dispatch, tabu, cpsat, lns)
    metrics.update(extra_metrics or {})
    if interrupted:
        metrics["interrupted"] = True
    return Result(status, objective, bound, schedule, method, time.monotonic() - tracker.started,
                  tracker.trace, metrics)
