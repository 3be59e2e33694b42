import numpy as np
from ortools.sat.python import cp_model

from cpsched.cpmodels.jobshop import build
from cpsched.instances import evaluate, load
from cpsched.learned_pdr import dispatch


def solve_model(built, seconds=20.0):
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 0
    status = solver.solve(built.model)
    return status, solver


def test_textbook_model_proves_the_ft06_optimum(ft06):
    built = build(ft06)
    assert built.horizon == ft06.sum_of_durations()
    status, solver = solve_model(built)
    assert status == cp_model.OPTIMAL and solver.objective_value == 55
    schedule = built.decode(np.array(solver.response_proto.solution))
    assert evaluate(ft06, schedule).makespan == 55


def test_tight_model_with_cumulative_relaxation_proves_the_same_optimum(ft06):
    hint = dispatch(ft06, "mopnr")
    horizon = evaluate(ft06, hint).makespan
    built = build(ft06, hint=hint, horizon=horizon, tighten_domains=True, cumulative_relaxation=True)
    status, solver = solve_model(built)
    assert status == cp_model.OPTIMAL and solver.objective_value == 55


def test_hint_is_complete_and_feasible(ft06):
    hint = dispatch(ft06, "mwkr")
    horizon = evaluate(ft06, hint).makespan
    built = build(ft06, hint=hint, horizon=horizon, tighten_domains=True)
    proto = built.model.proto
    assert len(proto.solution_hint.vars) == len(proto.variables)
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.num_workers = 1
    assert solver.solve(built.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    assert solver.objective_value == horizon


def test_horizon_below_the_optimum_is_infeasible(ft06):
    built = build(ft06, horizon=54, tighten_domains=True)
    status, _ = solve_model(built)
    assert status == cp_model.INFEASIBLE


def test_zero_duration_operation_of_orb07_is_modelled():
    orb07 = load("orb07")
    built = build(orb07)
    status, solver = solve_model(built, seconds=60)
    assert status == cp_model.OPTIMAL and solver.objective_value == 397
    assert evaluate(orb07, built.decode(np.array(solver.response_proto.solution))).feasible


def test_zero_duration_operations_do_not_block_a_machine():
    from cpsched.instances import JobShop

    # job 1's zero-length operation must happen at 5, inside job 0's [0, 10) on the same machine
    problem = JobShop.from_jobs("zero", 2, [[(0, 10)], [(1, 5), (0, 0)]])
    status, solver = solve_model(build(problem))
    assert status == cp_model.OPTIMAL and solver.objective_value == 10
