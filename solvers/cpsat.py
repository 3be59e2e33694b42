"""The CP-SAT runner shared by every family.

It owns what every solve needs: a deadline that counts model building, workers and seed,
progress reports, an incumbent that starts from what the caller already has (a hint counts), so a
solve never returns worse than its warm start even when CP-SAT ends UNKNOWN, and Ctrl-C that stops
the search and keeps the best.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from cpsched.instances.errors import InputError


@dataclass(frozen=True)
class Progress:
    """One progress report: seconds since the solve began, incumbent and bound (None if unknown),
    and what the solver is doing when it is not searching yet (`note`)."""

    elapsed: float
    objective: float | None
    bound: float | None
    note: str | None = None


ProgressCallback = Callable[[Progress], None]


class Tracker:
    """The best objective and bound of one solve (minimisation), its trace, and progress reports.

    Every phase of a solve (a warm start, local search, CP-SAT) reports here, so the trace and the
    progress line stay monotone across phases."""

    def __init__(self, started: float, progress: ProgressCallback | None = None):
        self.started = started
        self.progress = progress
        self.objective: float | None = None
        self.bound: float | None = None
        self.trace: list[tuple[float, float | None, float | None]] = []
        self._lock = threading.Lock()

    def report(self, objective: float | None = None, bound: float | None = None) -> None:
        """Record a new incumbent or bound (when it moved) in the trace, and tell the progress callback."""
        with self._lock:
            better = objective is not None and (self.objective is None or objective < self.objective)
            tighter = bound is not None and (self.bound is None or bound > self.bound)
            if not (better or tighter):
                return
            if better:
                self.objective = objective
            if tighter:
                self.bound = bound
            entry = (time.monotonic() - self.started, self.objective, self.bound)
            self.trace.append(entry)
        if self.progress is not None:
            self.progress(Progress(*entry))


@dataclass
class CpsatOutcome:
    """What the runner found: the best full variable vector (None if no solution), its objective,
    the proved bound (None unless CP-SAT proved one), and the status. The trace is the Tracker's."""

    status: str
    values: np.ndarray | None
    objective: float | None
    bound: float | None
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
    total = sum(c * int(values[v]) for v, c in zip(objective.vars, objective.coeffs)) + objective.offset
    return objective.scaling_factor * total if objective.scaling_factor else total


class _Incumbent(cp_model.CpSolverSolutionCallback):
    """Keeps CP-SAT's best solution and reports each improvement."""

    def __init__(self, tracker: Tracker):
        super().__init__()
        self.tracker = tracker
        self.values: np.ndarray | None = None
        self.objective: float | None = None

    def on_solution_callback(self) -> None:
        objective = self.objective_value
        if self.objective is None or objective < self.objective:
            self.values = np.asarray(self.response_proto.solution, dtype=np.int64)
            self.objective = objective
            self.tracker.report(objective=objective)


def run_cpsat(
    model: cp_model.CpModel,
    *,
    deadline: float,
    tracker: Tracker,
    workers: int = 2,
    seed: int = 0,
    parameters: dict | None = None,
    initial: np.ndarray | None = None,
) -> CpsatOutcome:
    """Minimise `model` until `deadline` (a time.monotonic() value).

    `initial` is a full variable vector of a known solution (by default the model's hint, if
    complete): it is the first incumbent, whether or not the model is hinted with it.
    `parameters` are extra SatParameters fields.
    """
    if initial is None:
        initial = hinted_values(model)
    initial_objective = objective_of(model, initial) if initial is not None else None
    if initial_objective is not None:
        tracker.report(objective=initial_objective)

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        status = "feasible" if initial is not None else "unknown"
        return CpsatOutcome(status, initial, initial_objective, None)
    invalid = model.validate()
    if invalid:
        raise InputError(f"CP-SAT rejects the model: {invalid}")

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = remaining
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    for name, value in (parameters or {}).items():
        if isinstance(value, (list, tuple)):
            getattr(solver.parameters, name).extend(value)
        else:
            setattr(solver.parameters, name, value)
    solver.best_bound_callback = lambda bound: tracker.report(bound=bound)
    incumbent = _Incumbent(tracker)
    interrupted = threading.Event()
    status = _solve_interruptibly(solver, model, incumbent, interrupted)

    values, objective = incumbent.values, incumbent.objective
    if initial is not None and (objective is None or initial_objective < objective):
        values, objective = initial, initial_objective
    bound = None
    if status == cp_model.OPTIMAL:
        name, bound = "optimal", objective
    elif values is not None:
        name = "feasible"
        if status == cp_model.FEASIBLE:
            bound = solver.best_objective_bound
    elif status == cp_model.INFEASIBLE:
        name = "infeasible"
    else:
        name = "unknown"
    if bound is not None:
        tracker.report(bound=bound)
    return CpsatOutcome(name, values, objective, bound, interrupted.is_set())


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
    outcome: dict[str, object] = {}

    def search() -> None:
        try:
            outcome["status"] = solver.solve(model, incumbent)
        except BaseException as error:  # handed to the main thread below
            outcome["error"] = error

    def on_interrupt(signum, frame) -> None:
        interrupted.set()
        solver.stop_search()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        worker = threading.Thread(target=search, name="cp-sat")
        worker.start()
        while worker.is_alive():
            worker.join(timeout=0.1)
    finally:
        signal.signal(signal.SIGINT, previous)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["status"]
