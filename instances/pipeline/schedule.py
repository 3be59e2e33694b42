"""The pipeline schedules as fixed operation orders, and the event simulator that is the independent
check (`evaluate`) of every placement.

Each device runs its operations in the order its schedule fixes: 1F1B (PipeDream-Flush) runs
p - i - 1 warm-up forwards on device i, then one forward and one backward in turn, then the remaining
backwards; GPipe runs every forward, then every backward; the interleaved schedule follows Megatron's
chunk order. An operation starts when the previous one on its device has ended and its input has
arrived (the forward of the stage before, the backward of the stage after, plus the p2p time). With
the order fixed, the iteration time is a longest path, so the simulator is exact for its schedule.

Sharded head layers (vocabulary parallelism) run as Yeung et al.'s vocabulary passes (MLSys'25,
"Balancing Pipeline Parallelism with Vocabulary Parallelism", algorithm 2): for each microbatch j,
every device d holding shards runs pass S(d, j) (its slice of the logits, their local max and sum of
exponentials) once the last stage's output has reached it, then the slices synchronise: an
all-reduce of the per-token max and sum over the devices holding shards (barrier C0, its cost
`PipelineTables.sync` for the group's size), after which each device runs pass T(d, j) (the softmax,
the weight gradient and its part of the input gradient). The last stage's backward of j waits for
every T(d, j) and the partial input gradients (barrier C1, a p2p transfer from each device). A
device other than the last keeps the head's input from S to T: one microbatch more of activation.

Under 1F1B a placement's `extra_warmup` gives every device more warm-up forwards, so the last
stage's backward of a microbatch comes that many steps after its forward, and device i runs S(i, j)
and T(i, j) just before its backward of microbatch j - lead_i, where lead_i grows from 0 on the last
device to `vocab_lead` on the first (whose backwards lag the most). Then the passes fill the window
between the last stage's forward and backward instead of stalling it, at the cost of more
microbatches in flight (Yeung et al.'s schedules pay the same way).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from cpsched.instances.errors import InputError
from cpsched.instances.pipeline.problem import TICKS_PER_MS, PipelineProblem, Placement

Op = tuple[str, int, int]  # ("F" | "B", virtual stage, microbatch) or ("S" | "T", device, microbatch)
VOCAB_PASSES = ("S", "T")


def _one_f_one_b(stage: int, p: int, m: int, extra: int) -> list[Op]:
    warmup = min(p - 1 - stage + extra, m)
    order: list[Op] = [("F", stage, j) for j in range(warmup)]
    for k in range(m - warmup):
        order += [("F", stage, warmup + k), ("B", stage, k)]
    return order + [("B", stage, k) for k in range(m - warmup, m)]


def _interleaved(device: int, p: int, v: int, m: int) -> list[Op]:
    """Megatron-LM's interleaved 1F1B order of one device (m a multiple of p)."""
    total = m * v
    warmup = total if m == p else min((p - device - 1) * 2 + (v - 1) * p, total)

    def op(kind: str, k: int) -> Op:
        chunk = (k // p) % v
        if kind == "B":
            chunk = v - 1 - chunk
        return kind, chunk * p + device, (k // (p * v)) * p + k % p

    order = [op("F", k) for k in range(warmup)]
    for k in range(total - warmup):
        order += [op("F", warmup + k), op("B", k)]
    return order + [op("B", k) for k in range(total - warmup, total)]


def device_orders(problem: PipelineProblem, extra_warmup: int = 0, vocab_lead: int = 0) -> list[list[Op]]:
    """The fixed order of operations on each device (the last two matter only with sharded layers)."""
    p, v, m = problem.stages, problem.virtual_stages, problem.microbatches
    orders = []
    for device in range(p):
        if problem.schedule == "interleaved":
            base = _interleaved(device, p, v, m)
        elif problem.schedule == "gpipe":
            base = [("F", device, j) for j in range(m)] + [("B", device, j) for j in range(m)]
        else:
            base = _one_f_one_b(device, p, m, extra_warmup if problem.head else 0)
        if problem.head:
            position = {op: i for i, op in enumerate(base)}
            keyed = [((i, 1, 0), op) for i, op in enumerate(base)]
            # device i runs S(i, j), T(i, j) just before its backward of microbatch j - lead_i: the
            # farther a device is from the last stage, the earlier in its order (its backwards lag)
            lead = round(vocab_lead * (p - 1 - device) / max(1, p - 1))
            for j in range(m):
                at = max(position[("B", device, max(0, j - lead))], position[("F", device, j)] + 1)
                keyed += [((at, 0, j), ("S", device, j)), ((at, 0, j + 0.5), ("T", device, j))]
            base = [op for _, op in sorted(keyed)]
        orders.append(base)
    return orders


@dataclass
class PipelineEvaluation:
    """What the simulator found for one placement. Times in microseconds, memory in KiB."""

    iteration: int
    forward: list[int]  # per virtual stage
    backward: list[int]
    vocab_forward: list[int]  # per device: one S pass
    vocab_backward: list[int]  # per device: one T pass
    peak_kib: list[int]  # per device
    busy: list[int]  # per device
    starts: dict[Op, int] = field(repr=False, default_factory=dict)
    durations: dict[Op, int] = field(repr=False, default_factory=dict)
    binding: dict[Op, tuple[Op | None, LagKey]] = field(repr=False, default_factory=dict)  # what it waited for
    violations: list[str] = field(default_factory=list)

    @property
    def vocab(self) -> list[int]:
        """Per device: the time of its two vocabulary passes of one microbatch."""
        return [s + t for s, t in zip(self.vocab_forward, self.vocab_backward)]

    @property
    def feasible(self) -> bool:
        """True when the placement breaks no memory cap or rule."""
        return not self.violations

    @property
    def ends(self) -> dict[Op, int]:
        """The end time (microseconds) of every operation of the timeline."""
        return {op: start + self.durations[op] for op, start in self.starts.items()}

    @property
    def iteration_ms(self) -> float:
        """The iteration time in milliseconds."""
        return self.iteration / TICKS_PER_MS

    @property
    def objective(self) -> float:
        """The iteration time in milliseconds: what the planner minimises."""
        return self.iteration_ms

    @property
    def bubble(self) -> float:
        """Share of device time spent idle within the iteration."""
        return 1 - sum(self.busy) / (len(self.busy) * self.iteration) if self.iteration else 0.0


def check_placement(problem: PipelineProblem, placement: Placement) -> None:
    """Refuse a placement that is not one of this problem's (wrong lengths, empty stages, ...)."""
    S, chain = problem.virtual_count, problem.head_start
    b = list(placement.boundaries)
    if len(b) != S or b[0] != 0 or any(b2 <= b1 for b1, b2 in itertools.pairwise(b)) or b[-1] > chain:
        raise InputError(f"boundaries {b} must be {S} increasing layer indices from 0 below {chain}, "
                         "one per (virtual) stage, none empty")
    if len(placement.recompute) != chain:
        raise InputError(f"recompute lists {len(placement.recompute)} layers, the chain has {chain}")
    for i, flag in enumerate(placement.recompute):
        if flag and problem.layers[i].recompute is None:
            raise InputError(f"layer {problem.layers[i].name} has no recompute option")
    if len(placement.shards) != len(problem.head):
        raise InputError(f"shards lists {len(placement.shards)} head layers, the problem has {len(problem.head)}")
    for row, layer in zip(placement.shards, problem.head):
        if len(row) != problem.stages or min(row) < 0 or sum(row) != layer.shards:
            raise InputError(f"{layer.name}: {layer.shards} shards must be spread over {problem.stages} devices, "
                             f"got {row}")
    if b[-1] == chain and not any(row[(S - 1) % problem.stages] for row in placement.shards):
        raise InputError(f"boundaries {b}: the last stage runs no layer, so its device must hold shards")


def stage_times(problem: PipelineProblem, placement: Placement
                ) -> tuple[list[int], list[int], list[int], list[int]]:
    """Forward and backward time of each virtual stage, and each device's vocabulary passes S and T."""
    t, p = problem.tables, problem.stages
    forward, backward = [], []
    for s in range(problem.virtual_count):
        d = s % p
        layers = placement.stage_layers(problem, s)
        forward.append(sum(t.forward[d][i] for i in layers))
        backward.append(sum(t.backward[d][i] + (t.recompute_extra[d][i] if placement.recompute[i] else 0)
                            for i in layers))
    vocab_s = [sum(t.shard_forward[d][h][row[d]] for h, row in enumerate(placement.shards)) for d in range(p)]
    vocab_t = [sum(t.shard_backward[d][h][row[d]] for h, row in enumerate(placement.shards)) for d in range(p)]
    return forward, backward, vocab_s, vocab_t


def activation_states(order: list[Op], device: int, p: int) -> list[dict[int, int]]:
    """Microbatches in flight per virtual stage of `device`, after each forward: the points where
    activation memory peaks. Duplicates and states dominated by another are dropped."""
    counts: dict[int, int] = {}
    states: list[dict[int, int]] = []
    for kind, index, _ in order:
        if kind == "F":
            counts[index] = counts.get(index, 0) + 1
            states.append(dict(counts))
        elif kind == "B":
            counts[index] -= 1
    unique = {tuple(sorted(s.items())): s for s in states}.values()
    return [s for s in unique
            if not any(o is not s and all(o.get(k, 0) >= n for k, n in s.items()) and o != s for o in unique)]


def memory_kib(problem: PipelineProblem, placement: Placement, states: list[list[dict[int, int]]]) -> list[int]:
    """Peak memory of each device: weights, gradients and optimizer state, the activations of the
    microbatches in flight at the worst point of its order, and its shards' activations (with the head's
    input, on a device other than the last)."""
    t, p = problem.tables, problem.stages
    activation = []
    for s in range(problem.virtual_count):
        layers = placement.stage_layers(problem, s)
        activation.append(sum(t.recompute_activation_kib[i] if placement.recompute[i] else t.activation_kib[i]
                              for i in layers))
    peaks = []
    for d in range(p):
        weights = sum(t.weight_kib[i] for s in range(d, problem.virtual_count, p)
                      for i in placement.stage_layers(problem, s))
        shards = sum(t.shard_kib[h][row[d]] for h, row in enumerate(placement.shards))
        if shards and d != (problem.virtual_count - 1) % p:
            shards += t.input_kib
        in_flight = max((sum(n * activation[s] for s, n in state.items()) for state in states[d]), default=0)
        peaks.append(weights + shards + in_flight)
    return peaks


# ("boundary", s): p2p after virtual stage s; ("head", d): between the last stage and device d's shards;
# ("sync", d, e): the all-reduce from device d's pass S to device e's pass T
LagKey = tuple | None


def critical_path(problem: PipelineProblem, result: PipelineEvaluation, end: Op | None = None) -> Counter:
    """The operations and p2p lags on a longest path of the simulated iteration (to `end`, by
    default the last operation to finish), counted by what they depend on: ("F", s) and ("B", s)
    stage times, ("S", d) and ("T", d) vocabulary passes, ("boundary", s) and ("head", d) p2p times
    and ("sync", d, e) all-reduces. Its length
    is the time `end` finishes, for this placement; for any other placement the same path is a lower
    bound, which is what the planner's cuts use."""
    path: Counter = Counter()
    if end is None:
        ends = result.ends
        end = max(ends, key=lambda o: (ends[o], o))
    op = end
    while op is not None:
        kind, index, _ = op
        path[(kind, index)] += 1
        op, lag_key = result.binding[op]
        if lag_key is not None:
            path[lag_key] += 1
    return path


def device_paths(problem: PipelineProblem, result: PipelineEvaluation) -> list[Counter]:
    """A longest path to the last operation of each device (the critical path among them)."""
    last: dict[int, Op] = {}
    for op in result.starts:  # in the order they were scheduled, device by device
        device = op[1] % problem.stages if op[0] not in VOCAB_PASSES else op[1]
        last[device] = op
    paths = []
    for op in last.values():
        path = critical_path(problem, result, op)
        if path not in paths:
            paths.append(path)
    return paths


@dataclass(frozen=True)
class ScheduleGraph:
    """The iteration's precedence graph for one problem and vocabulary timing, which no placement
    changes: device orders, every operation in a topological order, and what each waits for."""

    orders: list[list[Op]]
    sequence: list[tuple[Op, int, Op | None]]  # (operation, device, previous operation on the device)
    waits: dict[Op, list[tuple[Op, LagKey]]]
    states: list[list[dict[int, int]]]  # per device: activation_states


@lru_cache(maxsize=128)
def schedule_graph(problem: PipelineProblem, extra_warmup: int = 0, vocab_lead: int = 0) -> ScheduleGraph:
    orders = device_orders(problem, extra_warmup, vocab_lead)
    S, p = problem.virtual_count, problem.stages
    last_device = (S - 1) % p

    def boundary(s: int) -> LagKey:
        return None if s % p == (s + 1) % p else ("boundary", s)

    def head(d: int) -> LagKey:
        return None if d == last_device else ("head", d)

    waits: dict[Op, list[tuple[Op, LagKey]]] = {}
    for order in orders:
        for op in order:
            kind, index, j = op
            if kind == "F":
                waits[op] = [(("F", index - 1, j), boundary(index - 1))] if index > 0 else []
            elif kind == "S":
                waits[op] = [(("F", S - 1, j), head(index))]
            elif kind == "T":
                waits[op] = [(("S", d, j), ("sync", d, index)) for d in range(p)]
            elif index < S - 1:
                waits[op] = [(("B", index + 1, j), boundary(index))]
            else:
                waits[op] = [(("F", S - 1, j), None)] + [(("T", d, j), head(d)) for d in range(p) if problem.head]
    sequence: list[tuple[Op, int, Op | None]] = []
    done: set[Op] = set()
    position = [0] * p
    while len(sequence) < sum(len(order) for order in orders):
        progressed = False
        for d, order in enumerate(orders):
            while position[d] < len(order) and all(dep in done for dep, _ in waits[order[position[d]]]):
                op = order[position[d]]
                sequence.append((op, d, order[position[d] - 1] if position[d] else None))
                done.add(op)
                position[d] += 1
                progressed = True
        if not progressed:
            raise InputError("the schedule deadlocks: an operation waits for one that comes after it")
    states = [activation_states(order, d, p) for d, order in enumerate(orders)]
    return ScheduleGraph(orders, sequence, waits, states)


def simulate(problem: PipelineProblem, placement: Placement) -> PipelineEvaluation:
    """Run the schedule: every operation as early as its device and its inputs allow. A device
    without shards has no vocabulary passes (they pass straight through)."""
    check_placement(problem, placement)
    graph = schedule_graph(problem, placement.extra_warmup, placement.vocab_lead)
    holds = [any(row[d] for row in placement.shards) for d in range(problem.stages)]
    forward, backward, vocab_s, vocab_t = stage_times(problem, placement)
    duration = {"F": forward, "B": backward, "S": vocab_s, "T": vocab_t}
    comm = problem.tables.comm_after
    lag = {("boundary", s): comm[placement.stage_layers(problem, s)[-1]] for s in range(problem.virtual_count - 1)}
    lag.update({("head", d): comm[problem.head_start - 1] for d in range(problem.stages)})
    sync = problem.tables.sync[sum(holds)]  # every ("sync", d, e) lag: one all-reduce
    lag[None] = 0
    starts: dict[Op, int] = {}
    ends: dict[Op, int] = {}
    durations: dict[Op, int] = {}
    binding: dict[Op, tuple[Op | None, LagKey]] = {}
    busy = [0] * problem.stages
    for op, d, previous in graph.sequence:
        start = ends[previous] if previous is not None else 0
        binding[op] = (previous, None)
        if op[0] in VOCAB_PASSES and not holds[d]:
            ends[op] = start
            continue
        for dep, key in graph.waits[op]:
            if dep[0] in VOCAB_PASSES and not holds[dep[1]]:
                continue
            ready = ends[dep] + (sync if key is not None and key[0] == "sync" else lag[key])
            if ready > start:
                start, binding[op] = ready, (dep, key)
        length = duration[op[0]][op[1]]
        starts[op], ends[op], durations[op] = start, start + length, length
        busy[d] += length
    iteration = max(ends.values(), default=0)
    peaks = memory_kib(problem, placement, graph.states)
    violations = [f"device {d} needs {kib * 1024 / 1e9:.2f} GB, its cap is {problem.memory_gb[d]:g} GB"
                  for d, kib in enumerate(peaks) if kib > problem.tables.capacity_kib[d]]
    return PipelineEvaluation(iteration, forward, backward, vocab_s, vocab_t, peaks, busy, starts, durations, binding,
                              violations)


def evaluate(problem: PipelineProblem, placement: Placement) -> PipelineEvaluation:
    """The independent check of a placement: its exact iteration time and every memory violation."""
    return simulate(problem, placement)
