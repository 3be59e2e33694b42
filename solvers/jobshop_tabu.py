"""Tabu search on the job shop's critical blocks (the N5 neighbourhood of Nowicki & Smutnicki).

A schedule is the order of operations on each machine; the makespan is the longest path of the
disjunctive graph. Only swapping the first two or the last two operations of a critical block
can shorten that path, and such a swap never creates a cycle. Each move is scored with
Taillard's estimate from heads and tails (constant time); the chosen one is applied and heads
and tails are recomputed. Pure Python over flat lists: per iteration O(operations).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from instances.jobshop import JobShop, Schedule
from solvers.jobshop_graph import DisjunctiveGraph


def _critical_moves(graph: DisjunctiveGraph, head: list[int], tail: list[int], makespan: int,
                    rng: random.Random) -> list[tuple[int, int]]:
    """N5 moves (u, v) along one critical path, chosen at random where several exist."""
    duration = graph.duration
    n = len(duration)
    starts = [o for o in range(n) if head[o] == 0 and duration[o] + tail[o] == makespan]
    if not starts:
        return []
    o = rng.choice(starts)
    blocks: list[list[int]] = [[o]]
    while True:
        end = head[o] + duration[o]
        nexts = [s for s in (graph.job_next[o], graph.machine_next[o])
                 if s >= 0 and head[s] == end and end + duration[s] + tail[s] == makespan]
        if not nexts:
            break
        s = rng.choice(nexts) if len(nexts) > 1 else nexts[0]
        if s == graph.machine_next[o]:
            blocks[-1].append(s)
        else:
            blocks.append([s])
        o = s
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
    head, tail = graph.heads_and_tails()
    makespan = max(h + d for h, d in zip(head, graph.duration))
    best_makespan, best_head = makespan, head
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
            moves = _critical_moves(graph, head, tail, makespan, rng)
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
            graph.swap(u, v)
            tabu[(u, v)] = iteration + rng.randint(tenure_low, tenure_high)
            head, tail = graph.heads_and_tails()
            makespan = max(h + d for h, d in zip(head, graph.duration))
            if makespan < best_makespan:
                best_makespan, best_head, since_best, since_improvement = makespan, head, 0, 0
                best_orders = (graph.machine_prev[:], graph.machine_next[:])
                if on_improvement is not None:
                    on_improvement(makespan)
            else:
                since_best += 1
                since_improvement += 1
                if since_best >= patience:  # go back to the best and shake it up
                    graph.machine_prev, graph.machine_next = best_orders[0][:], best_orders[1][:]
                    head, tail = graph.heads_and_tails()
                    for _ in range(rng.randint(2, 6)):
                        moves = _critical_moves(graph, head, tail, best_makespan, rng) or []
                        if moves:
                            graph.swap(*rng.choice(moves))
                            head, tail = graph.heads_and_tails()
                    makespan = max(h + d for h, d in zip(head, graph.duration))
                    tabu.clear()
                    since_best = 0
    except KeyboardInterrupt:
        interrupted = True
    return TabuOutcome(Schedule(np.asarray(best_head, dtype=np.int64)), best_makespan, iteration, interrupted)
