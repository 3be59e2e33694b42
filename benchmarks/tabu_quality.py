"""Benchmark: what tabu search alone reaches in a fixed time, from the best dispatching rule, for
several settings of its patience (moves without a new best before it goes back to the best
schedule and shakes it). This chose `solvers.jobshop_tabu.PATIENCE`.

    python -m benchmarks.tabu_quality --instances dmu56,dmu61,dmu76 --seconds 20 --patience 2500,100000,1000000
"""

from __future__ import annotations

import argparse
import time

from cpsched.instances import load
from cpsched.instances.catalog import best_known_for
from cpsched.learned_pdr import best_dispatch
from cpsched.solvers.jobshop import tabu as jobshop_tabu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", default="dmu56,dmu61,dmu76")
    parser.add_argument("--seconds", type=float, default=20.0, help="tabu time per run (default: 20)")
    parser.add_argument("--patience", default="2500,100000,1000000", help="settings to compare")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = [int(p) for p in args.patience.split(",")]
    print("| instance | start | " + " | ".join(f"patience {p:,}" for p in settings) + " | moves/s |")
    print("|---|---|" + "---|" * len(settings) + "---|")
    jobshop_tabu.warm_up()
    for name in args.instances.split(","):
        problem = load(name)
        start = best_dispatch(problem)
        known = best_known_for(problem)
        cells, rate = [], 0.0
        for patience in settings:
            jobshop_tabu.PATIENCE = patience
            began = time.monotonic()
            outcome = jobshop_tabu.tabu_search(problem, start, deadline=began + args.seconds, seed=args.seed)
            rate = outcome.iterations / (time.monotonic() - began)
            gap = f" ({100 * (outcome.makespan / known.upper_bound - 1):.2f}%)" if known else ""
            cells.append(f"{outcome.makespan}{gap}")
        print(f"| {name} | {problem.makespan_of(start.starts)} | " + " | ".join(cells) + f" | {rate:,.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
