"""The registry of methods per problem family, and `solve`, the one entry point for all of them."""

from __future__ import annotations

from collections.abc import Callable

from instances.errors import InputError
from instances.jobshop import JobShop
from solvers.cpsat import ProgressCallback
from solvers.jobshop import RECIPES, solve_cpsat
from solvers.result import Result

Method = Callable[..., Result]


def _cpsat_method(name: str) -> Method:
    def method(problem, *, time_limit, workers, seed, progress):
        return solve_cpsat(problem, RECIPES[name], name, time_limit=time_limit, workers=workers,
                           seed=seed, progress=progress)

    return method


METHODS: dict[type, dict[str, Method]] = {
    JobShop: {name: _cpsat_method(name) for name in RECIPES},
}
DEFAULT_METHOD: dict[type, str] = {JobShop: "cpsat"}


def methods_for(problem: object) -> dict[str, Method]:
    family = METHODS.get(type(problem))
    if family is None:
        raise TypeError(f"no methods for problems of type {type(problem).__name__}")
    return family


def solve(
    problem: object,
    method: str | None = None,
    *,
    time_limit: float = 60.0,
    workers: int = 2,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> Result:
    """Solve `problem` with the named method (the family's default when None).

    `time_limit` counts everything, model building included. The returned solution has been checked
    by the family's `evaluate`.
    """
    family = methods_for(problem)
    name = method or DEFAULT_METHOD[type(problem)]
    if name not in family:
        raise InputError(f"unknown method '{name}'; choose one of {', '.join(family)}")
    if time_limit <= 0:
        raise InputError(f"the time limit must be positive, got {time_limit}")
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    return family[name](problem, time_limit=time_limit, workers=workers, seed=seed, progress=progress)
