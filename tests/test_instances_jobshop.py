import numpy as np
import pytest

from cpsched.instances import InputError, JobShop, Schedule, best_known, bundled_names, evaluate, load
from cpsched.instances.catalog import FAMILIES


def test_all_242_instances_load_with_the_size_their_bounds_record():
    names = bundled_names()
    assert len(names) == 242
    assert {family for family in names.values()} == set(FAMILIES)
    for name in names:
        problem = load(name)
        known = best_known(name)
        assert (problem.n_jobs, problem.n_machines) == (known.jobs, known.machines), name
        assert problem.lower_bound <= known.lower_bound <= known.upper_bound, name


def test_ft06_data_heads_tails_and_bounds(ft06):
    assert ft06.size == "6x6" and ft06.n_operations == 36
    assert ft06.job(0) == [(2, 1), (0, 3), (1, 6), (3, 7), (5, 3), (4, 6)]
    assert ft06.heads[:6].tolist() == [0, 1, 4, 10, 17, 20]
    assert ft06.tails[:6].tolist() == [25, 22, 16, 9, 6, 0]
    assert ft06.lower_bound == 52  # optimum is 55
    assert best_known("ft06").upper_bound == 55 and best_known("mt06").closed


def test_orb07_keeps_its_zero_duration_operation():
    orb07 = load("orb07")
    assert orb07.durations.min() == 0
    assert orb07.durations[orb07.job_starts[9] + 9] == 0


def test_jobs_may_have_different_lengths():
    problem = JobShop.from_jobs("ragged", 3, [[(0, 2)], [(1, 1), (2, 5), (0, 1)]])
    assert problem.n_operations == 4
    assert problem.is_last.tolist() == [True, False, False, True]
    assert problem.lower_bound == 7
    assert evaluate(problem, Schedule(np.array([0, 0, 1, 6]))).makespan == 7


def test_evaluate_accepts_a_feasible_schedule(tiny):
    result = evaluate(tiny, Schedule(np.array([0, 4, 0, 4])))
    assert result.feasible and result.makespan == 7


def test_evaluate_lists_every_violation(tiny):
    result = evaluate(tiny, Schedule(np.array([0, 2, -1, 1])))
    assert result.violations == [
        "job 1 operation 0 starts at -1 < 0",
        "job 0 operation 1 starts at 2 before its predecessor ends at 3",
        "job 1 operation 1 starts at 1 before its predecessor ends at 3",
        "machine 0: job 0 operation 0 [0, 3) overlaps job 1 operation 1 [1, 4)",
        "machine 1: job 1 operation 0 [-1, 3) overlaps job 0 operation 1 [2, 4)",
    ]


def test_evaluate_finds_overlaps_that_are_not_neighbours():
    problem = JobShop.from_jobs("nest", 1, [[(0, 10)], [(0, 2)], [(0, 2)]])
    result = evaluate(problem, Schedule(np.array([0, 2, 6])))
    assert len(result.violations) == 2


def test_zero_duration_operations_occupy_no_machine_time():
    problem = JobShop.from_jobs("zero", 1, [[(0, 5)], [(0, 0)]])
    assert evaluate(problem, Schedule(np.array([0, 2]))).feasible


def test_evaluate_rejects_a_schedule_of_the_wrong_length(tiny):
    assert evaluate(tiny, Schedule(np.array([0, 1]))).violations == ["expected 4 start times, got 2"]


def test_unknown_names_and_missing_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="neither a file nor a bundled instance name"):
        load("ta99")
    with pytest.raises(InputError, match="not a regular file"):
        load(tmp_path)


def test_best_known_bounds_apply_only_to_the_real_instance(tmp_path):
    from cpsched.instances.catalog import best_known_for
    from cpsched.instances.jobshop.formats import format_jobshop

    assert best_known_for(load("ta01")).upper_bound == 1231
    edited = load("ta01")
    text = format_jobshop(edited, "standard").replace(" 94 ", " 95 ", 1)
    (tmp_path / "ta01.txt").write_text(text)
    assert best_known_for(load(tmp_path / "ta01.txt")) is None


def test_problems_are_validated_when_built():
    with pytest.raises(InputError, match="every job needs at least one operation"):
        JobShop.from_jobs("empty", 1, [[(0, 1)], []])
    with pytest.raises(InputError, match=r"machine numbers must lie in 0\.\.1"):
        JobShop.from_jobs("range", 2, [[(2, 1)]])
    with pytest.raises(InputError, match="durations must not be negative"):
        JobShop.from_jobs("negative", 1, [[(0, -1)]])
