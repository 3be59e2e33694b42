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
from functools import cached_property, lru_cache

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.pipeline import timeline_kernel
from cpsched.instances.pipeline.problem import TICKS_PER_MS, PipelineProblem, Placement

Op = tuple[str, int, int]  # ("F" | "B", virtual stage, microbatch) or ("S" | "T", device, microbatch)
VOCAB_PASSES = ("S", "T")


KINDS = ("F", "B", "S", "T")  # the kind codes of the arrays


def _alternating(total: int, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """The 1F1B pattern over `total` forwards and backwards: `warmup` forwards, then one forward and
    one backward in turn, then the remaining backwards (GPipe is warmup = total). Kind codes and the
    running count k of each kind."""
    steady = total - warmup
    kind = np.concatenate([np.zeros(warmup, np.int64), np.tile([0, 1], steady), np.ones(warmup, np.int64)])
    k = np.concatenate([np.arange(warmup), np.stack([warmup + np.arange(steady), np.arange(steady)], 1).ravel(),
                        np.arange(steady, total)])
    return kind, k


def _device_order(problem: PipelineProblem, device: int, extra_warmup: int) -> np.ndarray:
    """One device's order without vocabulary passes: rows (kind code, virtual stage, microbatch)."""
    p, v, m = problem.stages, problem.virtual_stages, problem.microbatches
    if problem.schedule == "interleaved":  # Megatron-LM's chunk order (m a multiple of p)
        total = m * v
        kind, k = _alternating(total, total if m == p else min((p - device - 1) * 2 + (v - 1) * p, total))
        chunk = (k // p) % v
        chunk = np.where(kind == 1, v - 1 - chunk, chunk)
        return np.stack([kind, chunk * p + device, (k // (p * v)) * p + k % p], 1)
    warmup = m if problem.schedule == "gpipe" else min(p - 1 - device + (extra_warmup if problem.head else 0), m)
    kind, k = _alternating(m, warmup)
    return np.stack([kind, np.full(len(k), device), k], 1)


def _with_vocab_passes(problem: PipelineProblem, base: np.ndarray, device: int, vocab_lead: int) -> np.ndarray:
    """Device `device` runs S(d, j), T(d, j) just before its backward of microbatch j - lead_d: the
    farther a device is from the last stage, the earlier in its order (its backwards lag)."""
    p, m = problem.stages, problem.microbatches
    own = base[:, 1] == device
    forward_at, backward_at = np.empty(m, np.int64), np.empty(m, np.int64)
    positions = np.arange(len(base))
    forward_at[base[own & (base[:, 0] == 0), 2]] = positions[own & (base[:, 0] == 0)]
    backward_at[base[own & (base[:, 0] == 1), 2]] = positions[own & (base[:, 0] == 1)]
    lead = round(vocab_lead * (p - 1 - device) / max(1, p - 1))
    j = np.arange(m)
    at = np.maximum(backward_at[np.maximum(0, j - lead)], forward_at + 1)
    passes = np.concatenate([np.stack([np.full(m, 2), np.full(m, device), j], 1),
                             np.stack([np.full(m, 3), np.full(m, device), j], 1)])
    rows = np.concatenate([base, passes])
    # keys: a base operation (its position, 1, 0); S(d, j) (at_j, 0, 2j); T(d, j) (at_j, 0, 2j + 1)
    first = np.concatenate([positions, at, at])
    second = np.concatenate([np.ones(len(base), np.int64), np.zeros(2 * m, np.int64)])
    third = np.concatenate([np.zeros(len(base), np.int64), 2 * j, 2 * j + 1])
    return rows[np.lexsort((third, second, first))]


def order_arrays(problem: PipelineProblem, extra_warmup: int = 0, vocab_lead: int = 0) -> list[np.ndarray]:
    """Each device's fixed order as rows (kind code, index, microbatch), see `device_orders`."""
    orders = []
    for device in range(problem.stages):
        base = _device_order(problem, device, extra_warmup)
        orders.append(_with_vocab_passes(problem, base, device, vocab_lead) if problem.head else base)
    return orders


def device_orders(problem: PipelineProblem, extra_warmup: int = 0, vocab_lead: int = 0) -> list[list[Op]]:
    """The fixed order of operations on each device (the last two matter only with sharded layers)."""
    return [[(KINDS[kind], int(index), int(j)) for kind, index, j in order.tolist()]
            for order in order_arrays(problem, extra_warmup, vocab_lead)]


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
    violations: list[str] = field(default_factory=list)
    timeline: Timeline | None = field(repr=False, default=None)

    @cached_property
    def starts(self) -> dict[Op, int]:
        """The start time (microseconds) of every operation run, in the order they were scheduled."""
        t = self.timeline
        return {t.graph.op(op): int(t.start[op]) for op in np.flatnonzero(t.recorded).tolist()}

    @cached_property
    def durations(self) -> dict[Op, int]:
        """The length (microseconds) of every operation run."""
        t = self.timeline
        return {t.graph.op(op): int(t.length[op]) for op in np.flatnonzero(t.recorded).tolist()}

    @cached_property
    def binding(self) -> dict[Op, tuple[Op | None, LagKey]]:
        """What each operation waited for last: the operation and the lag between them."""
        t = self.timeline
        return {t.graph.op(op): (t.graph.op(t.bound_by[op]) if t.bound_by[op] >= 0 else None,
                                 t.graph.lag_key(t.bound_lag[op])) for op in range(len(t.start))}

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


def activation_states(order: np.ndarray) -> list[dict[int, int]]:
    """Microbatches in flight per virtual stage of a device (its `order_arrays` rows), after each
    forward: the points where activation memory peaks. Duplicates and states dominated by another
    are dropped."""
    passes = order[order[:, 0] <= 1]
    chunks = np.unique(passes[:, 1])
    step = np.where(passes[:, 0] == 0, 1, -1)[:, None] * (passes[:, 1][:, None] == chunks[None, :])
    forward = passes[:, 0] == 0
    # a forward followed by another leaves a state the next one dominates; runs of equal states repeat
    peaks = np.cumsum(step, axis=0)[forward & ~np.append(forward[1:], False)]
    changed = np.append(True, (peaks[1:] != peaks[:-1]).any(axis=1)) if len(peaks) else np.zeros(0, bool)
    counts = np.unique(peaks[changed], axis=0)
    kept: list[np.ndarray] = []
    for row in counts[np.argsort(-counts.sum(axis=1), kind="stable")]:
        if not any((other >= row).all() for other in kept):
            kept.append(row)
    return [{int(s): int(n) for s, n in zip(chunks, row) if n} for row in kept]


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


@dataclass(frozen=True)
class ScheduleGraph:
    """The iteration's precedence graph for one problem and vocabulary timing, which no placement
    changes, as the arrays of `timeline_kernel`, the operations numbered in a topological order that
    runs each device's order: what each waits for, and each device's activation states."""

    stages: int  # S, virtual
    devices: int  # p
    microbatches: int
    kind: np.ndarray  # per operation: kind code (F, B, S, T)
    index: np.ndarray  # virtual stage or device
    microbatch: np.ndarray
    previous: np.ndarray  # the operation before it on its device, or -1
    device: np.ndarray
    pointer: np.ndarray  # operation k waits for wait[pointer[k]:pointer[k + 1]], with those lag codes
    wait: np.ndarray
    lag: np.ndarray
    rank: np.ndarray  # timeline_kernel's numbering of an operation -> its number here
    states: list[list[dict[int, int]]]  # per device: activation_states

    def op(self, number: int) -> Op:
        """The (kind, index, microbatch) of an operation number."""
        return KINDS[self.kind[number]], int(self.index[number]), int(self.microbatch[number])

    def number(self, op: Op) -> int:
        """The operation number of (kind, index, microbatch)."""
        kind, index, j = op
        S, p, m = self.stages, self.devices, self.microbatches
        return int(self.rank[(0, S * m, 2 * S * m, 2 * S * m + p * m)[KINDS.index(kind)] + index * m + j])

    def lag_key(self, code: int) -> LagKey:
        """The lag of a lag code: None, ("boundary", s), ("head", d) or ("sync", e, d)."""
        S, p = self.stages, self.devices
        if code == 0:
            return None
        if code < S:
            return "boundary", int(code - 1)
        if code < S + p:
            return "head", int(code - S)
        return "sync", int((code - S - p) // p), int((code - S - p) % p)

    def lag_values(self, boundary: list[int], head: int, sync: int) -> np.ndarray:
        """Every lag code's time, from the p2p time after each virtual stage, to the shards and of one
        all-reduce."""
        return np.array([0, *boundary, *([head] * self.devices), *([sync] * self.devices ** 2)], np.int64)


@dataclass(frozen=True)
class Timeline:
    """One simulated iteration, per operation number of `graph`."""

    graph: ScheduleGraph
    start: np.ndarray
    length: np.ndarray
    recorded: np.ndarray  # False: a vocabulary pass of a device without shards, which does not run
    bound_by: np.ndarray  # what it waited for last: an operation number or -1
    bound_lag: np.ndarray  # and the lag code between them


def critical_path(problem: PipelineProblem, result: PipelineEvaluation, end: Op | None = None) -> Counter:
    """The operations and p2p lags on a longest path of the simulated iteration (to `end`, by
    default the last operation to finish), counted by what they depend on: ("F", s) and ("B", s)
    stage times, ("S", d) and ("T", d) vocabulary passes, ("boundary", s) and ("head", d) p2p times
    and ("sync", d, e) all-reduces. Its length
    is the time `end` finishes, for this placement; for any other placement the same path is a lower
    bound, which is what the planner's cuts use."""
    timeline = result.timeline
    graph = timeline.graph
    if end is None:
        run = np.flatnonzero(timeline.recorded)
        ends = timeline.start[run] + timeline.length[run]
        latest = run[ends == ends.max()]
        op = max((graph.op(o) for o in latest), default=None)
        number = -1 if op is None else graph.number(op)
    else:
        number = graph.number(end)
    return _path_from(timeline, number)


def _path_from(timeline: Timeline, number: int) -> Counter:
    graph = timeline.graph
    operations, lags = timeline_kernel.path_counts(number, timeline.bound_by, timeline.bound_lag, graph.kind,
                                                   graph.index, max(graph.stages, graph.devices),
                                                   1 + graph.stages + graph.devices + graph.devices ** 2)
    path: Counter = Counter()
    for kind, index in zip(*np.nonzero(operations)):
        path[(KINDS[kind], int(index))] = int(operations[kind, index])
    for code in np.flatnonzero(lags):
        path[graph.lag_key(code)] = int(lags[code])
    return path


def device_paths(problem: PipelineProblem, result: PipelineEvaluation) -> list[Counter]:
    """A longest path to the last operation of each device (the critical path among them)."""
    timeline = result.timeline
    run = np.flatnonzero(timeline.recorded)
    device = timeline.graph.device[run]
    own = {d: run[device == d] for d in np.unique(device).tolist()}
    paths = []
    for d in sorted(own, key=lambda d: own[d][0]):  # devices in the order they first run
        path = _path_from(timeline, int(own[d][-1]))
        if path not in paths:
            paths.append(path)
    return paths


def schedule_graph(problem: PipelineProblem, extra_warmup: int = 0, vocab_lead: int = 0) -> ScheduleGraph:
    """The graph of `problem` under one vocabulary-pass timing (built once, kept for the next calls)."""
    return _schedule_graph(problem, extra_warmup, vocab_lead)


@lru_cache(maxsize=4)  # a planner uses a few timings at a time; each graph is ~40 bytes an operation
def _schedule_graph(problem: PipelineProblem, extra_warmup: int, vocab_lead: int) -> ScheduleGraph:
    S, p, m = problem.virtual_count, problem.stages, problem.microbatches
    orders = order_arrays(problem, extra_warmup, vocab_lead)
    offsets = np.array([0, S * m, 2 * S * m, 2 * S * m + p * m])
    numbers = [offsets[o[:, 0]] + o[:, 1] * m + o[:, 2] for o in orders]
    pointer, wait, lag = timeline_kernel.dependencies(S, p, m, bool(problem.head))
    count = len(pointer) - 1
    order, previous, device = timeline_kernel.sequence(
        np.concatenate(numbers), np.cumsum([0, *(len(n) for n in numbers)]), pointer, wait, count)
    if len(order) < count:
        raise InputError("the schedule deadlocks: an operation waits for one that comes after it")
    kind = np.searchsorted(offsets, order, side="right") - 1
    rank = np.empty(count, np.int64)
    rank[order] = np.arange(count)
    waits = np.diff(pointer)[order]
    renumbered = np.concatenate([[0], np.cumsum(waits)])
    gather = np.repeat(pointer[order] - renumbered[:-1], waits) + np.arange(renumbered[-1])
    before = previous[order]
    states = [activation_states(o) for o in orders]
    small = np.int32  # four bytes an entry: the graph of a million operations stays under 50 MB
    previous = np.where(before >= 0, rank[np.maximum(before, 0)], -1)
    return ScheduleGraph(S, p, m, kind.astype(np.int8), ((order - offsets[kind]) // m).astype(small),
                         (order % m).astype(small), previous.astype(small),
                         device[order].astype(small), renumbered, rank[wait[gather]].astype(small),
                         lag[gather].astype(small), rank.astype(small), states)


def simulate(problem: PipelineProblem, placement: Placement) -> PipelineEvaluation:
    """Run the schedule: every operation as early as its device and its inputs allow. A device
    without shards has no vocabulary passes (they pass straight through)."""
    check_placement(problem, placement)
    graph = schedule_graph(problem, placement.extra_warmup, placement.vocab_lead)
    holds = np.array([any(row[d] for row in placement.shards) for d in range(problem.stages)])
    forward, backward, vocab_s, vocab_t = stage_times(problem, placement)
    duration = np.zeros((4, max(problem.virtual_count, problem.stages)), np.int64)
    for row, times in enumerate((forward, backward, vocab_s, vocab_t)):
        duration[row, :len(times)] = times
    comm = problem.tables.comm_after
    lags = graph.lag_values([comm[placement.stage_layers(problem, s)[-1]] for s in range(problem.virtual_count - 1)],
                            comm[problem.head_start - 1], problem.tables.sync[int(holds.sum())])
    start, length, end, recorded, bound_by, bound_lag, busy = timeline_kernel.simulate_timeline(
        graph.previous, graph.device, graph.kind, graph.index, graph.pointer, graph.wait, graph.lag,
        duration, lags, holds, problem.stages)
    iteration = int(end[recorded].max()) if recorded.any() else 0
    peaks = memory_kib(problem, placement, graph.states)
    violations = [f"device {d} needs {kib * 1024 / 1e9:.2f} GB, its cap is {problem.memory_gb[d]:g} GB"
                  for d in _over_cap(problem, peaks) for kib in [peaks[d]]]
    return PipelineEvaluation(iteration, forward, backward, vocab_s, vocab_t, peaks, busy.tolist(), violations,
                              Timeline(graph, start, length, recorded, bound_by, bound_lag))


def _over_cap(problem: PipelineProblem, peaks: list[int]) -> list[int]:
    """The devices whose peak memory (KiB) is over their cap."""
    return [d for d, kib in enumerate(peaks) if kib > problem.tables.capacity_kib[d]]


def fits(problem: PipelineProblem, placement: Placement) -> bool:
    """Whether `placement` meets every memory cap (what `simulate` finds, without the timeline)."""
    check_placement(problem, placement)
    graph = schedule_graph(problem, placement.extra_warmup, placement.vocab_lead)
    return not _over_cap(problem, memory_kib(problem, placement, graph.states))


def evaluate(problem: PipelineProblem, placement: Placement) -> PipelineEvaluation:
    """The independent check of a placement: its exact iteration time and every memory violation."""
    return simulate(problem, placement)
