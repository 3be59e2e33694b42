"""The expert-placement methods: CP-SAT layer by layer (never worse than EPLB on any layer: each layer
keeps the better of the two), and each baseline on its own. Every placement is checked by
`instances.experts.evaluate`."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from cpsched.cpmodels.experts import build_layer
from cpsched.instances.experts.problem import (
    ExpertPlacement,
    ExpertProblem,
    busiest_gpu,
    evaluate,
    has_secondary,
    internode_tokens,
    migrated_bytes,
)
from cpsched.solvers.cpsat import ProgressCallback, Tracker, run_cpsat
from cpsched.solvers.experts.baselines import BASELINES
from cpsched.solvers.experts.robust import Headroom, robust_descent
from cpsched.solvers.experts.search import improve_by_swaps
from cpsched.solvers.result import Result

PAIRS_PER_LAYER = 256  # co-activated pairs the model weighs per layer (the heaviest); evaluate counts all


@dataclass(frozen=True)
class Reference:
    """What a layer's plan must not exceed: EPLB's busiest GPU on the planning window, and EPLB's
    peaks under drift (`headroom`)."""

    busiest: float
    headroom: Headroom


def reference_of(problem: ExpertProblem, layer: int, eplb_row: np.ndarray, seed: int) -> Reference:
    return Reference(busiest_gpu(problem, layer, eplb_row), Headroom.against(problem, layer, eplb_row, seed))


def layer_key(problem: ExpertProblem, layer: int, row: np.ndarray, reference: Reference) -> tuple:
    """Lexicographic quality of one layer's placement: the busiest GPU, where any load up to EPLB's
    counts as equal; whether it keeps EPLB's headroom under drift (`Headroom.qualifies`); the
    expected peak under drift, where any up to the headroom's limit counts as equal; inter-node
    tokens; moves; the busiest GPU itself. A row that leaves an expert without a replica is worst."""
    if (np.bincount(row[row >= 0], minlength=problem.experts) == 0).any():
        return (np.inf,)
    busiest = round(busiest_gpu(problem, layer, row), 6)
    headroom = reference.headroom
    qualifies, peak = headroom.verdict(problem, layer, row)
    return (max(busiest, round(reference.busiest, 6)), not qualifies, max(round(peak, 9), round(headroom.limit, 9)),
            internode_tokens(problem, layer, row), migrated_bytes(problem, layer, row), busiest)


def expert_result(problem: ExpertProblem, placement: ExpertPlacement, method: str, status: str, started: float,
                  baselines: dict[str, ExpertPlacement], tracker: Tracker | None = None,
                  layer_status: list[str] | None = None) -> Result:
    """A Result with the plan's metrics on the planning window and on the next, and every baseline's."""
    result = evaluate(problem, placement)
    metrics: dict = {"instance": problem.name, "size": problem.size, **result.summary()}
    following = problem.plan_window + 1
    if following < problem.windows:
        metrics["next_window"] = evaluate(problem, placement, following).summary()
    metrics["baselines"] = {}
    for name, other in baselines.items():
        entry = evaluate(problem, other).summary()
        if following < problem.windows:
            entry["next_window"] = evaluate(problem, other, following).summary()
        metrics["baselines"][name] = entry
    if layer_status is not None:
        metrics["layers_optimal"] = layer_status.count("optimal")
    if not result.feasible:
        metrics["violations"] = result.violations
        status = "infeasible"
    trace = [] if tracker is None else list(tracker.trace)
    return Result(status, float(result.gpu_max.sum()), None, placement, method, time.monotonic() - started,
                  trace, metrics)


def solve_baseline(problem: ExpertProblem, name: str, **_options) -> Result:
    started = time.monotonic()
    baselines = {key: make(problem) for key, make in BASELINES.items()}
    return expert_result(problem, baselines[name], name, "feasible", started, baselines)


def best_row(problem: ExpertProblem, layer: int, candidates: list[np.ndarray], reference: Reference) -> np.ndarray:
    return min(candidates, key=lambda row: layer_key(problem, layer, row, reference))


def plan_layer(problem: ExpertProblem, layer: int, baselines: dict[str, ExpertPlacement], layer_end: float,
               workers: int, seed: int) -> tuple[np.ndarray, str, bool]:
    """One layer's placement, its status and whether the solve was interrupted. A fifth of the time
    goes to the busiest GPU, two fifths to CP-SAT on tokens and moves, the rest to the drift descent
    and swaps (all of it to the busiest GPU when there is nothing else to optimise)."""
    budget = layer_end - time.monotonic()
    secondary = has_secondary(problem)
    reference = reference_of(problem, layer, baselines["eplb"].phy2log[layer], seed)
    candidates = [other.phy2log[layer] for other in baselines.values()]
    built = build_layer(problem, layer, hint=best_row(problem, layer, candidates, reference))
    outcome = run_cpsat(built.model, deadline=time.monotonic() + (0.2 if secondary else 1.0) * budget,
                        tracker=Tracker(time.monotonic()), workers=workers, seed=seed)
    status = "feasible" if secondary or outcome.values is None else outcome.status
    proved = None  # the least busiest GPU, when CP-SAT proved it
    if outcome.values is not None:
        candidates.append(built.decode(problem, outcome.values))
        proved = busiest_gpu(problem, layer, candidates[-1])
    interrupted = outcome.interrupted
    if secondary and not interrupted:
        cap = max(reference.busiest, busiest_gpu(problem, layer, candidates[-1]))
        second = build_layer(problem, layer, hint=best_row(problem, layer, candidates, reference), max_load_cap=cap,
                             pairs=PAIRS_PER_LAYER)
        refined = run_cpsat(second.model, deadline=layer_end - 0.4 * budget, tracker=Tracker(time.monotonic()),
                            workers=workers, seed=seed)
        interrupted = refined.interrupted
        if refined.values is not None:
            candidates.append(second.decode(problem, refined.values))
        start = best_row(problem, layer, candidates, reference)
        if not interrupted and layer_key(problem, layer, start, reference)[0] != np.inf:
            cap = max(reference.busiest, busiest_gpu(problem, layer, start))
            # headroom for the next window: lower the expected peak from the best row and from
            # EPLB's, then cut tokens and moves by swaps that keep most of what was gained
            share = (layer_end - time.monotonic()) / 4
            robust = [robust_descent(problem, layer, row, reference.headroom.search, cap, time.monotonic() + share)
                      for row in (start, baselines["eplb"].phy2log[layer])]
            candidates += robust
            lowest = min(reference.headroom.peak(problem, layer, row) for row in robust)
            reference = replace(reference, headroom=reference.headroom.after_descent(lowest))

            def keeps_headroom(row: np.ndarray) -> bool:
                qualifies, peak = reference.headroom.verdict(problem, layer, row)
                return qualifies and peak <= reference.headroom.limit + 1e-12

            begin = best_row(problem, layer, [*robust, baselines["eplb"].phy2log[layer]], reference)
            swapped = improve_by_swaps(problem, layer, begin, max(layer_end, time.monotonic()), cap=cap,
                                       accept=keeps_headroom)
            candidates.append(swapped.row)
            interrupted = swapped.interrupted
    chosen = best_row(problem, layer, candidates, reference)
    if status == "optimal" and busiest_gpu(problem, layer, chosen) > proved + 1e-9:
        status = "feasible"  # EPLB's headroom kept a row whose busiest GPU is above the proved least
    return chosen, status, interrupted


def solve_cpsat(problem: ExpertProblem, *, time_limit: float = 60.0, workers: int = 2, seed: int = 0,
                progress: ProgressCallback | None = None, **_options) -> Result:
    """Each layer: no GPU busier than under EPLB; within that, the fewest inter-node tokens, then
    the fewest moves, then the least busy GPU (`layer_key`). CP-SAT minimises the busiest GPU
    (hinted with the best baseline); then, with no GPU above EPLB's busiest, CP-SAT over the
    heaviest pairs and moves, and a swap local search over every pair, from the best placement so
    far. A layer keeps the best of the plan and every baseline, so it is never worse than EPLB.
    `status` is optimal when there is nothing but the load to optimise and every layer's busiest
    GPU was proved optimal."""
    started = time.monotonic()
    deadline = started + time_limit
    tracker = Tracker(started, progress)
    baselines = {key: make(problem) for key, make in BASELINES.items()}
    rows, statuses = [], []
    total = 0.0
    for layer in range(problem.layers):
        budget = (deadline - time.monotonic()) / (problem.layers - layer)
        row, status, interrupted = plan_layer(problem, layer, baselines, time.monotonic() + budget, workers, seed)
        rows.append(row)
        statuses.append(status)
        total += busiest_gpu(problem, layer, row)
        tracker.report(objective=total)
        if interrupted:
            rows += [baselines["eplb"].phy2log[i] for i in range(layer + 1, problem.layers)]
            statuses += ["unknown"] * (problem.layers - layer - 1)
            break
    overall = "optimal" if all(s == "optimal" for s in statuses) else "feasible"
    result = expert_result(problem, ExpertPlacement(np.stack(rows)), "cpsat", overall, started, baselines, tracker,
                           statuses)
    result.metrics["interrupted"] = "unknown" in statuses
    return result
