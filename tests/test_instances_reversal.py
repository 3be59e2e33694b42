import numpy as np
import pytest

from cpsched.instances import JobShop, evaluate, load
from cpsched.instances.jobshop.generators import random_jobshop
from cpsched.instances.jobshop.problem import Schedule
from cpsched.instances.jobshop.reversal import left_justified, mirrored, reversed_jobshop
from cpsched.learned_pdr import RULES, dispatch
from cpsched.solvers import solve


def _ragged(seed: int) -> JobShop:
    """Jobs of different lengths, repeated machines and zero durations."""
    rng = np.random.default_rng(seed)
    jobs = [[(int(rng.integers(0, 4)), int(rng.integers(0, 9))) for _ in range(int(rng.integers(1, 7)))]
            for _ in range(int(rng.integers(1, 9)))]
    return JobShop.from_jobs(f"ragged{seed}", 4, jobs)


def test_reversing_turns_each_job_around_and_twice_gives_the_instance_back(tiny):
    backward = reversed_jobshop(tiny)
    assert [backward.job(j) for j in range(2)] == [[(1, 2), (0, 3)], [(0, 3), (1, 4)]]
    ft06 = load("ft06")
    twice = reversed_jobshop(reversed_jobshop(ft06))
    assert [twice.job(j) for j in range(6)] == [ft06.job(j) for j in range(6)]
    assert reversed_jobshop(ft06).lower_bound == ft06.lower_bound


def test_an_optimal_schedule_of_the_reversed_ft06_mirrors_to_an_optimal_one():
    ft06 = load("ft06")
    backward = solve(reversed_jobshop(ft06), "cpsat", time_limit=20)
    assert (backward.status, backward.objective) == ("optimal", 55)
    check = evaluate(ft06, mirrored(ft06, backward.solution.starts))
    assert check.feasible and check.makespan == 55


@pytest.mark.parametrize("rule", [rule for rule in RULES if rule != "random"])
def test_every_mirrored_schedule_is_feasible_and_no_longer(rule):
    for problem in [random_jobshop(8, 5, seed) for seed in range(3)] + [_ragged(seed) for seed in range(12)]:
        backward = reversed_jobshop(problem)
        schedule = dispatch(backward, rule, non_delay=False)
        check = evaluate(problem, mirrored(problem, schedule.starts))
        assert check.feasible, (problem.name, check.violations[:2])
        assert check.makespan <= evaluate(backward, schedule).makespan


def test_left_justifying_moves_operations_only_earlier_and_closes_every_gap(tiny):
    late = np.array([2, 9, 0, 5])  # job 0 waits 2 and 4 units that nothing holds it back for
    assert evaluate(tiny, Schedule(late)).feasible
    assert left_justified(tiny, late).tolist() == [0, 4, 0, 4]
    assert left_justified(tiny, np.array([0, 4, 0, 4])).tolist() == [0, 4, 0, 4]
