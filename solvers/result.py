"""`Result` and `Status`: what every method of every family returns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import Evaluation
from cpsched.instances.serialization import parse_json, plain


class Status(str, Enum):
    """How a solve ended. A str enum: `Status.OPTIMAL == "optimal"`, and it prints as its value.

    OPTIMAL: proved optimal for the problem as stated. FEASIBLE: a checked solution, not proved
    optimal. INFEASIBLE: proved to have no solution (or the only one found broke a rule). UNKNOWN:
    no solution found in the time given.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@dataclass
class Result:
    """The outcome of a solve; `solution` has been checked by the family's `evaluate`.

    `trace` holds (seconds, objective, bound) each time the incumbent or the bound moved;
    `metrics` holds family-specific numbers (gaps, sizes, baselines, ...).
    """

    status: Status
    objective: float | None
    bound: float | None
    solution: Any
    method: str
    wall_time: float
    trace: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def interrupted(self) -> bool:
        """Stopped by Ctrl-C (SIGINT) with the best solution so far kept."""
        return bool(self.metrics.get("interrupted"))

    def summary(self) -> dict[str, Any]:
        """Everything but the solution, as JSON-ready values (numpy numbers included)."""
        return plain({
            "status": self.status.value,
            "objective": self.objective,
            "bound": self.bound,
            "method": self.method,
            "wall_time": round(self.wall_time, 3),
            **self.metrics,
            "trace": [[round(t, 3), o, b] for t, o, b in self.trace],
        })

    def to_dict(self) -> dict[str, Any]:
        """Everything, the solution included (with its type's name), as JSON-ready values."""
        solution = None
        if self.solution is not None:
            solution = {"type": type(self.solution).__name__, **self.solution.to_dict()}
        return {"status": self.status.value, "objective": self.objective, "bound": self.bound,
                "method": self.method, "wall_time": self.wall_time,
                "trace": [list(point) for point in self.trace], "metrics": plain(self.metrics),
                "solution": solution}

    def to_json(self) -> str:
        """`to_dict` as a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """The Result `to_dict` wrote (any family's solution type)."""
        from cpsched.instances.families import KINDS

        where = "Result.from_dict"
        if not isinstance(data, dict):
            raise InputError(f"expected a dict, got {type(data).__name__}", source=where)
        missing = [key for key in ("status", "objective", "bound", "method", "wall_time") if key not in data]
        if missing:
            raise InputError(f"missing field '{missing[0]}'", source=where)
        try:
            status = Status(data["status"])
        except ValueError:
            raise InputError(f"status '{data['status']}' is not one of {', '.join(s.value for s in Status)}",
                             source=where) from None
        for key in ("objective", "bound", "wall_time"):
            value = data[key]
            optional = value is None and key != "wall_time"
            if isinstance(value, bool) or not (isinstance(value, (int, float)) or optional):
                raise InputError(f"field '{key}' must be a number, got {value!r:.40}", source=where)
        if not isinstance(data["method"], str):
            raise InputError(f"field 'method' must be a string, got {data['method']!r:.40}", source=where)
        trace, metrics = data.get("trace", []), data.get("metrics", {})
        if not isinstance(trace, list) or not all(isinstance(point, list) and len(point) == 3 for point in trace):
            raise InputError("field 'trace' must be a list of [seconds, objective, bound]", source=where)
        if not isinstance(metrics, dict):
            raise InputError("field 'metrics' must be an object", source=where)
        solution = data.get("solution")
        if solution is not None:
            if not isinstance(solution, dict):
                raise InputError("field 'solution' must be an object with a 'type'", source=where)
            solution = dict(solution)
            name = solution.pop("type", None)
            types = {kind.solution_type.__name__: kind.solution_type for kind in KINDS}
            if name not in types:
                raise InputError(f"solution type {name!r} is not one of {', '.join(types)}", source=where)
            solution = types[name].from_dict(solution, f"{where}: solution")
        return cls(status, data["objective"], data["bound"], solution, data["method"], data["wall_time"],
                   [tuple(point) for point in trace], dict(metrics))

    @classmethod
    def from_json(cls, text: str) -> Result:
        """The Result `to_json` wrote; an InputError for anything else."""
        return cls.from_dict(parse_json(text, "Result.from_json"))


def checked_makespan(check: Evaluation, method: str) -> int:
    """The makespan of a schedule its family's checker accepted: a method returning one it refuses
    has a bug, which must stop the run rather than reach a report."""
    if not check.feasible:
        raise AssertionError(f"{method} returned an infeasible schedule: {check.violations[:3]}")
    return check.makespan
