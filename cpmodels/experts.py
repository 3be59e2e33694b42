"""One MoE layer's expert placement as a CP-SAT model.

y[e, g]: GPU g holds a replica of expert e, y2[e, g]: a second one (EPLB's packing sometimes puts
two replicas of a hot expert on one GPU); z[e, r]: expert e has r replicas. Each replica serves an
equal share of its expert's tokens (EPLB's assumption), load[e] / r, kept exact in integers by
scaling every load by lcm(1..r_max). v[e, g] >= share[e] - load[e] (1 - y[e, g]) and v[e, g] >= 2
share[e] - load[e] (2 - y[e, g] - y2[e, g]) is what expert e puts on GPU g, and the busiest GPU's
load is the first objective. The second, with that load capped, is the tokens of co-activated pairs
that no node holds together (for the heaviest pairs), then the experts moved onto GPUs that did not
hold them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from cpsched.instances.experts.problem import ExpertProblem

MOST_REPLICAS = 12  # of one expert in the model: the loads scale by lcm(1..12) = 27720, exact below 2^55


@dataclass
class ExpertLayerModel:
    model: cp_model.CpModel
    on_gpu: dict[tuple[int, int], cp_model.IntVar]
    second: dict[tuple[int, int], cp_model.IntVar]  # a second replica on the same GPU
    scale: int
    max_load: cp_model.IntVar
    secondary: cp_model.LinearExpr | None

    def decode(self, problem: ExpertProblem, values: np.ndarray) -> np.ndarray:
        """The layer's phy2log: each GPU's experts in its slots."""
        row = np.full(problem.slots, -1, dtype=np.int64)
        for g in range(problem.gpus):
            held = [e for e in range(problem.experts) for var in (self.on_gpu[e, g], self.second.get((e, g)))
                    if var is not None and values[var.Index()]]
            row[g * problem.slots_per_gpu: g * problem.slots_per_gpu + len(held)] = held
        return row


def heaviest_pairs(problem: ExpertProblem, layer: int, count: int) -> list[tuple[int, int, int]]:
    """The `count` co-activated pairs with the most tokens, as (e, f, tokens)."""
    if problem.coactivation is None:
        return []
    matrix = np.triu(np.asarray(problem.coactivation[layer]), k=1)
    flat = np.argsort(-matrix, axis=None)[:count]
    return [(int(i), int(j), int(matrix[i, j])) for i, j in zip(*np.unravel_index(flat, matrix.shape))
            if matrix[i, j] > 0]


def build_layer(problem: ExpertProblem, layer: int, hint: np.ndarray | None = None, *,
                max_load_cap: float | None = None, max_replicas: int = 4, pairs: int = 0) -> ExpertLayerModel:
    """Phase 1 (no cap): minimise the busiest GPU's scaled load. Phase 2 (`max_load_cap`, in
    tokens): no GPU above it, and minimise inter-node tokens of the `pairs` heaviest pairs, then
    moves from the current placement."""
    E, G, k = problem.experts, problem.gpus, problem.slots_per_gpu
    spare = problem.slots - E
    max_replicas = max(1, min(1 + spare, max_replicas, G))
    if hint is not None:
        counts = np.bincount(hint[hint >= 0], minlength=E)
        max_replicas = min(max(max_replicas, int(counts.max())), MOST_REPLICAS)
    scale = math.lcm(*range(1, max_replicas + 1))
    load = problem.loads[problem.plan_window, layer].astype(np.int64) * scale
    model = cp_model.CpModel()
    y = {(e, g): model.NewBoolVar(f"y{e}_{g}") for e in range(E) for g in range(G)}
    y2 = {}
    if max_replicas >= 2 and k >= 2:
        y2 = {(e, g): model.NewBoolVar(f"y2{e}_{g}") for e in range(E) for g in range(G)}
        for key, var in y2.items():
            model.AddImplication(var, y[key])

    def copies(e: int, g: int):
        return y[e, g] + y2[e, g] if y2 else y[e, g]

    for g in range(G):
        model.Add(sum(copies(e, g) for e in range(E)) == k)
    z = {(e, r): model.NewBoolVar(f"z{e}_{r}") for e in range(E) for r in range(1, max_replicas + 1)}
    share = []
    for e in range(E):
        model.AddExactlyOne(z[e, r] for r in range(1, max_replicas + 1))
        model.Add(sum(copies(e, g) for g in range(G)) == sum(r * z[e, r] for r in range(1, max_replicas + 1)))
        share.append(sum(int(load[e]) // r * z[e, r] for r in range(1, max_replicas + 1)))
    max_load = model.NewIntVar(0, int(load.sum()), "max_load")
    on_gpu_load = {}
    for g in range(G):
        parts = []
        for e in range(E):
            if load[e] == 0:
                continue
            v = on_gpu_load[e, g] = model.NewIntVar(0, int(load[e]), f"v{e}_{g}")
            model.Add(v >= share[e] - int(load[e]) * (1 - y[e, g]))
            if y2:
                model.Add(v >= 2 * share[e] - int(load[e]) * (2 - y[e, g] - y2[e, g]))
            parts.append(v)
        model.Add(max_load >= sum(parts))
    model.Add(max_load * G >= int(load.sum()))  # the mean bounds the maximum
    secondary, pair_vars = None, {}
    if max_load_cap is None:
        model.Minimize(max_load)
    else:
        model.Add(max_load <= math.floor(max_load_cap * scale + 1e-6))
        secondary, pair_vars = _secondary(problem, layer, model, y, pairs)
        model.Minimize(secondary)
    built = ExpertLayerModel(model, y, y2, scale, max_load, secondary)
    if (hint is not None and representable(problem, hint, 2 if y2 else 1)
            and np.bincount(hint[hint >= 0], minlength=E).max() <= max_replicas):
        _hint(problem, built, hint, z, load, on_gpu_load, pair_vars)
    return built


def _secondary(problem: ExpertProblem, layer: int, model: cp_model.CpModel, y, pairs: int):
    """Inter-node tokens of the heaviest pairs, weighted above every possible move, plus moves."""
    E, G, per_node = problem.experts, problem.gpus, problem.gpus_per_node
    moves = 0
    if problem.current is not None:
        before = np.zeros((E, G), dtype=bool)
        for slot, expert in enumerate(np.asarray(problem.current)[layer]):
            if expert >= 0:
                before[expert, slot // problem.slots_per_gpu] = True
        moves = sum(y[e, g] for e in range(E) for g in range(G) if not before[e, g])
    split_cost = 0
    chosen = heaviest_pairs(problem, layer, pairs)
    if chosen and problem.nodes > 1:
        has = {}
        for e in {e for pair in chosen for e in pair[:2]}:
            for n in range(problem.nodes):
                has[e, n] = model.NewBoolVar(f"has{e}_{n}")
                gpus = [y[e, g] for g in range(n * per_node, (n + 1) * per_node)]
                model.AddMaxEquality(has[e, n], gpus)
        terms = []
        both_of, split_of = {}, {}
        for e, f, tokens in chosen:
            together = []
            for n in range(problem.nodes):
                both = both_of[e, f, n] = model.NewBoolVar(f"both{e}_{f}_{n}")
                model.AddImplication(both, has[e, n])
                model.AddImplication(both, has[f, n])
                together.append(both)
            split = split_of[e, f] = model.NewBoolVar(f"split{e}_{f}")
            model.AddBoolOr([split, *together])
            terms.append(tokens * split)
        split_cost = sum(terms)
        pair_vars = {"has": has, "both": both_of, "split": split_of}
    else:
        pair_vars = {}
    weight = E * G + 1  # one inter-node token outweighs every move
    return weight * split_cost + moves, pair_vars


def representable(problem: ExpertProblem, row: np.ndarray, most_per_gpu: int = 2) -> bool:
    """Whether a placement row fits the model: every slot filled, at most `most_per_gpu` replicas
    of an expert on one GPU."""
    for g in range(problem.gpus):
        held = row[g * problem.slots_per_gpu:(g + 1) * problem.slots_per_gpu]
        if (held < 0).any() or np.bincount(held).max() > most_per_gpu:
            return False
    return True


def _hint(problem: ExpertProblem, built: ExpertLayerModel, hint: np.ndarray, z, load, on_gpu_load, pair_vars
          ) -> None:
    """Hint every variable with a placement row (phy2log), so a valid hint is the first incumbent."""
    copies = np.zeros((problem.experts, problem.gpus), dtype=np.int64)
    for slot, expert in enumerate(hint):
        copies[expert, slot // problem.slots_per_gpu] += 1
    held = copies > 0
    counts = copies.sum(axis=1)
    model = built.model
    for (e, g), var in built.on_gpu.items():
        model.AddHint(var, int(held[e, g]))
    for (e, g), var in built.second.items():
        model.AddHint(var, int(copies[e, g] == 2))
    for (e, r), var in z.items():
        model.AddHint(var, int(counts[e] == r))
    gpu_load = np.zeros(problem.gpus, dtype=np.int64)
    for (e, g), var in on_gpu_load.items():
        value = int(copies[e, g]) * (int(load[e]) // max(int(counts[e]), 1))
        gpu_load[g] += value
        model.AddHint(var, value)
    model.AddHint(built.max_load, int(gpu_load.max()))
    on_node = held.reshape(problem.experts, problem.nodes, problem.gpus_per_node).any(axis=2)
    for (e, n), var in pair_vars.get("has", {}).items():
        model.AddHint(var, int(on_node[e, n]))
    for (e, f, n), var in pair_vars.get("both", {}).items():
        model.AddHint(var, int(on_node[e, n] and on_node[f, n]))
    for (e, f), var in pair_vars.get("split", {}).items():
        model.AddHint(var, int(not (on_node[e] & on_node[f]).any()))
