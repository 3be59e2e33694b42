"""Pipeline-stage placement as a CP-SAT model that schedules the iteration exactly.

The schedule fixes the order of operations on each device (see instances.pipeline_schedule), so
the timeline is a precedence network whose durations are linear in the placement booleans: layer k
in virtual stage s, recompute on layer k, k shards of a head layer on device d. The makespan of
that network is the simulator's iteration time, so the optimum is the true optimum of the schedule,
not of the closed formula sum + (m - 1) x max (which is wrong on uneven stages). Memory is a linear
constraint per device at each point of its order where activations peak.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from cpsched.instances.pipeline.problem import PipelineProblem, Placement, recompute_classes
from cpsched.instances.pipeline.schedule import Op, device_orders, schedule_graph, simulate


@dataclass
class PipelineModel:
    """A built model and where its variables are, to decode answers."""

    model: cp_model.CpModel
    in_stage: dict[tuple[int, int], cp_model.IntVar]  # (layer, virtual stage) -> bool
    recomputed: dict[tuple[int, int], cp_model.IntVar]  # (stage, recompute class) -> how many layers
    recompute_class: list[int | None]  # per chain layer
    shards: list[list[cp_model.IntVar]]  # [head layer][device]
    makespan: cp_model.IntVar
    extra_warmup: int
    vocab_lead: int
    forward: list[cp_model.IntVar]  # per virtual stage
    backward: list[cp_model.IntVar]
    vocab_forward: list[cp_model.IntVar]  # per device: pass S
    vocab_backward: list[cp_model.IntVar]  # per device: pass T
    sync: cp_model.IntVar  # the all-reduce between S and T, for the number of devices holding shards
    boundary: list  # per virtual stage but the last: p2p time after it (an int or an expression)
    has_shards: list[cp_model.IntVar]  # per device
    head_comm: int
    last_device: int
    last_layer: dict[tuple[int, int], cp_model.IntVar]  # layer k ends stage s (where p2p sizes differ)
    start: dict[Op, cp_model.IntVar]  # empty without the timeline
    orders: list[list[Op]]
    first: list  # per virtual stage and one more: index of its first layer (the last one is L)
    prefix_reads: list[tuple[cp_model.IntVar, list[int], int]]
    shard_reads: list[tuple[cp_model.IntVar, list[int], int, int]]  # var == table[shards of head h on device d]

    def set_hint(self, problem: PipelineProblem, placement: Placement) -> None:
        """Hint every variable with `placement` and its simulated schedule (a complete hint, so the
        runner takes it as the first incumbent)."""
        simulated = simulate(problem, placement)
        self.model.ClearHints()
        values = dict(_hint_values(problem, placement, simulated, self))
        for var, value in sorted(values.items(), key=lambda item: item[0].Index()):
            self.model.AddHint(var, value)

    def add_path(self, path: Counter) -> None:
        """Iteration time >= the length of `path` (from instances.pipeline_schedule.critical_path)
        under any placement; a path through a p2p edge to a device's shards holds only while that
        device has shards."""
        terms, needs = [], []
        for key, count in path.items():
            kind, index = key[0], key[1]
            if kind == "F":
                terms.append(count * self.forward[index])
            elif kind == "B":
                terms.append(count * self.backward[index])
            elif kind == "S":
                terms.append(count * self.vocab_forward[index])
            elif kind == "T":
                terms.append(count * self.vocab_backward[index])
            elif kind == "boundary":
                terms.append(count * self.boundary[index])
            elif kind == "head":
                terms.append(count * self.head_comm)
                needs.append(self.has_shards[index])
            elif kind == "sync":
                terms.append(count * self.sync)
                needs += [self.has_shards[index], self.has_shards[key[2]]]
        self.model.Add(self.makespan >= sum(terms)).OnlyEnforceIf(sorted(set(needs), key=lambda v: v.Index()))

    def keep_shards_on(self, device: int) -> None:
        """Every shard on `device` (no vocabulary parallelism)."""
        for row in self.shards:
            for d, var in enumerate(row):
                if d != device:
                    self.model.Add(var == 0)

    def decode(self, problem: PipelineProblem, values: np.ndarray) -> Placement:
        def value(var: cp_model.IntVar) -> int:
            return int(values[var.Index()])

        stage_of = {layer: stage for (layer, stage), var in self.in_stage.items() if value(var)}
        boundaries = [layer for layer in sorted(stage_of) if layer == 0 or stage_of[layer] != stage_of[layer - 1]]
        boundaries += [problem.head_start] * (problem.virtual_count - len(boundaries))  # an empty last stage
        recompute = [False] * problem.head_start
        taken: Counter = Counter()
        for layer in sorted(stage_of):  # in each stage, the first layers of each class recompute
            key = (stage_of[layer], self.recompute_class[layer])
            if key in self.recomputed and taken[key] < value(self.recomputed[key]):
                recompute[layer] = True
                taken[key] += 1
        shards = [[value(var) for var in row] for row in self.shards]
        return Placement(boundaries, recompute, shards, self.extra_warmup, self.vocab_lead)


def _loose_horizon(problem: PipelineProblem) -> int:
    t = problem.tables
    slowest = max(range(problem.stages), key=lambda d: sum(t.forward[d]) + sum(t.backward[d]))
    work = (sum(t.forward[slowest]) + sum(t.backward[slowest]) + sum(t.recompute_extra[slowest])
            + max(sum(row[-1] for row in a) + sum(row[-1] for row in b) for a, b in zip(t.shard_forward,
                                                                                        t.shard_backward))
            + max(t.sync)
            + sum(t.comm_after) * 2)
    return work * problem.microbatches * problem.virtual_stages * 2 + 1


def build(problem: PipelineProblem, hint: Placement | None = None, *, extra_warmup: int = 0,
          vocab_lead: int = 0, horizon: int | None = None, timeline: bool = True) -> PipelineModel:
    """Encode `problem`. A `hint` placement (say the best baseline) hints every variable and cuts
    the horizon to its iteration time, so the solve starts from it and never returns worse.

    With `timeline` the model holds every operation of the iteration, so its optimum is exact.
    Without, the iteration time is bounded only by paths through the schedule (a few redundant ones
    here, more from `PipelineModel.add_path`): the master problem of the planner's path-cut loop,
    small enough to solve fast, whose optimum is a lower bound."""
    if hint is not None:
        extra_warmup, vocab_lead = hint.extra_warmup, hint.vocab_lead
    model = cp_model.CpModel()
    t = problem.tables
    p, S, L = problem.stages, problem.virtual_count, problem.head_start
    if hint is not None:
        hinted = simulate(problem, hint).iteration
        horizon = hinted if horizon is None else min(horizon, hinted)
    horizon = horizon if horizon is not None else _loose_horizon(problem)

    # layer k in virtual stage s: contiguous blocks, stage s only for layers s .. L - S + s (one more
    # with shards: the last stage may hold only shards)
    e = 1 if problem.head else 0
    x = {(k, s): model.NewBoolVar(f"x{k}_{s}")
         for k in range(L) for s in range(max(0, S - L + k - e), min(k, S - 1) + 1)}
    index = []
    for k in range(L):
        row = [(s, var) for (kk, s), var in x.items() if kk == k]
        model.AddExactlyOne(var for _, var in row)
        index.append(sum(s * var for s, var in row))
    for k in range(L - 1):
        model.Add(index[k + 1] - index[k] >= 0)
        model.Add(index[k + 1] - index[k] <= 1)
        for s in range(S):
            if (k + 1, s) in x:  # layer k + 1 in stage s: layer k is in stage s or s - 1
                model.AddBoolOr([x[k + 1, s].Not(), *(x[k, r] for r in (s, s - 1) if (k, r) in x)])
    # Recomputation per stage and class of equal layers (same extra time, same memory saved): which
    # of a stage's equal layers recompute does not matter, only how many, so count them.
    classes = recompute_classes(problem)
    recompute_class: list[int | None] = [None] * L
    for c, members in enumerate(classes):
        for k in members.members:
            recompute_class[k] = c
    class_extra = [[group.extra[d] for group in classes] for d in range(p)]
    class_saving = [group.saving_kib for group in classes]
    recomputed = {}
    for s in range(S):
        for c in range(len(classes)):
            members = [x[k, s] for k in range(L) if recompute_class[k] == c and (k, s) in x]
            if members:
                recomputed[s, c] = model.NewIntVar(0, len(members), f"rc{s}_{c}")
                model.Add(recomputed[s, c] <= sum(members))

    def stage_sum(s: int, per_layer, per_class=None) -> cp_model.LinearExpr:
        terms = [per_layer[k] * x[k, s] for k in range(L) if (k, s) in x]
        if per_class is not None:
            terms += [per_class[c] * var for (r, c), var in recomputed.items() if r == s]
        return sum(terms)

    forward, backward = [], []
    for s in range(S):
        d = s % p
        f = model.NewIntVar(0, horizon, f"F{s}")
        b = model.NewIntVar(0, horizon, f"B{s}")
        model.Add(f == stage_sum(s, t.forward[d]))
        model.Add(b == stage_sum(s, t.backward[d], class_extra[d]))
        forward.append(f)
        backward.append(b)

    # Redundant: each stage as an interval [first, end) of layers, with its time read from prefix
    # sums. CP-SAT propagates these integers far better than the booleans (a cap on a stage's time
    # caps its layer count at once), which is what proves splits of many equal layers optimal.
    first = [model.NewConstant(0)]
    prefix_reads: list[tuple[cp_model.IntVar, list[int], int]] = []  # var == table[first layer of stage]
    for s in range(1, S):
        first.append(model.NewIntVar(s, L - S + s + e, f"first{s}"))
        model.Add(first[s] == sum(var for (k, r), var in x.items() if r < s))
        model.Add(first[s] > first[s - 1])
    first.append(model.NewConstant(L))
    for s in range(S):
        d = s % p
        lower = [0, *itertools.accumulate(t.forward[d])]
        lower_back = [0, *itertools.accumulate(t.backward[d])]
        for table, var in ((lower, forward[s]), (lower_back, backward[s])):
            before = model.NewIntVar(0, table[-1], "")
            after = model.NewIntVar(0, table[-1], "")
            model.AddElement(first[s], table, before)
            model.AddElement(first[s + 1], table, after)
            model.Add(var >= after - before)
            prefix_reads += [(before, table, s), (after, table, s + 1)]

    head = problem.head
    shards = [[model.NewIntVar(0, layer.shards, f"z{h}_{d}") for d in range(p)] for h, layer in enumerate(head)]
    for h, layer in enumerate(head):
        model.Add(sum(shards[h]) == layer.shards)
    has_shards, vocab_s, vocab_t = [], [], []
    shard_reads: list[tuple[cp_model.IntVar, list[int], int, int]] = []
    for d in range(p):
        has = model.NewBoolVar(f"has{d}")
        count = sum(shards[h][d] for h in range(len(head)))
        if head:
            model.Add(count >= 1).OnlyEnforceIf(has)
            model.Add(count == 0).OnlyEnforceIf(has.Not())
        else:
            model.Add(has == 0)
        has_shards.append(has)
        for name, table, passes in (("S", t.shard_forward, vocab_s), ("T", t.shard_backward, vocab_t)):
            parts = []
            for h in range(len(head)):  # the time of k shards, read from its table
                part = model.NewIntVar(0, max(table[d][h]), f"{name}{h}_{d}")
                model.AddElement(shards[h][d], table[d][h], part)
                parts.append(part)
                shard_reads.append((part, table[d][h], h, d))
            var = model.NewIntVar(0, horizon, f"{name}{d}")
            model.Add(var == sum(parts))
            passes.append(var)
    shard_kib = [[model.NewIntVar(0, t.shard_kib[h][-1], f"m{h}_{d}") for d in range(p)] for h in range(len(head))]
    for h in range(len(head)):
        for d in range(p):
            model.AddElement(shards[h][d], t.shard_kib[h], shard_kib[h][d])
            shard_reads.append((shard_kib[h][d], t.shard_kib[h], h, d))
    sync = model.NewIntVar(0, max(t.sync), "sync")
    model.AddElement(sum(has_shards), t.sync, sync)
    if e:  # an empty last stage: its device holds shards
        model.Add(first[S - 1] <= L - 1).OnlyEnforceIf(has_shards[(S - 1) % p].Not())

    # p2p time between virtual stage s and s + 1: the output of the last layer of s
    boundary = []
    last_layer: dict[tuple[int, int], cp_model.IntVar] = {}
    for s in range(S - 1):
        if s % p == (s + 1) % p:
            boundary.append(0)
            continue
        # the layers that may end stage s, and what says so: the next layer opens stage s + 1, or
        # the chain's last layer ends stage S - 2 before an empty last stage
        ends = {k: [x[k, s], x[k + 1, s + 1]] for k in range(L - 1) if (k, s) in x and (k + 1, s + 1) in x}
        if e and s == S - 2 and (L - 1, s) in x:
            ends[L - 1] = [x[L - 1, s]]
        costs = {t.comm_after[k] for k in ends}
        if len(costs) <= 1:
            boundary.append(costs.pop() if costs else 0)
            continue
        terms = []
        for k, conditions in ends.items():
            if t.comm_after[k] and len(conditions) == 1:
                terms.append(t.comm_after[k] * conditions[0])
            elif t.comm_after[k]:
                last = last_layer[k, s] = model.NewBoolVar(f"last{k}_{s}")
                model.AddBoolAnd(conditions).OnlyEnforceIf(last)
                model.AddBoolOr([*(c.Not() for c in conditions), last])
                terms.append(t.comm_after[k] * last)
        boundary.append(sum(terms))

    graph = schedule_graph(problem, extra_warmup, vocab_lead)
    orders = device_orders(problem, extra_warmup, vocab_lead) if timeline else []
    makespan = model.NewIntVar(0, horizon, "iteration")
    start = _timeline(problem, model, orders, forward, backward, vocab_s, vocab_t, sync, boundary, has_shards,
                      makespan, horizon) if timeline else {}

    if problem.virtual_stages == 1:
        # Redundant paths that tie the makespan to the placement directly (a stronger relaxation): the
        # first microbatch reaches device d, which then runs all its work, and the last microbatch's
        # backward returns to device 0.
        for d in range(p):
            before = sum(forward[s] + backward[s] + 2 * boundary[s] for s in range(d))
            model.Add(makespan >= before + problem.microbatches * (forward[d] + backward[d] + vocab_s[d] + vocab_t[d]))
        # the last stage's round trip bounds every microbatch: the formula's bottleneck term
        trip = sum(forward) + sum(backward) + 2 * sum(boundary)
        model.Add(makespan >= trip + (problem.microbatches - 1) * (forward[S - 1] + backward[S - 1]))

    # memory: weights and optimizer state, shards, activations at each peak of the order
    activation = [
        stage_sum(s, t.activation_kib)
        - sum(class_saving[c] * var for (r, c), var in recomputed.items() if r == s)
        for s in range(S)
    ]
    for d in range(p):
        weights = (sum(stage_sum(s, t.weight_kib) for s in range(d, S, p))
                   + sum(shard_kib[h][d] for h in range(len(head))))
        if head and d != (S - 1) % p:  # the head's input, held from S to T
            weights += t.input_kib * has_shards[d]
        states = graph.states[d] or [{}]
        for state in states:
            model.Add(weights + sum(n * activation[s] for s, n in state.items()) <= t.capacity_kib[d])
    model.Minimize(makespan)

    built = PipelineModel(model, x, recomputed, recompute_class, shards, makespan, extra_warmup, vocab_lead,
                          forward, backward, vocab_s, vocab_t, sync, boundary, has_shards, t.comm_after[L - 1],
                          (S - 1) % p, last_layer, start, orders, first, prefix_reads, shard_reads)
    if hint is not None:
        built.set_hint(problem, hint)
    return built


def _timeline(problem, model, orders, forward, backward, vocab_s, vocab_t, sync, boundary, has_shards, makespan,
              horizon) -> dict[Op, cp_model.IntVar]:
    """Every operation as a start variable, after its device predecessor and its inputs."""
    S, t = problem.virtual_count, problem.tables
    duration = {"F": forward, "B": backward, "S": vocab_s, "T": vocab_t}
    start = {op: model.NewIntVar(0, horizon, f"{op[0]}{op[1]}_{op[2]}") for order in orders for op in order}

    def end(op: Op):
        return start[op] + duration[op[0]][op[1]]

    head_comm = t.comm_after[problem.head_start - 1]
    last_device = (S - 1) % problem.stages
    for order in orders:
        for before, after in itertools.pairwise(order):
            model.Add(start[after] >= end(before))
        model.Add(makespan >= end(order[-1]))
        for op in order:
            kind, idx, j = op
            if kind == "F" and idx > 0:
                model.Add(start[op] >= end(("F", idx - 1, j)) + boundary[idx - 1])
            elif kind == "B" and idx < S - 1:
                model.Add(start[op] >= end(("B", idx + 1, j)) + boundary[idx])
            elif kind == "B":
                model.Add(start[op] >= end(("F", idx, j)))
                for d in range(problem.stages if problem.head else 0):
                    lag = 0 if d == last_device else head_comm
                    model.Add(start[op] >= end(("T", d, j)) + lag).OnlyEnforceIf(has_shards[d])
            elif kind == "S":
                lag = 0 if idx == last_device else head_comm
                model.Add(start[op] >= end(("F", S - 1, j)) + lag).OnlyEnforceIf(has_shards[idx])
            elif kind == "T":  # barrier C0: after every device's pass S of this microbatch, and the all-reduce
                for d in range(problem.stages):
                    needs = [has_shards[idx]] if d == idx else [has_shards[idx], has_shards[d]]
                    model.Add(start[op] >= end(("S", d, j)) + sync).OnlyEnforceIf(needs)
    return start


def _hint_values(problem: PipelineProblem, hint: Placement, hinted, built: PipelineModel):
    """(variable, value) for every variable, from `hint` and its simulated schedule."""
    stage_of = {k: s for s in range(problem.virtual_count) for k in hint.stage_layers(problem, s)}
    yield from ((var, int(stage_of[k] == s)) for (k, s), var in built.in_stage.items())
    yield from ((var, sum(1 for k, r in stage_of.items() if r == s and built.recompute_class[k] == c
                          and hint.recompute[k])) for (s, c), var in built.recomputed.items())
    yield from ((var, int(stage_of[k] == s and stage_of[k + 1] == s + 1)) for (k, s), var in built.last_layer.items())
    for h, row in enumerate(built.shards):
        yield from ((var, hint.shards[h][d]) for d, var in enumerate(row))
    yield from ((var, int(any(row[d] for row in hint.shards))) for d, var in enumerate(built.has_shards))
    bounds = [*hint.boundaries, problem.head_start]
    yield from ((var, bounds[s]) for s, var in enumerate(built.first[1:-1], start=1))
    yield from ((var, table[bounds[s]]) for var, table, s in built.prefix_reads)
    yield from ((var, table[hint.shards[h][d]]) for var, table, h, d in built.shard_reads)
    yield from zip(built.forward, hinted.forward)
    yield from zip(built.backward, hinted.backward)
    yield from zip(built.vocab_forward, hinted.vocab_forward)
    yield from zip(built.vocab_backward, hinted.vocab_backward)
    yield built.sync, problem.tables.sync[sum(1 for d in range(problem.stages) if any(r[d] for r in hint.shards))]
    for order in built.orders if built.start else ():
        free = 0
        for op in order:
            at = hinted.starts.get(op, free)  # a vocabulary pass of a device without shards: zero long
            yield built.start[op], at
            free = at + hinted.durations.get(op, 0)
    yield built.makespan, hinted.iteration
