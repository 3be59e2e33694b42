"""Benchmark: how long one dispatching rule takes to build a schedule, on ta71 (100 x 20) and on a
generated 1000 x 100 instance. Several runs per cell, median seconds; the issue's targets are
"well under 0.1 s" and "under 10 s". As an in-process yardstick of the machine's speed, each row
also gives the ratio to one `evaluate` of the same schedule (a linear check).

    python -m benchmarks.dispatch_speed --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

from cpsched.instances import evaluate, load
from cpsched.instances.jobshop.generators import seeded_instance
from cpsched.learned_pdr import RULES, dispatch


def _median_seconds(work, runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per cell (default: 5)")
    parser.add_argument("--rules", default=",".join(RULES), help="rules (default: all)")
    args = parser.parse_args()
    problems = [load("ta71"), seeded_instance(1000, 100, 1)]
    print(f"Dispatch time, median of {args.runs} runs (non-delay | active)\n")
    print("| instance | rule | seconds (non-delay) | seconds (active) | non-delay / evaluate |")
    print("|---|---|---|---|---|")
    for problem in problems:
        for rule in args.rules.split(","):
            seconds = {}
            for non_delay in (True, False):
                seconds[non_delay] = _median_seconds(partial(dispatch, problem, rule, non_delay), args.runs)
            schedule = dispatch(problem, rule)
            check = _median_seconds(partial(evaluate, problem, schedule), args.runs)
            print(f"| {problem.name} ({problem.size}) | {rule} | {seconds[True]:.3f} | {seconds[False]:.3f} | "
                  f"{seconds[True] / check:.0f} |", flush=True)


if __name__ == "__main__":
    main()
