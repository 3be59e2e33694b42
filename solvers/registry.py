"""The registry of problem families, and `solve`, the one entry point for all of them."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path

from cpsched.instances.errors import InputError
from cpsched.instances.families import by_problem_type
from cpsched.solvers.cpsat import ProgressCallback
from cpsched.solvers.experts.family import EXPERTS
from cpsched.solvers.family import Family, MethodSpec
from cpsched.solvers.jobshop.family import JOBSHOP, JOBSHOP_VARIANT
from cpsched.solvers.offload.family import OFFLOAD
from cpsched.solvers.pipeline.family import PIPELINE
from cpsched.solvers.result import Result

FAMILIES: tuple[Family, ...] = (JOBSHOP, JOBSHOP_VARIANT, PIPELINE, EXPERTS, OFFLOAD)

DISPATCH_OPTIONS = ("weights",)  # what a dispatching rule takes, in any family that has them


def families() -> tuple[Family, ...]:
    """Every registered family, in the order `--help` lists them."""
    return FAMILIES


_BY_PROBLEM_TYPE = {family.kind.problem_type: family for family in FAMILIES}


def family_of(problem: object) -> Family:
    """The family `problem` belongs to, or an InputError naming what was given instead."""
    return by_problem_type(_BY_PROBLEM_TYPE, problem, "solve(): problem must be one of")


def solve(
    problem: object,
    method: str | None = None,
    *,
    time_limit: float = 60.0,
    workers: int = 2,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    **options: object,
) -> Result:
    """Solve `problem` with the named method (the family's default when None).

    `time_limit` counts everything, model building included. Job shops also take `warm_start` (a
    dispatching rule such as "mwkr", "pdr", or "best"): CP-SAT is hinted with every start and the
    makespan and its horizon cut to it; tabu search and LNS start from it. `weights` is a policy file
    for the learned rule (`pdr`, `pdr-sample:K`, as a method or a job shop warm start) other than the
    shipped one. A keyword the family does not take is refused. The returned solution has been
    checked by the family's `evaluate`.
    """
    family = family_of(problem)
    spec = family.parse_method(method)
    if isinstance(time_limit, bool) or not isinstance(time_limit, Real) or not math.isfinite(time_limit) \
            or time_limit <= 0:
        raise InputError(f"solve(): time_limit must be a positive number of seconds, got {time_limit!r}")
    if isinstance(workers, bool) or not isinstance(workers, Integral) or workers < 1:
        raise InputError(f"solve(): workers must be a whole number of at least 1, got {workers!r}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed < 2**31:
        raise InputError(f"solve(): seed must be a whole number in 0..2^31-1, got {seed!r}")
    given = {name: value for name, value in options.items() if value is not None}
    for name in given:
        reason = refusal(name, family, spec)
        if reason is not None:
            raise InputError(f"solve(): {reason}")
    if "weights" in given and not Path(given["weights"]).is_file():
        raise InputError(f"solve(): weights: no such file: {given['weights']}")
    time_limit, workers, seed = float(time_limit), int(workers), int(seed)
    if spec.rule is not None:
        return family.dispatch(problem, spec.rule, spec.label, time_limit=time_limit, seed=seed, progress=progress,
                               weights=given.get("weights"))
    return family.methods[spec.registered](problem, time_limit=time_limit, workers=workers, seed=seed,
                                           progress=progress, **given)


def refusal(keyword: str, family: Family, spec: MethodSpec, spell: Callable[[str], str] = str) -> str | None:
    """Why `keyword` does not apply to `spec` of `family` (None when it does), and where it would;
    `spell` writes a keyword as the caller knows it (the CLI: `--warm-start`)."""
    allowed = DISPATCH_OPTIONS if spec.rule is not None else family.options
    if keyword in allowed:
        return None
    name = spell(keyword)
    if keyword in family.options:  # a search method's keyword, given with a dispatching rule
        return f"{name} applies to the search methods, not to '{spec.label}'"
    if keyword in DISPATCH_OPTIONS and family.dispatch is not None:
        return f"{name} applies to the learned rule (pdr, pdr-sample:K), not to '{spec.label}'"
    takers = [f.title for f in FAMILIES if keyword in f.options]
    if takers:
        return f"{name} does not apply to {family.title}; it applies to {' and '.join(takers)}"
    known = sorted({option for f in FAMILIES for option in f.options})
    return f"unknown keyword '{keyword}' (the families take: {', '.join(known)})"
