"""The expert-placement methods: CP-SAT layer by layer (never worse than EPLB on any layer: each layer
keeps the better of the two), and each baseline on its own. Every placement is checked by
`instances.experts.evaluate`."""

from __future__ import annotations

import time

import numpy as np

from cpmodels.experts import build_layer
from instances.experts import (
    ExpertPlacement,
    ExpertProblem,
    evaluate,
    internode_tokens,
    migrated_bytes,
    slot_shares,
)
from solvers.cpsat import ProgressCallback, Tracker, run_cpsat
from solvers.experts_baselines import BASELINES
from solvers.experts_search import improve_by_swaps
from solvers.result import Result

PAIRS_PER_LAYER = 256  # co-activated pairs the model weighs per layer (the heaviest); evaluate counts all


def layer_key(problem: ExpertProblem, layer: int, row: np.ndarray) -> tuple:
    """Lexicographic quality of one layer's placement: busiest GPU, inter-node tokens, moves (a row
    that leaves an expert without a replica is worst)."""
    if (np.bincount(row[row >= 0], minlength=problem.experts) == 0).any():
        return (np.inf,)
    busiest = slot_shares(problem, layer, row, problem.plan_window).reshape(problem.gpus, -1).sum(axis=1).max()
    return (round(float(busiest), 6), internode_tokens(problem, layer, row), migrated_bytes(problem, layer, row))


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


def solve_cpsat(problem: ExpertProblem, *, time_limit: float = 60.0, workers: int = 2, seed: int = 0,
                progress: ProgressCallback | None = None, **_options) -> Result:
    """Each layer: minimise the busiest GPU (CP-SAT, hinted with the best baseline); then, with that
    load kept, inter-node tokens and moves (CP-SAT over the heaviest pairs, then swap local search
    over all of them, from the best placement so far). A layer keeps the best of the plan and every
    baseline, so the plan is never worse than EPLB on any layer. `status` is optimal when every
    layer's busiest GPU was proved optimal."""
    started = time.monotonic()
    deadline = started + time_limit
    tracker = Tracker(started, progress)
    baselines = {key: make(problem) for key, make in BASELINES.items()}
    rows, statuses = [], []
    total = 0.0
    for layer in range(problem.layers):
        budget = (deadline - time.monotonic()) / (problem.layers - layer)
        layer_end = time.monotonic() + budget
        candidates = [other.phy2log[layer] for other in baselines.values()]
        best_row = min(candidates, key=lambda row: layer_key(problem, layer, row))
        status = "feasible"
        built = build_layer(problem, layer, hint=best_row)
        outcome = run_cpsat(built.model, deadline=time.monotonic() + 0.5 * budget, tracker=Tracker(started),
                            workers=workers, seed=seed)
        if outcome.values is not None:
            candidates.append(built.decode(problem, outcome.values))
            status = outcome.status
            cap = round(outcome.objective)
            second = build_layer(problem, layer, hint=candidates[-1], max_load_cap=cap, pairs=PAIRS_PER_LAYER)
            if second.secondary is not None and not isinstance(second.secondary, int):
                refined = run_cpsat(second.model, deadline=layer_end - 0.25 * budget, tracker=Tracker(started),
                                    workers=workers, seed=seed)
                if refined.values is not None:
                    candidates.append(second.decode(problem, refined.values))
        keys = [layer_key(problem, layer, row) for row in candidates]
        chosen = min(range(len(candidates)), key=lambda i: keys[i])
        if not outcome.interrupted and keys[chosen][0] != np.inf:
            swapped, _ = improve_by_swaps(problem, layer, candidates[chosen], max(layer_end, time.monotonic()))
            candidates.append(swapped)
            keys.append(layer_key(problem, layer, swapped))
            chosen = min(range(len(candidates)), key=lambda i: keys[i])
        rows.append(candidates[chosen])
        statuses.append(status)
        total += keys[chosen][0]
        tracker.report(objective=total)
        if outcome.interrupted:
            rows += [baselines["eplb"].phy2log[i] for i in range(layer + 1, problem.layers)]
            statuses += ["unknown"] * (problem.layers - layer - 1)
            break
    overall = "optimal" if all(s == "optimal" for s in statuses) else "feasible"
    result = expert_result(problem, ExpertPlacement(np.stack(rows)), "cpsat", overall, started, baselines, tracker,
                           statuses)
    result.metrics["interrupted"] = "unknown" in statuses
    return result
