"""Large-neighbourhood search for big job shops: re-optimise one window with a small CP-SAT model.

The incumbent is a set of machine orders (a `DisjunctiveGraph`). Sorting the operations by their
start time (heads, ties in topological order) gives a rank in which every arc of the graph goes
forward; a move takes a contiguous range of ranks, the window W. Operations before W (the prefix)
stay where they are; operations after it (the suffix) keep their order and enter the small model
only through their tails; so the model holds W alone:

- each operation of W starts no earlier than the end of its job's and its machine's last prefix
  operation (its release), and the makespan is at least its end plus the tail of whichever suffix
  operation must follow it on its job or machine;
- inside W, the freed operations (all of W, a few machines, a few jobs, or the machines of the
  critical path) are re-sequenced by NoOverlap; the others keep their machine order;
- paths that bypass W (prefix straight into suffix) give a constant lower bound; when it already
  equals the makespan the window cannot help and is skipped without a solve.

A critical path runs without a gap from time 0 to the makespan, so it passes through every window
unless one long operation spans the whole window; that case is what the bypass bound catches. The
new orders are spliced into the graph, heads and tails recomputed (two linear sweeps), and the move
is kept only when the makespan drops (accepting equal makespans measured worse). The window size
adapts: it grows when CP-SAT proves its window optimal and shrinks when it runs out of time. Each
neighbourhood is chosen in proportion to how often it has improved. Zero-duration operations hold
no machine (as in `evaluate`): they follow their job only.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from cpsched.instances.jobshop.problem import JobShop, Schedule
from cpsched.solvers.jobshop.graph import DisjunctiveGraph

NEIGHBOURHOODS = ("window", "machines", "jobs", "critical")
MAX_FREE = 2_000  # freed operations per move at most: bounds model building (Python) per move
MIN_SOLVE_SECONDS = 0.05  # a move with less time left than this is not started


@dataclass
class LnsOutcome:
    """The best schedule, its makespan, and what the search did."""

    schedule: Schedule
    makespan: int
    moves: int  # windows solved by CP-SAT
    improvements: int
    interrupted: bool
    skipped: int = 0  # windows a bypass path made useless (no solve)
    tried: dict[str, int] = field(default_factory=dict)
    improved: dict[str, int] = field(default_factory=dict)


class _Incumbent:
    """The current machine orders with their heads, tails and rank order."""

    def __init__(self, problem: JobShop, graph: DisjunctiveGraph):
        self.problem = problem
        self.graph = graph
        self.job_next = np.asarray(graph.job_next, dtype=np.int64)
        order = graph.topological_order()
        self.set(order, *graph.heads_and_tails(order))

    def set(self, order: list[int], head: list[int], tail: list[int]) -> None:
        self.head, self.tail = head, tail
        self.head_array = np.asarray(head, dtype=np.int64)
        self.tail_array = np.asarray(tail, dtype=np.int64)
        self.makespan = int((self.head_array + self.problem.durations).max())
        topological_position = np.empty(len(order), dtype=np.int64)
        topological_position[np.asarray(order)] = np.arange(len(order))
        self.by_rank = np.lexsort((topological_position, self.head_array))
        rank = np.empty_like(self.by_rank)
        rank[self.by_rank] = np.arange(len(rank))
        self.rank = rank


@dataclass
class _Window:
    """A move: the ranks [low, high) and which of their operations are free to be re-sequenced."""

    kind: str
    low: int
    high: int
    ops: np.ndarray  # in rank order
    free: np.ndarray  # bool per op of `ops`


SPAN_PER_FREE = 25  # a window holds at most this many operations per freed one (bounds the model)


def _choose_window(state: _Incumbent, kind: str, size: int, rng: np.random.Generator) -> _Window:
    """A rank range and the operations freed in it, for about `size` freed operations.

    - window: `size` consecutive ranks, all free;
    - machines: one to three random machines, over as many ranks as hold `size` of their operations;
    - jobs: a few random jobs, likewise;
    - critical: the machine where a critical path ends a block and the machine it goes on to (the
      only places a swap can shorten it, as in N5), over a range that ends a little after that point.
    """
    problem = state.problem
    n = problem.n_operations
    if kind == "window":
        span = min(n, size)
        low = int(rng.integers(0, n - span + 1))
        return _Window(kind, low, low + span, state.by_rank[low:low + span], np.ones(span, dtype=bool))
    if kind == "jobs":
        count = int(rng.integers(2, 9))
        span = min(n, SPAN_PER_FREE * size, max(3 * size, size * problem.n_jobs // count))
        low = int(rng.integers(0, n - span + 1))
        ops = state.by_rank[low:low + span]
        groups = problem.job_of[ops]
        chosen = rng.permutation(np.unique(groups))[:count]
        return _Window(kind, low, low + span, ops, np.isin(groups, chosen))
    junction = _junction(state, rng) if kind == "critical" else None
    if junction is None:
        chosen = rng.choice(problem.n_machines, size=min(problem.n_machines, int(rng.integers(1, 4))), replace=False)
        centre = int(rng.integers(0, n))
    else:
        following = junction + 1 if not problem.is_last[junction] else junction
        chosen = np.unique(problem.machines[[junction, following]])
        centre = int(state.rank[junction])
    span = min(n, SPAN_PER_FREE * size, max(size, size * problem.n_machines // len(chosen)))
    offset = span // 4 if junction is not None else span // 2  # before a junction: what can swap with it
    low = int(np.clip(centre - span + offset, 0, n - span))
    ops = state.by_rank[low:low + span]
    return _Window(kind, low, low + span, ops, np.isin(problem.machines[ops], chosen))


def _junction(state: _Incumbent, rng: np.random.Generator) -> int | None:
    """A random critical operation after which a critical path leaves its machine (by a job arc, or
    at the end of the schedule); None if there is none."""
    problem = state.problem
    head, tail, durations = state.head_array, state.tail_array, problem.durations
    critical = head + durations + tail == state.makespan
    job_next = np.where(problem.is_last, 0, np.arange(problem.n_operations) + 1)
    on_path = (head[job_next] == head + durations) & (tail == durations[job_next] + tail[job_next])
    leaves_by_job = ~problem.is_last & on_path
    junctions = np.flatnonzero(critical & (durations > 0) & (leaves_by_job | (tail == 0)))
    return int(rng.choice(junctions)) if junctions.size else None


@dataclass
class _WindowModel:
    model: cp_model.CpModel
    starts: list
    machine_before: dict[int, int]  # machine -> its last prefix operation (or -1)
    machine_after: dict[int, int]  # machine -> its first suffix operation (or -1)


def _bypass_bound(state: _Incumbent, low: int, high: int) -> int:
    """The longest path that avoids the window: prefix operations and arcs from the prefix
    straight into the suffix (the suffix keeps its order, so its tails stay exact)."""
    problem, graph = state.problem, state.graph
    prefix = state.by_rank[:low]
    if prefix.size == 0:
        bound = 0
    else:
        ends = state.head_array[prefix] + problem.durations[prefix]
        bound = int(ends.max())
        for successors in (state.job_next[prefix], np.asarray(graph.machine_next)[prefix]):
            crosses = (successors >= 0) & (state.rank[np.maximum(successors, 0)] >= high)
            if crosses.any():
                s = successors[crosses]
                bound = max(bound, int((ends[crosses] + problem.durations[s] + state.tail_array[s]).max()))
    suffix = state.by_rank[high:]
    if suffix.size:
        sources = suffix[state.head_array[suffix] == 0]
        if sources.size:
            bound = max(bound, int((problem.durations[sources] + state.tail_array[sources]).max()))
    return bound


def _build_window_model(state: _Incumbent, window: _Window, floor: int) -> _WindowModel:
    """The small model of one window (see the module docstring)."""
    problem, graph = state.problem, state.graph
    head, tail, rank = state.head, state.tail, state.rank
    duration = graph.duration
    low, high = window.low, window.high
    ops = window.ops.tolist()
    free = window.free.tolist()
    machine_of = problem.machines[window.ops].tolist()

    def inside(o: int) -> bool:
        return o >= 0 and low <= rank[o] < high

    per_machine = _machine_runs(ops, machine_of, duration)
    machine_before = {m: graph.machine_prev[ops[run[0]]] for m, run in per_machine.items()}
    machine_after = {m: graph.machine_next[ops[run[-1]]] for m, run in per_machine.items()}
    machine_release = {m: head[p] + duration[p] if p >= 0 else 0 for m, p in machine_before.items()}
    machine_tail = {m: duration[s] + tail[s] if s >= 0 else 0 for m, s in machine_after.items()}

    model = cp_model.CpModel()
    makespan = state.makespan
    objective = model.new_int_var(floor, makespan, "makespan")
    starts = []
    local = {}
    for k, (o, m) in enumerate(zip(ops, machine_of)):
        p = graph.job_prev[o]
        release = max(head[p] + duration[p] if p >= 0 and not inside(p) else 0, machine_release.get(m, 0)
                      if duration[o] > 0 else 0)
        s = graph.job_next[o]
        after = max(duration[s] + tail[s] if s >= 0 and not inside(s) else 0, machine_tail.get(m, 0)
                    if duration[o] > 0 else 0)
        start = model.new_int_var(release, makespan - duration[o] - after, "")
        model.add_hint(start, head[o])
        model.add(objective >= start + (duration[o] + after))
        starts.append(start)
        local[o] = k
    for k, o in enumerate(ops):
        s = graph.job_next[o]
        if s >= 0 and s in local:
            model.add(starts[local[s]] >= starts[k] + duration[o])

    for run in per_machine.values():
        kept = [k for k in run if not free[k]]
        for a, b in itertools.pairwise(kept):
            model.add(starts[b] >= starts[a] + duration[ops[a]])
        if len(kept) < len(run) and len(run) > 1:
            model.add_no_overlap([model.new_fixed_size_interval_var(starts[k], duration[ops[k]], "") for k in run])
    model.add_hint(objective, makespan)
    model.minimize(objective)
    return _WindowModel(model, starts, machine_before, machine_after)


def _machine_runs(ops: list[int], machine_of: list[int], duration: list[int]) -> dict[int, list[int]]:
    """Per machine, the window positions of its operations that hold it (duration > 0), in rank
    order, which is their machine order."""
    runs: dict[int, list[int]] = {}
    for k, (o, m) in enumerate(zip(ops, machine_of)):
        if duration[o] > 0:
            runs.setdefault(m, []).append(k)
    return runs


def _splice(state: _Incumbent, window: _Window, built: _WindowModel, values: list[int]) -> list[tuple] | None:
    """Put the window's new machine orders into the graph. Returns the links it overwrote, for
    `_undo`, or None when no order changed."""
    graph = state.graph
    ops = window.ops.tolist()
    runs = _machine_runs(ops, state.problem.machines[window.ops].tolist(), graph.duration)
    changed = []
    for m, run in runs.items():
        order = sorted(run, key=lambda k: (values[k], k))
        if order != run:
            changed.append((m, [ops[k] for k in order]))
    if not changed:
        return None
    saved = []
    for m, chain in changed:
        linked = [built.machine_before[m], *chain, built.machine_after[m]]
        saved.extend((o, graph.machine_prev[o], graph.machine_next[o]) for o in linked if o >= 0)
        graph.chain(linked)
    return saved


def _undo(graph: DisjunctiveGraph, saved: list[tuple]) -> None:
    for o, prev, following in reversed(saved):
        graph.machine_prev[o], graph.machine_next[o] = prev, following


def lns(
    problem: JobShop,
    start: Schedule,
    *,
    deadline: float,
    workers: int = 1,
    seed: int = 0,
    max_moves: int | None = None,
    initial_size: int | None = None,
    move_time_limit: float = 1.0,
    on_improvement: Callable[[int], None] | None = None,
) -> LnsOutcome:
    """Improve the feasible schedule `start` until `deadline` (time.monotonic()) or `max_moves`
    windows solved; return the best schedule found (the semi-active schedule of `start`'s machine
    orders or better, so never worse than `start`). Ctrl-C ends the search and keeps the best."""
    rng = np.random.default_rng(seed)
    state = _Incumbent(problem, DisjunctiveGraph.from_schedule(problem, start))
    n = problem.n_operations
    size = float(min(initial_size or 200, n, MAX_FREE))
    smallest = min(n, 20)
    tried = dict.fromkeys(NEIGHBOURHOODS, 0)
    improved = dict.fromkeys(NEIGHBOURHOODS, 0)
    moves = improvements = skipped = 0
    interrupted = False
    lower_bound = problem.lower_bound
    try:
        while state.makespan > lower_bound and (max_moves is None or moves < max_moves):
            if deadline - time.monotonic() < MIN_SOLVE_SECONDS:
                break
            weights = np.array([(improved[k] + 1) / (tried[k] + 2) for k in NEIGHBOURHOODS])
            kind = NEIGHBOURHOODS[int(rng.choice(len(NEIGHBOURHOODS), p=weights / weights.sum()))]
            window = _choose_window(state, kind, int(size), rng)
            floor = _bypass_bound(state, window.low, window.high)
            if floor >= state.makespan:
                skipped += 1  # a path around this window is already critical
                continue
            built = _build_window_model(state, window, floor)
            remaining = deadline - time.monotonic()
            if remaining < MIN_SOLVE_SECONDS:
                break
            moves += 1
            tried[kind] += 1
            solver = cp_model.CpSolver()
            solver.parameters.max_time_in_seconds = min(move_time_limit, remaining)
            solver.parameters.num_workers = workers
            solver.parameters.random_seed = int(seed + moves) % 2**31
            solver.parameters.catch_sigint_signal = False  # Ctrl-C reaches Python once the move ends
            status = solver.solve(built.model)
            size = min(size * 1.15, n, MAX_FREE) if status == cp_model.OPTIMAL else max(size * 0.85, smallest)
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE) or solver.objective_value >= state.makespan:
                continue  # only improvements are kept: sideways moves measured worse
            saved = _splice(state, window, built, [solver.value(v) for v in built.starts])
            if saved is None:
                continue
            before = state.makespan
            order = state.graph.topological_order()
            head, tail = state.graph.heads_and_tails(order)
            new_makespan = max(h + d for h, d in zip(head, state.graph.duration))
            if new_makespan >= before:  # the window's bound is exact, so this is a safeguard only
                _undo(state.graph, saved)
                continue
            state.set(order, head, tail)
            improvements += 1
            improved[kind] += 1
            if on_improvement is not None:
                on_improvement(new_makespan)
    except KeyboardInterrupt:
        interrupted = True
    best = Schedule(state.head_array.copy())
    return LnsOutcome(best, problem.makespan_of(best.starts), moves, improvements, interrupted, skipped,
                      tried, improved)
