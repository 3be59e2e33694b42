"""Benchmark: the textbook CP-SAT model (`cpsat-plain`) against ours (`cpsat`) on Taillard groups.

Runs every (instance, method) cell at one time limit, appends each finished cell to a JSON-lines
file at once (rerunning the same command skips finished cells, so an interrupted run resumes),
and prints the mean gap to the best known upper bound per group and method, and their ratio.

    python benchmarks/jobshop_cpsat.py --time-limit 60 --workers 2 --out results/jobshop_cpsat_60s.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import ortools

from instances import best_known, load
from solvers import solve

DEFAULT_GROUPS = "ta21-30,ta41-50,ta61-70,ta71-80"


def expand(group: str) -> list[str]:
    """'ta21-30' -> ta21..ta30; a single name stays itself."""
    prefix = group.rstrip("0123456789-").rstrip()
    if "-" not in group:
        return [group]
    first, last = group[len(prefix):].split("-")
    return [f"{prefix}{k:0{len(first)}d}" for k in range(int(first), int(last) + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", default=DEFAULT_GROUPS, help="comma-separated ranges (default: %(default)s)")
    parser.add_argument("--methods", default="cpsat-plain,cpsat", help="baseline first (default: %(default)s)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve (default: 60)")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT workers (default: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/jobshop_cpsat.jsonl", help="JSON-lines results file")
    args = parser.parse_args()

    groups = {group: expand(group) for group in args.groups.split(",")}
    methods = args.methods.split(",")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            if line.strip():
                cell = json.loads(line)
                key = (cell["instance"], cell["method"], cell["time_limit"], cell["workers"], cell["seed"])
                done[key] = cell

    cells = [(name, method) for names in groups.values() for name in names for method in methods]
    started = time.monotonic()
    for index, (name, method) in enumerate(cells, start=1):
        key = (name, method, args.time_limit, args.workers, args.seed)
        if key in done:
            continue
        result = solve(load(name), method, time_limit=args.time_limit, workers=args.workers, seed=args.seed)
        cell = {
            "instance": name, "method": method, "time_limit": args.time_limit, "workers": args.workers,
            "seed": args.seed, "makespan": result.objective, "bound": result.bound, "status": result.status,
            "best_known": best_known(name).upper_bound, "wall_time": round(result.wall_time, 2),
            "ortools": ortools.__version__, "machine": platform.machine(),
        }
        with out.open("a") as stream:
            stream.write(json.dumps(cell) + "\n")
        done[key] = cell
        gap = 100 * (result.objective / cell["best_known"] - 1)
        print(f"[{index}/{len(cells)}] {name} {method}: {result.objective} ({gap:.2f}%) "
              f"{result.status} {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)

    print(f"Mean gap to the best known upper bound, {args.time_limit:g} s, {args.workers} workers, "
          f"seed {args.seed} (OR-Tools {ortools.__version__})\n")
    baseline, others = methods[0], methods[1:]
    header = "| group | " + " | ".join(methods) + " | " + " | ".join(f"{m} / {baseline}" for m in others) + " |"
    print(header)
    print("|" + "---|" * (1 + len(methods) + len(others)))
    for group, names in groups.items():
        means = {}
        for method in methods:
            gaps = [100 * (done[(n, method, args.time_limit, args.workers, args.seed)]["makespan"]
                           / best_known(n).upper_bound - 1) for n in names]
            means[method] = statistics.mean(gaps)
        ratios = [f"{means[m] / means[baseline]:.2f}" if means[baseline] else "-" for m in others]
        print(f"| {group} | " + " | ".join(f"{means[m]:.2f}%" for m in methods) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
