import time

import pytest

import cpsched.learned_pdr.learned as learned_module
from cpsched.cpmodels.jobshop import build
from cpsched.instances import InputError, evaluate, load
from cpsched.instances.jobshop.generators import seeded_instance
from cpsched.learned_pdr import RULES, dispatch
from cpsched.solvers import solve
from cpsched.solvers.cpsat import Tracker, hinted_values, objective_of, run_cpsat
from cpsched.solvers.jobshop import recipes as jobshop_solvers


@pytest.mark.parametrize("method", ["cpsat", "cpsat-plain"])
def test_both_methods_prove_known_optima(method, ft06):
    result = solve(ft06, method, time_limit=20)
    assert (result.status, result.objective, result.bound) == ("optimal", 55, 55)
    assert evaluate(ft06, result.solution).makespan == result.objective
    assert result.metrics["gap_to_best_known"] == 0.0
    assert result.method == method


def test_la01_optimum_from_the_library_api():
    result = solve(load("la01"), time_limit=20)
    assert result.objective == 666 and result.status == "optimal"


def test_lns_finds_the_optimum_but_proves_only_the_simple_bound(ft06):
    result = solve(ft06, "lns", time_limit=5)
    assert (result.status, result.objective, result.bound) == ("feasible", 55, ft06.lower_bound)


def test_trace_improves_monotonically(ft06):
    result = solve(ft06, "cpsat-plain", time_limit=20)
    objectives = [o for _, o, _ in result.trace if o is not None]
    assert objectives == sorted(objectives, reverse=True) and objectives[-1] == 55


def test_hint_is_the_first_incumbent_even_without_time_to_search():
    problem = load("ta41")
    hint = dispatch(problem, "mwkr")
    built = build(problem, hint=hint)
    values = hinted_values(built.model)
    assert objective_of(built.model, values) == evaluate(problem, hint).makespan
    started = time.monotonic()
    outcome = run_cpsat(built.model, deadline=started - 1, tracker=Tracker(started))
    assert outcome.status == "feasible"
    assert outcome.objective == evaluate(problem, hint).makespan
    assert evaluate(problem, built.decode(outcome.values)).feasible


def test_a_solve_never_returns_worse_than_its_warm_start():
    problem = load("ta71")
    best_rule = min(evaluate(problem, dispatch(problem, rule)).makespan for rule in RULES)
    result = solve(problem, "cpsat", time_limit=3)
    assert result.objective <= best_rule
    assert evaluate(problem, result.solution).feasible
    assert result.bound >= problem.lower_bound


def test_bad_arguments_are_input_errors(ft06):
    unknown = "unknown method 'magic' for job shops; choose one of auto, cpsat-plain, cpsat, lns, pdr, pdr-sample:K"
    with pytest.raises(InputError, match=unknown):
        solve(ft06, "magic")
    with pytest.raises(InputError, match=r"^solve\(\): time_limit must be a positive number of seconds, got 0$"):
        solve(ft06, time_limit=0)


def test_an_unhinted_warm_start_is_still_the_first_incumbent():
    problem = load("ta41")
    warm = dispatch(problem, "mwkr", non_delay=True)
    built = build(problem)
    started = time.monotonic()
    tracker = Tracker(started)
    outcome = run_cpsat(built.model, deadline=started - 1, tracker=tracker,
                        initial=built.values_of(problem, warm))
    assert outcome.objective == problem.makespan_of(warm.starts)
    assert tracker.trace[-1][1] == outcome.objective


def test_a_time_limit_too_short_to_search_returns_the_dispatched_schedule_marked_as_such():
    problem = load("ta71")
    result = solve(problem, "cpsat-plain", warm_start="mwkr", time_limit=0.001)
    assert result.status == "feasible" and result.metrics["found_by"] == "dispatch"
    assert result.objective == evaluate(problem, dispatch(problem, "mwkr")).makespan


def test_the_time_limit_bounds_the_rule_too_and_a_warm_start_s_greedy_pair_completes(ft06):
    problem = load("ta71")  # 2,000 operations: its greedy rollout alone takes far longer than 1 ms
    pair = solve(problem, "pdr", time_limit=60)
    assert (pair.metrics["rollouts"], pair.metrics["rollouts_asked"]) == (2, 2)
    for method in ("pdr", "pdr-sample:32"):  # the limit is kept: no schedule, and the reason
        rushed = solve(problem, method, time_limit=0.001)
        assert (rushed.solution, rushed.status) == (None, "unknown")
        assert rushed.metrics["reason"].startswith("the rule did not finish its schedule within the time limit")
    warm = solve(problem, "cpsat-plain", warm_start="pdr-sample:32", time_limit=0.001)
    assert (warm.objective, warm.metrics["found_by"]) == (pair.objective, "dispatch")
    unhurried = solve(ft06, "pdr-sample:4", time_limit=60)
    assert (unhurried.metrics["rollouts"], unhurried.metrics["rollouts_asked"]) == (4, 4)
    assert unhurried.trace[-1][1] == unhurried.objective


def test_ctrl_c_during_the_warm_start_keeps_the_first_dispatched_schedule(monkeypatch):
    def interrupted(*args, **kwargs):  # Ctrl-C while the learned rule, the second one `best` tries, runs
        raise KeyboardInterrupt

    monkeypatch.setattr(learned_module, "rollout", interrupted)
    problem = load("ta41")
    result = solve(problem, "cpsat", time_limit=60)
    assert (result.metrics["interrupted"], result.metrics["found_by"], result.status) == (True, "dispatch", "feasible")
    assert result.objective == evaluate(problem, dispatch(problem, "fdd/mwkr")).makespan


def test_warm_started_cpsat_is_never_worse_than_its_rule():
    problem = load("ta71")
    result = solve(problem, "cpsat-plain", warm_start="spt:active", time_limit=2)
    assert result.objective <= evaluate(problem, dispatch(problem, "spt", non_delay=False)).makespan
    assert result.method == "cpsat-plain"


def test_auto_switches_to_lns_on_large_instances():
    small = solve(load("ft06"), time_limit=5)
    assert small.method == "auto(cpsat)" and small.objective == 55
    large = seeded_instance(100, 50, 1)  # 5,000 operations
    result = solve(large, time_limit=4)
    assert result.method == "auto(large)"
    assert evaluate(large, result.solution).makespan == result.objective
    assert result.objective <= large.makespan_of(dispatch(large, "fdd/mwkr").starts)


def test_a_model_too_big_for_memory_is_refused_before_building(monkeypatch):
    problem = seeded_instance(300, 40, 2)  # 12,000 operations
    need = problem.n_operations * jobshop_solvers.MODEL_BYTES_PER_OPERATION
    monkeypatch.setattr(jobshop_solvers, "available_memory", lambda: need // 2)
    with pytest.raises(InputError, match=r"gen300x40s2: the whole CP-SAT model of 12000 operations needs about "
                                         r"0\.3 GB, only 0\.2 GB is available; use --method lns or auto"):
        solve(problem, "cpsat", time_limit=5)
    assert jobshop_solvers.auto_recipe(problem)[0] == "large"


def test_even_the_search_refuses_an_instance_beyond_the_memory(monkeypatch):
    monkeypatch.setattr(jobshop_solvers, "available_memory", lambda: 2**17)
    with pytest.raises(InputError, match=r"ft06: the search of 36 operations needs about 0\.0 GB, only 0\.0 GB is "
                                         r"available; split the instance or use a larger machine"):
        solve(load("ft06"), "lns", time_limit=5)


def test_a_search_that_reaches_the_lower_bound_stops_there_proved_optimal():
    problem = load("la11")  # its optimum equals the machine bound
    result = solve(problem, "cpsat", time_limit=60)
    assert result.status == "optimal" and result.objective == problem.lower_bound == 1222
    assert result.metrics["found_by"] in ("dispatch", "tabu")  # CP-SAT never started
