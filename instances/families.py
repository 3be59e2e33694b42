"""The data layer's registry: one line per problem family. `load` and `evaluate` read it."""

from __future__ import annotations

from typing import Any

from cpsched.instances import experts, jobshop, offload, pipeline
from cpsched.instances.errors import InputError
from cpsched.instances.kind import ProblemKind

KINDS: tuple[ProblemKind, ...] = (
    jobshop.KIND,
    jobshop.VARIANT_KIND,
    pipeline.KIND,
    experts.KIND,
    offload.KIND,
)


BY_PROBLEM_TYPE: dict[type, ProblemKind] = {kind.problem_type: kind for kind in KINDS}


def by_problem_type(table: dict[type, Any], problem: object, expected: str) -> Any:
    """`table`'s entry for `problem`'s type, or an InputError: `expected` one of the types, and what
    was given instead (each layer keeps its records in such a table)."""
    record = table.get(type(problem))
    if record is None:
        names = ", ".join(cls.__name__ for cls in table)
        raise InputError(f"{expected} {names}, got {type(problem).__name__}")
    return record


def kind_of(problem: object) -> ProblemKind:
    """The record of `problem`'s family, or an InputError naming what was given instead."""
    return by_problem_type(BY_PROBLEM_TYPE, problem, "problem: expected one of")


def evaluate(problem: object, solution: object) -> Any:
    """The independent check of any family's solution (never the model's own word): an evaluation
    with `.feasible`, `.violations` and `.objective`, the value the family minimises."""
    kind = kind_of(problem)
    if not isinstance(solution, kind.solution_type):
        raise InputError(f"solution: a {kind.problem_type.__name__} takes a {kind.solution_type.__name__}, "
                         f"got {type(solution).__name__}")
    return kind.evaluate(problem, solution)
