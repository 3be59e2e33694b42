"""The swap local search of expert placement: the optimum of small layers by brute force, the load
cap never crossed, and a real cut of inter-node tokens and moves against EPLB."""

import itertools
import time
from dataclasses import replace

import numpy as np

from cpsched.instances.experts.problem import (
    ExpertPlacement,
    ExpertProblem,
    busiest_gpu,
    evaluate,
    internode_tokens,
    migrated_bytes,
    synthetic,
)
from cpsched.solvers.experts.baselines import eplb, eplb_min_move
from cpsched.solvers.experts.search import improve_by_swaps

LATER = 60.0  # a deadline the search never reaches: it stops at its local optimum


def brute_force(problem: ExpertProblem, start: np.ndarray) -> tuple[int, float]:
    """The least (inter-node tokens, moved bytes) over every arrangement of `start`'s slots whose
    busiest GPU is no busier than `start`'s."""
    cap = busiest_gpu(problem, 0, start)
    return min((internode_tokens(problem, 0, row), migrated_bytes(problem, 0, row))
               for row in map(np.array, set(itertools.permutations(start.tolist())))
               if busiest_gpu(problem, 0, row) <= cap + 1e-9)


def test_swaps_bring_coactivated_pairs_onto_one_node():
    # 6 experts on 2 nodes x 1 GPU x 3 slots; pairs (0, 1, 2) and (3, 4, 5) are co-activated, equal loads
    coactivation = np.zeros((1, 6, 6), dtype=np.int64)
    for a, b in itertools.combinations(range(3), 2):
        coactivation[0, a, b] = coactivation[0, b, a] = 10
        coactivation[0, a + 3, b + 3] = coactivation[0, b + 3, a + 3] = 7
    problem = ExpertProblem("pairs", [[5, 5, 5, 5, 5, 5]], nodes=2, gpus_per_node=1, slots_per_gpu=3,
                            coactivation=coactivation)
    start = np.array([0, 3, 1, 4, 2, 5])
    outcome = improve_by_swaps(problem, 0, start, time.monotonic() + LATER)
    row, swaps = outcome.row, outcome.swaps
    assert internode_tokens(problem, 0, start) > 0
    assert internode_tokens(problem, 0, row) == 0 == brute_force(problem, start)[0]
    assert swaps >= 1 and sorted(row.tolist()) == sorted(start.tolist())


def test_swaps_reach_the_fewest_moves_under_the_cap():
    problem = ExpertProblem("moves", [[40, 30, 20, 10, 10, 10]], nodes=1, gpus_per_node=3, slots_per_gpu=2,
                            current=np.array([[0, 1, 2, 3, 4, 5]]), expert_bytes=1.0)
    start = np.array([0, 5, 1, 4, 2, 3])  # balanced (45, 40, 30) but four experts moved
    row = improve_by_swaps(problem, 0, start, time.monotonic() + LATER).row
    assert busiest_gpu(problem, 0, row) <= busiest_gpu(problem, 0, start)
    assert migrated_bytes(problem, 0, row) == brute_force(problem, start)[1] < migrated_bytes(problem, 0, start)


def test_swaps_cut_eplb_tokens_and_moves_without_a_busier_gpu():
    problem = synthetic("deepseek-v3", nodes=4, gpus_per_node=8, redundant=32, layers=1, seed=1,
                        current="contiguous")
    for given, start in ((replace(problem, current=None), eplb(problem)),
                         (replace(problem, coactivation=None), eplb_min_move(problem))):
        outcome = improve_by_swaps(given, 0, start.phy2log[0], time.monotonic() + LATER)
        row, swaps = outcome.row, outcome.swaps
        before, after = evaluate(given, start), evaluate(given, ExpertPlacement(row[None]))
        assert after.feasible and swaps > 0
        assert after.gpu_max[0] <= before.gpu_max[0] + 1e-9
        assert (ExpertPlacement(row[None]).replicas(given) == start.replicas(given)[:1]).all()
        if given.coactivation is not None:
            assert after.internode[0] < 0.7 * before.internode[0]
        else:
            assert after.migrated_bytes[0] < 0.5 * before.migrated_bytes[0]


def test_drift_descent_gives_headroom_under_the_planning_cap():
    """From EPLB's layer the descent lowers the expected peak over the drift scenarios, keeps every
    GPU under EPLB's busiest on the planning window, and only rearranges EPLB's replicas."""
    from cpsched.solvers.experts.robust import drift_scenarios, expected_peak, robust_descent

    problem = synthetic("deepseek-v3", nodes=2, gpus_per_node=4, redundant=8, layers=1, seed=3)
    row = eplb(problem).phy2log[0]
    scenarios = drift_scenarios(problem, 0)
    cap = busiest_gpu(problem, 0, row)
    lowered = robust_descent(problem, 0, row, scenarios, cap, time.monotonic() + LATER)
    assert expected_peak(problem, 0, lowered, scenarios) < expected_peak(problem, 0, row, scenarios) - 0.01
    assert busiest_gpu(problem, 0, lowered) <= cap + 1e-9
    assert sorted(lowered.tolist()) == sorted(row.tolist())


def test_plan_keeps_eplbs_headroom_on_every_layer():
    """Every layer of the plan: no GPU busier than EPLB's on the planning window, and EPLB's
    headroom kept under drift (no busier in any judging scenario, or clearly less busy on average)."""
    from cpsched.solvers import solve
    from cpsched.solvers.experts.robust import Headroom

    problem = synthetic("deepseek-v3", nodes=2, gpus_per_node=4, redundant=8, layers=2, seed=4)
    plan = solve(problem, "cpsat", time_limit=12).solution
    theirs = eplb(problem)
    for layer in range(problem.layers):
        headroom = Headroom.against(problem, layer, theirs.phy2log[layer], seed=0)
        assert busiest_gpu(problem, layer, plan.phy2log[layer]) <= busiest_gpu(problem, layer, theirs.phy2log[layer])
        assert headroom.qualifies(problem, layer, plan.phy2log[layer])
        ours, eplbs = plan.phy2log[layer], theirs.phy2log[layer]
        assert headroom.peak(problem, layer, ours) <= headroom.peak(problem, layer, eplbs)
