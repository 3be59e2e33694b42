import time

import numpy as np
from ortools.sat.python import cp_model

from cpsched.instances import JobShop, evaluate, load
from cpsched.instances.jobshop.generators import random_jobshop
from cpsched.learned_pdr import dispatch
from cpsched.solvers.jobshop import lns as jobshop_lns
from cpsched.solvers.jobshop.lns import lns
from cpsched.solvers.jobshop.tabu import tabu_search


def test_a_window_covering_the_whole_instance_solves_ft06():
    ft06 = load("ft06")
    start = dispatch(ft06, "spt", non_delay=False)
    outcome = lns(ft06, start, deadline=time.monotonic() + 60, max_moves=20, workers=1)
    assert outcome.makespan == 55 and evaluate(ft06, outcome.schedule).makespan == 55


def test_lns_never_returns_worse_than_its_start_and_improves_a_poor_one():
    for problem in (load("ta41"), random_jobshop(30, 10, 3)):
        start = dispatch(problem, "lpt", non_delay=False)
        before = problem.makespan_of(start.starts)
        outcome = lns(problem, start, deadline=time.monotonic() + 60, max_moves=40, workers=1, initial_size=60)
        check = evaluate(problem, outcome.schedule)
        assert check.feasible and check.makespan == outcome.makespan
        assert outcome.makespan < before
        assert outcome.moves <= 40 and sum(outcome.tried.values()) == outcome.moves
        assert outcome.improvements >= 1


class _SteppingClock:
    """A clock that moves a fixed step at every reading, so the deadline logic is tested without
    depending on how fast this machine solves."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


def test_lns_gives_each_move_only_the_time_left_and_stops_at_its_deadline(monkeypatch):
    problem = load("ta41")
    start = dispatch(problem, "mwkr")
    clock = _SteppingClock(0.3)
    deadline = 2.0
    granted: list[tuple[float, float]] = []  # (the move's time limit, the time left when it began)

    class RecordingSolver(cp_model.CpSolver):
        def solve(self, model, *args, **kwargs):
            granted.append((self.parameters.max_time_in_seconds, deadline - clock.now))
            return super().solve(model, *args, **kwargs)

    monkeypatch.setattr(jobshop_lns, "time", clock)
    monkeypatch.setattr(jobshop_lns.cp_model, "CpSolver", RecordingSolver)
    outcome = lns(problem, start, deadline=deadline, workers=1)
    assert 1 <= outcome.moves == len(granted)
    assert all(limit <= left for limit, left in granted)
    assert granted[-1][0] < 1.0  # the last move was cut to what was left, not the usual 1 s
    assert deadline - clock.now < jobshop_lns.MIN_SOLVE_SECONDS + clock.step
    assert outcome.makespan <= problem.makespan_of(start.starts)
    assert evaluate(problem, outcome.schedule).feasible


def test_lns_keeps_zero_duration_operations_off_the_machines_like_evaluate():
    """Zero-duration operations hold no machine: LNS and tabu must not chain them (a chained one
    would be pushed behind a busy operation and could lengthen its job)."""
    rng = np.random.default_rng(5)
    for seed in range(6):
        jobs = [[(int(rng.integers(0, 4)), int(rng.choice([0, 0, 3, 7, 12]))) for _ in range(5)] for _ in range(7)]
        problem = JobShop.from_jobs(f"zeros{seed}", 4, jobs)
        start = dispatch(problem, "random", seed=seed)
        outcome = lns(problem, start, deadline=time.monotonic() + 60, max_moves=15, workers=1, initial_size=12,
                      seed=seed)
        check = evaluate(problem, outcome.schedule)
        assert check.feasible and check.makespan == outcome.makespan <= problem.makespan_of(start.starts)
        tabu = tabu_search(problem, start, deadline=time.monotonic() + 60, max_iterations=200, seed=seed)
        assert evaluate(problem, tabu.schedule).makespan == tabu.makespan <= problem.makespan_of(start.starts)
