"""The registry of methods per problem family, and `solve`, the one entry point for all of them."""

from __future__ import annotations

from collections.abc import Callable

from cpsched.instances.errors import InputError
from cpsched.instances.experts.problem import ExpertProblem
from cpsched.instances.jobshop.problem import JobShop
from cpsched.instances.jobshop.variant import JobShopVariant
from cpsched.instances.offload.problem import OffloadProblem
from cpsched.instances.pipeline.problem import PipelineProblem
from cpsched.learned_pdr import RULES, learned_samples, parse_rule
from cpsched.learned_pdr.learned import LEARNED, LEARNED_SAMPLED
from cpsched.solvers.cpsat import ProgressCallback
from cpsched.solvers.experts import planner as expert_methods
from cpsched.solvers.experts.baselines import BASELINES as EXPERT_BASELINES
from cpsched.solvers.jobshop import variant as variant_methods
from cpsched.solvers.jobshop.recipes import RECIPES, auto_recipe, solve_dispatch, solve_jobshop
from cpsched.solvers.offload import planner as offload_methods
from cpsched.solvers.offload.baselines import BASELINES as OFFLOAD_BASELINES
from cpsched.solvers.pipeline.baselines import BASELINES
from cpsched.solvers.pipeline.planner import solve_baseline, solve_cpsat
from cpsched.solvers.result import Result

Method = Callable[..., Result]
DISPATCH_PREFIX = "pdr:"  # `pdr:mwkr`, `pdr:spt:active`: one dispatching rule, no search


def _recipe_method(name: str) -> Method:
    def method(problem, **options):
        return solve_jobshop(problem, RECIPES[name], name, **options)

    return method


def _auto(problem, **options):
    chosen, recipe = auto_recipe(problem)
    return solve_jobshop(problem, recipe, f"auto({chosen})", **options)


def _baseline_method(name: str, family_solve: Callable[..., Result] = solve_baseline) -> Method:
    def method(problem, **options):
        return family_solve(problem, name)

    return method


METHODS: dict[type, dict[str, Method]] = {
    JobShop: {"auto": _auto, **{name: _recipe_method(name) for name in RECIPES}},
    PipelineProblem: {"cpsat": solve_cpsat, **{name: _baseline_method(name) for name in BASELINES}},
    ExpertProblem: {"cpsat": expert_methods.solve_cpsat,
                    **{name: _baseline_method(name, expert_methods.solve_baseline) for name in EXPERT_BASELINES}},
    JobShopVariant: {"cpsat": variant_methods.solve_cpsat},
    OffloadProblem: {"cpsat": offload_methods.solve_cpsat,
                     **{name: _baseline_method(name, offload_methods.solve_baseline) for name in OFFLOAD_BASELINES}},
}
DEFAULT_METHOD: dict[type, str] = {JobShop: "auto", PipelineProblem: "cpsat", ExpertProblem: "cpsat",
                                  OffloadProblem: "cpsat", JobShopVariant: "cpsat"}


def methods_for(problem: object) -> dict[str, Method]:
    family = METHODS.get(type(problem))
    if family is None:
        raise TypeError(f"no methods for problems of type {type(problem).__name__}")
    return family


DISPATCHING_FAMILIES = (JobShop, JobShopVariant)  # the families dispatching rules and the learned rule serve


def method_names(family: type = JobShop) -> list[str]:
    """Every method name a user may give, dispatching rules included."""
    if family not in DISPATCHING_FAMILIES:
        return list(METHODS[family])
    return [*METHODS[family], LEARNED, f"{LEARNED_SAMPLED}K", *(f"{DISPATCH_PREFIX}{rule}" for rule in RULES)]


def check_method(name: str, family: type = JobShop) -> str:
    """`name` if it names a method of `family` (a registered one, a dispatching rule such as
    `pdr:mwkr:active`, or the learned rule), else an InputError listing the valid names. Lets a
    sweep refuse a typo before it runs anything."""
    if name in METHODS[family]:
        return name
    if family in DISPATCHING_FAMILIES and learned_samples(name) is not None:
        return name
    if family in DISPATCHING_FAMILIES and name.startswith(DISPATCH_PREFIX):
        parse_rule(name[len(DISPATCH_PREFIX):])
        return name
    raise InputError(f"unknown method '{name}'; choose one of {', '.join(method_names(family))}")


def solve(
    problem: object,
    method: str | None = None,
    *,
    time_limit: float = 60.0,
    workers: int = 2,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    warm_start: str | None = None,
    weights: str | None = None,
) -> Result:
    """Solve `problem` with the named method (the family's default when None).

    `time_limit` counts everything, model building included. `warm_start` (a dispatching rule such as
    "mwkr", or "best") makes a method start from that rule's schedule: CP-SAT is hinted with every
    start and the makespan and its horizon cut to it; tabu search and LNS start from it. `weights` is
    a policy file for the learned rule (`pdr`, `pdr-sample:K`, as a method or a warm start) other
    than the shipped one. The returned solution has been checked by the family's `evaluate`.
    """
    family = methods_for(problem)
    name = method or DEFAULT_METHOD[type(problem)]
    if time_limit <= 0:
        raise InputError(f"the time limit must be positive, got {time_limit}")
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    is_learned = learned_samples(name) is not None
    if (name.startswith(DISPATCH_PREFIX) or is_learned) and isinstance(problem, DISPATCHING_FAMILIES):
        if warm_start is not None:
            raise InputError(f"--warm-start applies to the search methods, not to '{name}'")
        if is_learned:
            spec = label = name.strip().lower()
        else:
            spec = name[len(DISPATCH_PREFIX):]
            rule, non_delay = parse_rule(spec)
            label = f"{DISPATCH_PREFIX}{rule}" + ("" if non_delay else ":active")
        dispatcher = solve_dispatch if isinstance(problem, JobShop) else variant_methods.solve_dispatch
        return dispatcher(problem, spec, label, time_limit=time_limit, seed=seed, progress=progress,
                          weights=weights)
    check_method(name, type(problem))
    if not isinstance(problem, JobShop) and (warm_start is not None or weights is not None):
        raise InputError("--warm-start and --weights apply to job shops only")
    return family[name](problem, time_limit=time_limit, workers=workers, seed=seed, progress=progress,
                        warm_start=warm_start, weights=weights)
