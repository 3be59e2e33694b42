"""The CP-SAT runner shared by every family.

It owns what every solve needs: a deadline that counts model building, workers and seed,
progress reports, an incumbent that starts from the model's hint (so a solve never returns worse
than its hint, even when CP-SAT ends UNKNOWN), and Ctrl-C that stops the search and keeps the best.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model


@dataclass(frozen=True)
class Progress:
    """One progress report: seconds since the solve began, incumbent and bound (None if unknown)."""

    elapsed: float
    objective: float | None
    bound: float | None


ProgressCallback = Callable[[Progress], None]


@dataclass
class CpsatOutcome:
    """What the runner found: the best full variable vector (None if no solution), its objective,
    the proved bound, the status and the trace of improvements."""

    status: str
    values: np.ndarray | None
    objective: float | None
    bound: float | None
    trace: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    interrupted: bool = False


def hinted_values(model: cp_model.CpModel) -> np.ndarray | None:
    """The hint as a full variable vector, or None unless every variable is hinted."""
    proto = model.proto
    hint = proto.solution_hint
    n_vars = len(proto.variables)
    if len(hint.vars) != n_vars:
        return None
    values = np.zeros(n_vars, dtype=np.int64)
    values[np.asarray(hint.vars, dtype=np.int64)] = np.asarray(hint.values, dtype=np.int64)
    return values


def objective_of(model: cp_model.CpModel, values: np.ndarray) -> float:
    """The model's (linear) objective at a full variable vector."""
    objective = model.proto.objective
    total = sum(c * int(values[v]) for v, c in zip(objective.vars, objective.coeffs))
    return objective.scaling_factor * (total + objective.offset) if objective.scaling_factor else (
        total + objective.offset
    )


class _Incumbent(cp_model.CpSolverSolutionCallback):
    """Keeps the best solution and reports each improvement."""

    def __init__(self, started: float, report: Callable[[float | None, float | None], None]):
        super().__init__()
        self.started = started
        self.values: np.ndarray | None = None
        self.objective: float | None = None
        self.report = report

    def on_solution_callback(self) -> None:
        objective = self.objective_value
        if self.objective is None or objective < self.objective:
            self.values = np.asarray(self.response_proto.solution, dtype=np.int64)
            self.objective = objective
            self.report(objective, None)


def run_cpsat(
    model: cp_model.CpModel,
    *,
    deadline: float,
    started: float,
    workers: int = 2,
    seed: int = 0,
    parameters: dict | None = None,
    progress: ProgressCallback | None = None,
) -> CpsatOutcome:
    """Solve a minimisation `model` until `deadline` (a time.monotonic() value).

    `started` is when the whole solve began (model building included) so that the trace and the
    time limit count from there. `parameters` are extra SatParameters fields.
    """
    trace: list[tuple[float, float | None, float | None]] = []
    state = {"objective": None, "bound": None}
    lock = threading.Lock()

    def report(objective: float | None, bound: float | None) -> None:
        with lock:
            if objective is not None:
                state["objective"] = objective
            if bound is not None:
                state["bound"] = bound
            entry = (time.monotonic() - started, state["objective"], state["bound"])
            trace.append(entry)
        if progress is not None:
            progress(Progress(*entry))

    initial = hinted_values(model)
    initial_objective = objective_of(model, initial) if initial is not None else None
    if initial_objective is not None:
        report(initial_objective, None)

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return CpsatOutcome("feasible" if initial is not None else "unknown", initial,
                            initial_objective, None, trace)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = remaining
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    for name, value in (parameters or {}).items():
        if isinstance(value, (list, tuple)):
            getattr(solver.parameters, name).extend(value)
        else:
            setattr(solver.parameters, name, value)
    solver.best_bound_callback = lambda bound: report(None, bound)
    incumbent = _Incumbent(started, report)

    interrupted = threading.Event()
    status = _solve_interruptibly(solver, model, incumbent, interrupted)
    values, objective = incumbent.values, incumbent.objective
    if initial is not None and (objective is None or initial_objective < objective):
        values, objective = initial, initial_objective
    bound = solver.best_objective_bound if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None
    if bound is None and state["bound"] is not None:
        bound = state["bound"]
    if status == cp_model.OPTIMAL:
        name = "optimal"
    elif status == cp_model.INFEASIBLE:
        name = "infeasible"
    elif values is not None:
        name = "feasible"
    else:
        name = "unknown"
    if name == "optimal":
        bound = objective
    return CpsatOutcome(name, values, objective, bound, trace, interrupted.is_set())


def _solve_interruptibly(
    solver: cp_model.CpSolver,
    model: cp_model.CpModel,
    incumbent: cp_model.CpSolverSolutionCallback,
    interrupted: threading.Event,
) -> int:
    """Solve; Ctrl-C stops the search (the best solution is kept) and sets `interrupted`.

    Python runs signal handlers only in the main thread between bytecodes, so the search runs in
    a helper thread while the main thread waits, ready to handle SIGINT.
    """
    if threading.current_thread() is not threading.main_thread():
        return solver.solve(model, incumbent)
    solver.parameters.catch_sigint_signal = False
    outcome: dict[str, int] = {}

    def on_interrupt(signum, frame) -> None:
        interrupted.set()
        solver.stop_search()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        worker = threading.Thread(target=lambda: outcome.update(status=solver.solve(model, incumbent)))
        worker.start()
        while worker.is_alive():
            worker.join(timeout=0.1)
    finally:
        signal.signal(signal.SIGINT, previous)
    return outcome["status"]
