import time

from instances import evaluate, load
from instances.generators import random_jobshop
from learned_pdr import dispatch
from solvers.jobshop_lns import lns


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
