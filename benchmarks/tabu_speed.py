"""Benchmark: the cost of one tabu move, incremental heads (`Timing`, as the tabu search runs) against
recomputing heads and tails of the whole graph (as it ran before), on the same instance, the same
moves, in one process. Median seconds per move over several runs, and their ratio.

    python -m benchmarks.tabu_speed --moves 200 --runs 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from instances import load
from instances.generators import seeded_instance
from learned_pdr import best_dispatch
from solvers.jobshop_graph import DisjunctiveGraph, Timing
from solvers.jobshop_tabu import _critical_moves


def _moves(problem, start, count: int, seed: int, incremental: bool) -> float:
    """Seconds per move for `count` random critical-block moves (N5) applied one after the other."""
    graph = DisjunctiveGraph.from_schedule(problem, start)
    sinks = (problem.job_starts[1:] - 1).tolist()
    timing = Timing(graph, sinks)
    rng = random.Random(seed)
    refresh = max(1, problem.n_operations // 2000)
    began = time.perf_counter()
    for move in range(count):
        moves = _critical_moves(graph, timing.head, timing.makespan(), rng, sinks)
        u, v = rng.choice(moves)
        if incremental:
            timing.swap(u, v)
            if move % refresh == 0:
                timing.refresh_tails()
        else:
            graph.swap(u, v)
            timing.head, timing.tail = graph.heads_and_tails()
    return (time.perf_counter() - began) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| instance | operations | full recompute (ms/move) | incremental (ms/move) | full / incremental |")
    print("|---|---|---|---|---|")
    for problem in (load("ta41"), load("ta71"), seeded_instance(200, 100, 1), seeded_instance(1000, 100, 1)):
        start = best_dispatch(problem)
        full = statistics.median(_moves(problem, start, args.moves, run, False) for run in range(args.runs))
        fast = statistics.median(_moves(problem, start, args.moves, run, True) for run in range(args.runs))
        print(f"| {problem.name} | {problem.n_operations:,} | {1000 * full:.2f} | {1000 * fast:.2f} | "
              f"{full / fast:.1f} |", flush=True)


if __name__ == "__main__":
    main()
