import time

from cpsched.instances import evaluate, load
from cpsched.learned_pdr import RULES, best_dispatch, dispatch
from cpsched.solvers.jobshop.tabu import tabu_search


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


def test_compiled_moves_keep_order_heads_and_tails_exact_after_every_swap():
    import numpy as np

    from cpsched.instances.jobshop.generators import random_jobshop
    from cpsched.solvers.jobshop import tabu_kernel as kernel
    from cpsched.solvers.jobshop.graph import DisjunctiveGraph

    for problem in (load("ft10"), random_jobshop(15, 8, 4)):
        graph = DisjunctiveGraph.from_schedule(problem, dispatch(problem, "random", seed=1))
        n = problem.n_operations
        links = [np.asarray(x, dtype=np.int64) for x in
                 (graph.duration, graph.job_prev, graph.job_next, graph.machine_prev, graph.machine_next)]
        duration, job_prev, job_next, machine_prev, machine_next = links
        sinks = (problem.job_starts[1:] - 1).astype(np.int64)
        order, position = np.empty(n, np.int64), np.empty(n, np.int64)
        assert kernel.topological_order(job_prev, job_next, machine_prev, machine_next, order, position)
        head, tail = np.zeros(n, np.int64), np.zeros(n, np.int64)
        kernel.sweep_heads(order, 0, duration, job_prev, machine_prev, head)
        kernel.sweep_tails(order, n - 1, duration, job_next, machine_next, tail)
        state = np.zeros(kernel.STATE_SIZE, np.int64)
        state[kernel.RNG] = 12345
        mark, buffer = np.zeros(n, np.int64), np.empty(2 * n + 2, np.int64)
        path, moves = np.empty(n, np.int64), np.empty((n + 2, 2), np.int64)
        for step in range(150):
            makespan = kernel.makespan_of(head, duration, sinks)
            count = kernel.critical_moves(duration, job_prev, job_next, machine_prev, head, makespan, sinks, state,
                                          path, moves)
            assert count > 0
            u, v = moves[kernel._random(state, count)]
            assert machine_next[u] == v and job_next[u] != v
            kernel.swap_and_update(u, v, duration, job_prev, job_next, machine_prev, machine_next, order, position,
                                   head, tail, mark, 1 + 2 * step, buffer)
            graph.machine_prev, graph.machine_next = machine_prev.tolist(), machine_next.tolist()
            expected_head, expected_tail = graph.heads_and_tails()
            assert head.tolist() == expected_head and tail.tolist() == expected_tail
            assert all(position[o] < position[s] for o in range(n) for s in (job_next[o], machine_next[o]) if s >= 0)
            assert order[position].tolist() == list(range(n))
