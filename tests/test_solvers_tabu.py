import time

from instances import evaluate, load
from learned_pdr import RULES, best_dispatch, dispatch
from solvers.jobshop_tabu import tabu_search


def test_tabu_search_finds_the_ft06_optimum_from_a_poor_start(ft06):
    start = dispatch(ft06, "spt", non_delay=False)
    assert evaluate(ft06, start).makespan == 94
    outcome = tabu_search(ft06, start, deadline=time.monotonic() + 60, max_iterations=5000)
    assert outcome.makespan == 55 and evaluate(ft06, outcome.schedule).makespan == 55


def test_tabu_search_improves_and_is_deterministic_per_seed():
    problem = load("ta41")
    start = best_dispatch(problem)
    far = time.monotonic() + 600
    first = tabu_search(problem, start, deadline=far, max_iterations=300, seed=1)
    again = tabu_search(problem, start, deadline=far, max_iterations=300, seed=1)
    check = evaluate(problem, first.schedule)
    assert check.feasible and check.makespan == first.makespan
    assert first.makespan < evaluate(problem, start).makespan
    assert first.schedule.starts.tolist() == again.schedule.starts.tolist()


def test_tabu_search_stops_when_it_reaches_the_lower_bound():
    problem = load("la11")  # its optimum equals the machine bound
    outcome = tabu_search(problem, dispatch(problem, "spt"), deadline=time.monotonic() + 600, max_iterations=50000)
    assert outcome.makespan == problem.lower_bound == 1222
    assert outcome.iterations < 50000


def test_every_rule_gives_feasible_active_and_non_delay_schedules():
    for name in ("ft06", "la01", "orb07", "ta01"):
        problem = load(name)
        for rule in RULES:
            for non_delay in (False, True):
                check = evaluate(problem, dispatch(problem, rule, non_delay))
                assert check.feasible, (name, rule, non_delay)
                assert check.makespan >= problem.lower_bound


def test_incremental_heads_match_a_full_recomputation_after_every_swap():
    import random

    from instances.generators import random_jobshop
    from solvers.jobshop_graph import DisjunctiveGraph, Timing
    from solvers.jobshop_tabu import _critical_moves

    for problem in (load("ft10"), random_jobshop(15, 8, 4)):
        graph = DisjunctiveGraph.from_schedule(problem, dispatch(problem, "random", seed=1))
        timing = Timing(graph, (problem.job_starts[1:] - 1).tolist())
        sinks = (problem.job_starts[1:] - 1).tolist()
        rng = random.Random(0)
        for _ in range(150):
            moves = _critical_moves(graph, timing.head, timing.makespan(), rng, sinks)
            timing.swap(*rng.choice(moves))
            timing.refresh_tails()
            head, tail = graph.heads_and_tails()
            assert (timing.head, timing.tail) == (head, tail)
            assert timing.makespan() == max(h + d for h, d in zip(head, graph.duration))
            position = timing.position
            assert all(position[o] < position[s] for o in range(problem.n_operations)
                       for s in (graph.job_next[o], graph.machine_next[o]) if s >= 0)
