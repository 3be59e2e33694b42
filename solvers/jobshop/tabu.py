"""Tabu search on the job shop's critical blocks (the N5 neighbourhood of Nowicki & Smutnicki).

A schedule is the order of operations on each machine; the makespan is the longest path of the
disjunctive graph. Only swapping the first two or the last two operations of a critical block
can shorten that path, and such a swap never creates a cycle. Each move is scored with
Taillard's estimate from heads and tails (constant time). The moves run compiled
(`solvers.tabu_kernel`) in slices of about 50 ms; between slices this module checks the deadline,
reports progress and lets Ctrl-C through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cpsched.instances.jobshop.generators import random_jobshop
from cpsched.instances.jobshop.problem import JobShop, Schedule
from cpsched.learned_pdr import dispatch
from cpsched.solvers.jobshop import tabu_kernel as kernel
from cpsched.solvers.jobshop.graph import DisjunctiveGraph

SLICE_SECONDS = 0.05  # between deadline checks; the first slice is 16 moves, then sized from the last one
# Moves without a new best before going back to the best and shaking it (5-15 random critical
# moves). Measured on dmu56, dmu61 and dmu76 at 20 s: 2,500 moves (the pure-Python setting) left
# 7.5-13.9% gaps, 100,000 2.8-7.9%, 1,000,000 3.1-5.5%: with compiled moves, long runs pay.
PATIENCE = 1_000_000


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
    graph = DisjunctiveGraph.from_schedule(problem, start)
    duration, job_prev, job_next, machine_prev, machine_next = (
        np.asarray(links, dtype=np.int64) for links in
        (graph.duration, graph.job_prev, graph.job_next, graph.machine_prev, graph.machine_next))
    n = problem.n_operations
    sinks = (problem.job_starts[1:] - 1).astype(np.int64)
    order, position = np.empty(n, np.int64), np.empty(n, np.int64)
    kernel.topological_order(job_prev, job_next, machine_prev, machine_next, order, position)
    head, tail = np.zeros(n, np.int64), np.zeros(n, np.int64)
    kernel.sweep_heads(order, 0, duration, job_prev, machine_prev, head)
    kernel.sweep_tails(order, n - 1, duration, job_next, machine_next, tail)
    state = np.zeros(kernel.STATE_SIZE, np.int64)
    state[kernel.MAKESPAN] = state[kernel.BEST] = kernel.makespan_of(head, duration, sinks)
    state[kernel.RNG] = (seed * 0x2545F4914F6CDD1D + 0x9E3779B97F4A7C15) % 2**63 or 1  # xorshift: never 0
    state[kernel.TENURE_LOW] = 8
    state[kernel.TENURE_HIGH] = 8 + max(2, problem.n_jobs // 5)
    state[kernel.PATIENCE] = PATIENCE
    state[kernel.SHAKES_LOW], state[kernel.SHAKES_HIGH] = 5, 15
    best_machine_prev, best_machine_next, best_head = machine_prev.copy(), machine_next.copy(), head.copy()
    tabu = kernel.new_tabu_list(int(state[kernel.TENURE_HIGH]))
    reported = int(state[kernel.BEST])
    slice_moves = 16
    interrupted = False
    try:
        while state[kernel.DONE] == 0:
            moves = slice_moves
            if max_iterations is not None:
                moves = min(moves, max_iterations - int(state[kernel.ITERATION]))
            if moves <= 0 or time.monotonic() >= deadline:
                break
            if stall_iterations is not None and state[kernel.SINCE_IMPROVEMENT] >= stall_iterations:
                break
            began = time.monotonic()
            before = int(state[kernel.ITERATION])
            kernel.run(duration, job_prev, job_next, machine_prev, machine_next, sinks, order, position, head, tail,
                       best_machine_prev, best_machine_next, best_head, tabu, state, moves,
                       stall_iterations or 0, problem.lower_bound)
            if state[kernel.ITERATION] == before:
                break  # stalled or optimal at the start of the slice
            elapsed = time.monotonic() - began
            per_move = elapsed / (state[kernel.ITERATION] - before)
            slice_moves = max(16, min(1_000_000, int(SLICE_SECONDS / max(per_move, 1e-9))))
            if state[kernel.BEST] < reported:
                reported = int(state[kernel.BEST])
                if on_improvement is not None:
                    on_improvement(reported)
    except KeyboardInterrupt:
        interrupted = True
    return TabuOutcome(Schedule(best_head.copy()), int(state[kernel.BEST]), int(state[kernel.ITERATION]), interrupted)


def warm_up() -> None:
    """Compile the kernel, or load it from numba's cache, on a tiny instance: the first search on a
    new installation would otherwise spend ~7 s of its time limit compiling (later ones ~0.3 s
    loading). Solvers call this before they start the clock."""
    problem = random_jobshop(3, 3, 0)
    tabu_search(problem, dispatch(problem, "spt"), deadline=time.monotonic() + 60, max_iterations=3)
