"""How experts are placed today, rebuilt for comparison.

- contiguous: expert e on GPU e // (experts / GPUs), extra slots filled with copies in order (what
  runs without a balancer: TensorRT-LLM's "no EPLB").
- round-robin: slot s holds expert s % experts, slots dealt to GPUs in turn.
- lpt: sorted first fit (longest processing time first) without replication; extra slots empty.
- eplb: DeepSeek's EPLB, written from its published algorithm (deepseek-ai/EPLB): replicate the expert
  with the highest load per replica until the slots are used, then pack replicas onto GPUs heaviest
  first into the lightest GPU with a free slot; hierarchical (expert groups packed onto nodes first)
  when the groups divide over the nodes, else global.
- eplb-min-move: EPLB's GPUs permuted within each node by an assignment problem that keeps the most
  experts where the current placement has them (the fix EPLB's maintainers suggest in its issue #25).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ortools.graph.python import linear_sum_assignment

from cpsched.instances.experts.problem import ExpertPlacement, ExpertProblem, holds


def balanced_packing(weights: np.ndarray, packs: int) -> np.ndarray:
    """Pack of each item: heaviest first into the lightest pack with room (len / packs items each)."""
    capacity = len(weights) // packs
    pack_of = np.empty(len(weights), dtype=np.int64)
    load = np.zeros(packs)
    room = np.full(packs, capacity)
    for item in np.argsort(-weights, kind="stable"):
        open_packs = np.flatnonzero(room > 0)
        chosen = open_packs[np.argmin(load[open_packs])]
        pack_of[item] = chosen
        load[chosen] += weights[item]
        room[chosen] -= 1
    return pack_of


def replicate(weights: np.ndarray, replicas: int) -> np.ndarray:
    """Replica count per expert: one each, then each extra one to the highest load per replica."""
    counts = np.ones(len(weights), dtype=np.int64)
    for _ in range(replicas - len(weights)):
        counts[np.argmax(weights / counts)] += 1
    return counts


def _pack_replicas(weights: np.ndarray, experts: np.ndarray, counts: np.ndarray, gpus: int) -> list[list[int]]:
    """Each GPU's experts: the replicas of `experts` (with `counts`) packed by per-replica load."""
    items = np.repeat(experts, counts)
    per_replica = np.repeat(weights / counts, counts)
    pack_of = balanced_packing(per_replica, gpus)
    return [items[pack_of == g].tolist() for g in range(gpus)]


def eplb_layer(problem: ExpertProblem, weights: np.ndarray) -> np.ndarray:
    """One layer's phy2log by EPLB: hierarchical when groups divide over nodes, else global."""
    E, G = problem.experts, problem.gpus
    slots = problem.slots
    if problem.groups > 1 and problem.groups % problem.nodes == 0 and slots % problem.nodes == 0:
        group_size = E // problem.groups
        group_load = weights.reshape(problem.groups, group_size).sum(axis=1)
        node_of_group = balanced_packing(group_load, problem.nodes)
        per_gpu: list[list[int]] = []
        for node in range(problem.nodes):
            members = np.concatenate([np.arange(g * group_size, (g + 1) * group_size)
                                      for g in np.flatnonzero(node_of_group == node)])
            counts = replicate(weights[members], slots // problem.nodes)
            per_gpu += _pack_replicas(weights[members], members, counts, problem.gpus_per_node)
    else:
        per_gpu = _pack_replicas(weights, np.arange(E), replicate(weights, slots), G)
    return np.array([expert for gpu in per_gpu for expert in gpu], dtype=np.int64)


def eplb(problem: ExpertProblem) -> ExpertPlacement:
    window = problem.loads[problem.plan_window].astype(float)
    return ExpertPlacement(np.stack([eplb_layer(problem, window[layer]) for layer in range(problem.layers)]))


def eplb_min_move(problem: ExpertProblem) -> ExpertPlacement:
    """EPLB, then each node's GPUs matched to the current GPUs so that the fewest experts move."""
    placement = eplb(problem)
    if problem.current is None:
        return placement
    k, per_node = problem.slots_per_gpu, problem.gpus_per_node
    moved = placement.phy2log.copy()
    for layer in range(problem.layers):
        before = holds(problem, np.asarray(problem.current)[layer], "gpu")
        bins = placement.phy2log[layer].reshape(problem.gpus, k)
        for node in range(problem.nodes):
            gpus = range(node * per_node, (node + 1) * per_node)
            solver = linear_sum_assignment.SimpleLinearSumAssignment()
            for i, source in enumerate(gpus):  # EPLB's GPU `source` put on physical GPU `target`
                for j, target in enumerate(gpus):
                    new = sum(1 for e in set(bins[source].tolist()) if e >= 0 and not before[e, target])
                    solver.add_arc_with_cost(i, j, new)
            solver.solve()
            for i, source in enumerate(gpus):
                target = gpus[solver.right_mate(i)]
                moved[layer, target * k:(target + 1) * k] = bins[source]
    return ExpertPlacement(moved)


def contiguous(problem: ExpertProblem) -> ExpertPlacement:
    row = np.arange(problem.slots) % problem.experts
    return ExpertPlacement(np.tile(row, (problem.layers, 1)))


def round_robin(problem: ExpertProblem) -> ExpertPlacement:
    slot_order = np.arange(problem.slots).reshape(problem.slots_per_gpu, problem.gpus).T.ravel()
    row = np.empty(problem.slots, dtype=np.int64)
    row[slot_order] = np.arange(problem.slots) % problem.experts
    return ExpertPlacement(np.tile(row, (problem.layers, 1)))


def lpt(problem: ExpertProblem) -> ExpertPlacement:
    """Sorted first fit without replication: each GPU gets at most its slots, heaviest first."""
    window = problem.loads[problem.plan_window].astype(float)
    rows = []
    for layer in range(problem.layers):
        load = np.zeros(problem.gpus)
        room = np.full(problem.gpus, problem.slots_per_gpu)
        row = np.full(problem.slots, -1, dtype=np.int64)
        for expert in np.argsort(-window[layer], kind="stable"):
            open_gpus = np.flatnonzero(room > 0)
            gpu = open_gpus[np.argmin(load[open_gpus])]
            row[gpu * problem.slots_per_gpu + problem.slots_per_gpu - room[gpu]] = expert
            load[gpu] += window[layer, expert]
            room[gpu] -= 1
        rows.append(row)
    return ExpertPlacement(np.stack(rows))


BASELINES: dict[str, Callable[[ExpertProblem], ExpertPlacement]] = {
    "contiguous": contiguous,
    "round-robin": round_robin,
    "lpt": lpt,
    "eplb": eplb,
    "eplb-min-move": eplb_min_move,
}
