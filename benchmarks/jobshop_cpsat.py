"""Benchmark: the textbook CP-SAT model (`cpsat-plain`) against ours (`cpsat`) on Taillard groups.

Runs every (instance, method) cell at one time limit, appends each finished cell to a JSON-lines
file at once (rerunning the same command skips finished cells, so an interrupted run resumes),
and prints the mean gap to the best known upper bound per group and method, and their ratio.

    python -m benchmarks.jobshop_cpsat --time-limit 60 --workers 2 --out results/jobshop_cpsat_60s.jsonl
"""

from __future__ import annotations

import argparse

from benchmarks.sweep import sweep
from cpsched.solvers import solve

DEFAULT_GROUPS = "ta21-30,ta41-50,ta61-70,ta71-80"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", default=DEFAULT_GROUPS, help="comma-separated ranges (default: %(default)s)")
    parser.add_argument("--methods", default="cpsat-plain,cpsat", help="baseline first (default: %(default)s)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve (default: 60)")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT workers (default: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/jobshop_cpsat.jsonl", help="JSON-lines results file")
    args = parser.parse_args()

    def solve_cell(problem, method):
        return solve(problem, method, time_limit=args.time_limit, workers=args.workers, seed=args.seed)

    sweep("CP-SAT models", args.groups, args.methods.split(","), solve_cell,
          time_limit=args.time_limit, workers=args.workers, seed=args.seed, out=args.out)

if __name__ == "__main__":
    main()
