import time

import numpy as np

from instances import JobShop, evaluate, load
from instances.generators import random_jobshop
from learned_pdr import dispatch
from solvers.jobshop_lns import lns
from solvers.jobshop_tabu import tabu_search


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


def test_lns_stops_at_its_deadline():
    problem = load("ta71")
    start = dispatch(problem, "mwkr")
    limit = 1.5
    began = time.monotonic()
    outcome = lns(problem, start, deadline=began + limit, workers=1)
    elapsed = time.monotonic() - began
    # a correctness bound, not a speed test: each sub-solve is given only the time left, so the
    # overrun is one splice and one longest-path sweep (milliseconds at this size)
    assert elapsed < limit + 1.0
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
