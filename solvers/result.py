"""`Result`: what every method of every family returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cpsched.instances.jobshop.problem import Evaluation


@dataclass
class Result:
    """The outcome of a solve. `status` is optimal, feasible, infeasible or unknown; `solution` has
    been checked by the family's `evaluate`.

    `trace` holds (seconds, objective, bound) each time the incumbent or the bound moved;
    `metrics` holds family-specific numbers (gaps, sizes, ...).
    """

    status: str
    objective: float | None
    bound: float | None
    solution: Any
    method: str
    wall_time: float
    trace: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Everything but the solution, as JSON-ready values."""
        return {
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "method": self.method,
            "wall_time": round(self.wall_time, 3),
            **self.metrics,
            "trace": [[round(t, 3), o, b] for t, o, b in self.trace],
        }


def checked_makespan(check: Evaluation, method: str) -> int:
    """The makespan of a schedule its family's checker accepted: a method returning one it refuses
    has a bug, which must stop the run rather than reach a report."""
    if not check.feasible:
        raise AssertionError(f"{method} returned an infeasible schedule: {check.violations[:3]}")
    return check.makespan
