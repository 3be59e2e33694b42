"""Benchmark: the cost of one tabu move, compiled (`solvers.tabu_kernel`, as the tabu search runs)
against pure Python (swap two machine neighbours, then recompute heads and tails of the whole graph,
as the search ran in issue 2), on the same instance in one process. Median milliseconds per move
over several runs, and their ratio.

The compiled figure is a whole tabu iteration (trace a critical path, score every N5 move, apply
the best, update order, heads and tails); the Python figure is only the swap and the recomputation
of random critical moves, so the ratio understates the gain.

    python -m benchmarks.tabu_speed --moves 100 --runs 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from cpsched.instances import load
from cpsched.instances.jobshop.generators import seeded_instance
from cpsched.learned_pdr import best_dispatch
from cpsched.solvers.jobshop.graph import DisjunctiveGraph
from cpsched.solvers.jobshop.tabu import tabu_search


def _critical_pairs(graph: DisjunctiveGraph, head: list[int]) -> list[tuple[int, int]]:
    """Machine neighbours that are both on a longest path and not job neighbours (N5's raw material)."""
    duration = graph.duration
    makespan = max(h + d for h, d in zip(head, duration))
    tail = graph.heads_and_tails()[1]
    return [(u, v) for u, v in enumerate(graph.machine_next)
            if v >= 0 and head[u] + duration[u] + tail[u] == makespan and head[u] + duration[u] == head[v]
            and head[v] + duration[v] + tail[v] == makespan and graph.job_next[u] != v]


def python_ms_per_move(problem, start, count: int, seed: int) -> float:
    """Random critical swaps, each followed by a full recomputation of heads and tails."""
    graph = DisjunctiveGraph.from_schedule(problem, start)
    rng = random.Random(seed)
    head, _ = graph.heads_and_tails()
    elapsed = 0.0
    for _ in range(count):
        u, v = rng.choice(_critical_pairs(graph, head))  # not timed: the search finds moves its own way
        began = time.perf_counter()
        graph.swap(u, v)
        head, _ = graph.heads_and_tails()
        elapsed += time.perf_counter() - began
    return 1000 * elapsed / count


def compiled_ms_per_move(problem, start, count: int, seed: int) -> float:
    began = time.perf_counter()
    outcome = tabu_search(problem, start, deadline=time.monotonic() + 3600, max_iterations=count, seed=seed)
    return 1000 * (time.perf_counter() - began) / max(1, outcome.iterations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=100, help="Python moves per run (compiled: 20 times as many)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| instance | operations | Python, full recompute (ms/move) | compiled tabu iteration (ms/move) | ratio |")
    print("|---|---|---|---|---|")
    for problem in (load("ta41"), load("ta71"), seeded_instance(200, 100, 1), seeded_instance(1000, 100, 1)):
        start = best_dispatch(problem)
        compiled_ms_per_move(problem, start, 10, 0)  # compile (or load the cache) outside the timing
        python = statistics.median(python_ms_per_move(problem, start, args.moves, run) for run in range(args.runs))
        compiled = statistics.median(compiled_ms_per_move(problem, start, 20 * args.moves, run)
                                     for run in range(args.runs))
        print(f"| {problem.name} | {problem.n_operations:,} | {python:.3f} | {compiled:.4f} | "
              f"{python / compiled:.0f} |", flush=True)


if __name__ == "__main__":
    main()
