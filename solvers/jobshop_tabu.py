"""Tabu search on the job shop's critical blocks (the N5 neighbourhood of Nowicki & Smutnicki).

A schedule is the order of operations on each machine; the makespan is the longest path of the
disjunctive graph. Only swapping the first two or the last two operations of a critical block
can shorten that path, and such a swap never creates a cycle. Each move is scored with
Taillard's estimate from heads and tails (constant time); the chosen one is applied and heads
and tails are brought up to date incrementally (`Timing`), so an iteration costs about what the
move changes, not the size of the instance.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from instances.jobshop import JobShop, Schedule
from solvers.jobshop_graph import DisjunctiveGraph, Timing


def _critical_moves(graph: DisjunctiveGraph, head: list[int], makespan: int, rng: random.Random,
                    sinks: list[int]) -> list[tuple[int, int]]:
    """N5 moves (u, v) along one critical path, chosen at random where several exist. The path is
    traced back from a job's last operation ending at the makespan, through predecessors that end
    exactly when it starts (heads only). `sinks` is the last operation of every job."""
    duration = graph.duration
    ends = [o for o in sinks if head[o] + duration[o] == makespan]
    if not ends:
        return []
    o = rng.choice(ends)
    path = [o]
    while True:
        tight = [p for p in (graph.job_prev[o], graph.machine_prev[o]) if p >= 0 and head[p] + duration[p] == head[o]]
        if not tight:
            break
        o = rng.choice(tight) if len(tight) > 1 else tight[0]
        path.append(o)
    path.reverse()
    blocks: list[list[int]] = [[path[0]]]
    for previous, o in itertools.pairwise(path):
        if graph.machine_prev[o] == previous:
            blocks[-1].append(o)
        else:
            blocks.append([o])
    moves = []
    last = len(blocks) - 1
    for k, block in enumerate(blocks):
        if len(block) < 2:
            continue
        if k > 0:
            moves.append((block[0], block[1]))
        if k < last and (k == 0 or len(block) > 2):
            moves.append((block[-2], block[-1]))
    return [(u, v) for u, v in moves if graph.job_next[u] != v]


def _estimate(graph: DisjunctiveGraph, head: list[int], tail: list[int], u: int, v: int) -> int:
    """Taillard's estimate of the longest path through u and v after swapping them."""
    d = graph.duration
    a, b = graph.machine_prev[u], graph.machine_next[v]
    jv, ju = graph.job_prev[v], graph.job_prev[u]
    head_v = max(head[jv] + d[jv] if jv >= 0 else 0, head[a] + d[a] if a >= 0 else 0)
    head_u = max(head[ju] + d[ju] if ju >= 0 else 0, head_v + d[v])
    nu, nv = graph.job_next[u], graph.job_next[v]
    tail_u = max(tail[nu] + d[nu] if nu >= 0 else 0, tail[b] + d[b] if b >= 0 else 0)
    tail_v = max(tail[nv] + d[nv] if nv >= 0 else 0, tail_u + d[u])
    return max(head_v + d[v] + tail_v, head_u + d[u] + tail_u)


@dataclass
class TabuOutcome:
    """The best schedule found, how many iterations ran, and whether Ctrl-C cut the search short."""

    schedule: Schedule
    makespan: int
    iterations: int
    interrupted: bool


def tabu_search(
    problem: JobShop,
    start: Schedule,
    *,
    deadline: float,
    seed: int = 0,
    max_iterations: int | None = None,
    stall_iterations: int | None = None,
    on_improvement: Callable[[int], None] | None = None,
) -> TabuOutcome:
    """Improve `start` until `deadline` (time.monotonic()), `max_iterations`, or
    `stall_iterations` in a row without a new best; return the best (semi-active) schedule found.
    It also stops at the job/machine lower bound. Deterministic for a given seed when it stops on
    an iteration count. Ctrl-C ends the search and keeps the best schedule."""
    rng = random.Random(seed)
    graph = DisjunctiveGraph.from_schedule(problem, start)
    sinks = (problem.job_starts[1:] - 1).tolist()
    timing = Timing(graph, sinks)
    tail_refresh = max(1, problem.n_operations // 2000)  # exact tails on benchmark sizes, amortised beyond
    head, tail = timing.head, timing.tail
    makespan = timing.makespan()
    best_makespan, best_head = makespan, head[:]
    best_orders = (graph.machine_prev[:], graph.machine_next[:])
    tabu: dict[tuple[int, int], int] = {}
    tenure_low = 8
    tenure_high = 8 + max(2, problem.n_jobs // 5)
    patience = 2000 + 10 * problem.n_jobs
    since_best = 0
    since_improvement = 0
    iteration = 0
    lower_bound = problem.lower_bound
    interrupted = False
    try:
        while best_makespan > lower_bound:
            if max_iterations is not None and iteration >= max_iterations:
                break
            if stall_iterations is not None and since_improvement >= stall_iterations:
                break
            if time.monotonic() >= deadline:
                break
            iteration += 1
            if iteration % tail_refresh == 0:
                timing.refresh_tails()
            moves = _critical_moves(graph, head, makespan, rng, sinks)
            if not moves:
                break  # the critical path is one block: the schedule is optimal
            chosen, chosen_value = None, None
            for u, v in moves:
                value = _estimate(graph, head, tail, u, v)
                allowed = tabu.get((v, u), 0) < iteration or value < best_makespan
                if allowed and (chosen_value is None or value < chosen_value):
                    chosen, chosen_value = (u, v), value
            if chosen is None:
                chosen = min(moves, key=lambda m: tabu.get((m[1], m[0]), 0))
            u, v = chosen
            timing.swap(u, v)
            tabu[(u, v)] = iteration + rng.randint(tenure_low, tenure_high)
            makespan = timing.makespan()
            if makespan < best_makespan:
                best_makespan, best_head, since_best, since_improvement = makespan, head[:], 0, 0
                best_orders = (graph.machine_prev[:], graph.machine_next[:])
                if on_improvement is not None:
                    on_improvement(makespan)
            else:
                since_best += 1
                since_improvement += 1
                if since_best >= patience:  # go back to the best and shake it up
                    graph.machine_prev, graph.machine_next = best_orders[0][:], best_orders[1][:]
                    timing.reset()
                    head, tail = timing.head, timing.tail
                    for _ in range(rng.randint(2, 6)):
                        moves = _critical_moves(graph, head, best_makespan, rng, sinks)
                        if moves:
                            timing.swap(*rng.choice(moves))
                    makespan = timing.makespan()
                    tabu.clear()
                    since_best = 0
    except KeyboardInterrupt:
        interrupted = True
    return TabuOutcome(Schedule(np.asarray(best_head, dtype=np.int64)), best_makespan, iteration, interrupted)
