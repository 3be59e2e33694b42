"""Benchmark: the learned dispatching rule against every static rule, and as CP-SAT's warm start.

`rules`: on all 80 Taillard and all 80 Demirkol instances, in one run, every static rule (non-delay
and active), the two best run both ways (the shorter of the schedules built on the instance and on
its reversal, as the learned rule's greedy does), and the learned rule (forward only, greedy both
ways, and the best of 32 samples), all on the same simulator.
Prints the mean gap to the best known upper bound per size group and overall, the best static rule
of each group, and the seconds per instance.

`warm`: the textbook CP-SAT model cold, warm-started from MWKR, and warm-started from the learned
rule (every start and the makespan hinted, horizon cut to it), on ta41-80 at 10 s and at 60 s.

Each finished cell is appended to --out at once; rerunning the same command resumes.

    python -m benchmarks.pdr rules --out results/pdr_rules.jsonl
    python -m benchmarks.pdr warm --out results/pdr_warm.jsonl
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import ortools

from benchmarks.sweep import expand, run_cells, sweep
from cpsched.instances import JobShop, best_known, evaluate
from cpsched.instances.jobshop.problem import Schedule
from cpsched.instances.jobshop.reversal import shorter_both_ways
from cpsched.learned_pdr import RULES, dispatch, learned_dispatch
from cpsched.solvers import solve
from cpsched.solvers.result import Result, checked_makespan

STATIC = [f"pdr:{rule}{variant}" for rule in RULES if rule != "random" for variant in ("", ":active")]
# The best static rules given the learned rule's bidirectional trick (the shorter of the schedules
# built on the instance and on its reversal), and the learned rule without it, for a fair comparison.
BOTH_WAYS = {"pdr:fdd/mwkr both ways": "fdd/mwkr", "pdr:mwkr both ways": "mwkr"}
FORWARD = "pdr forward only"
LEARNED = [FORWARD, "pdr", "pdr-sample:32"]
DATASETS = "ta01-80,dmu01-80"
WARM_VARIANTS = {"cold": None, "warm-mwkr": "mwkr", "warm-pdr": "pdr"}  # textbook CP-SAT, warm start


def size_groups(datasets: str) -> dict[str, list[str]]:
    """'ta01-80,dmu01-80' -> {'ta 15x15': [...], ..., 'dmu 20x15': [dmu01-05, dmu41-45], ...}."""
    groups: dict[str, list[str]] = {}
    for dataset in datasets.split(","):
        for name in expand(dataset):
            family = name.rstrip("0123456789")
            groups.setdefault(f"{family} {best_known(name).size}", []).append(name)
    return groups


def _mean_gap(records: list[dict]) -> float:
    return statistics.mean(100 * (r["makespan"] / r["best_known"] - 1) for r in records)


def rules_report(groups: dict[str, list[str]], done: dict) -> str:
    """Markdown: per group, every static rule's mean gap, the best of them, the learned rule's, and
    seconds per instance; then the same over each dataset."""
    families = sorted({group.split()[0] for group in groups})
    rows = list(groups.items()) + [(f"{family} (all)", [n for g, names in groups.items() if g.startswith(family)
                                                         for n in names]) for family in families]
    head = ["group", *STATIC, "best static", *BOTH_WAYS, *LEARNED,
            "s/instance (mwkr, " + ", ".join(LEARNED) + ")"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group, names in rows:
        gaps = {v: _mean_gap([done[(n, v)] for n in names]) for v in STATIC + list(BOTH_WAYS) + LEARNED}
        best = min(STATIC, key=gaps.__getitem__)
        seconds = [statistics.mean(done[(n, v)]["wall_time"] for n in names) for v in ("pdr:mwkr", *LEARNED)]
        lines.append(f"| {group} | " + " | ".join(f"{gaps[v]:.1f}%" for v in STATIC)
                     + f" | {best[4:]} {gaps[best]:.1f}% | "
                     + " | ".join(f"{gaps[v]:.1f}%" for v in (*BOTH_WAYS, *LEARNED))
                     + " | " + ", ".join(f"{s:.3f}" for s in seconds) + " |")
    return "\n".join(lines)


def checked(problem: JobShop, method: str, build: Callable[[], Schedule]) -> Result:
    """The schedule `build` makes, timed and checked by `evaluate`, as a solve's Result."""
    started = time.monotonic()
    schedule = build()
    seconds = time.monotonic() - started
    return Result("feasible", checked_makespan(evaluate(problem, schedule), method), None, schedule, method, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("rules", "warm"))
    parser.add_argument("--datasets", default=DATASETS, help="rules: instance ranges (default: %(default)s)")
    parser.add_argument("--groups", default="ta41-50,ta51-60,ta61-70,ta71-80",
                        help="warm: groups (default: %(default)s)")
    parser.add_argument("--time-limits", default="10,60", help="warm: seconds per solve (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="warm: CP-SAT workers (default: 2)")
    parser.add_argument("--weights", default=None, help="a policy file instead of the shipped one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="JSON-lines results file")
    parser.add_argument("--report-only", action="store_true", help="warm: run nothing, print the tables of --out")
    args = parser.parse_args()

    if args.part == "rules":
        groups = size_groups(args.datasets)
        cells = [(name, v) for names in groups.values() for name in names for v in STATIC + list(BOTH_WAYS) + LEARNED]

        def dispatch_cell(problem, method):
            if method in BOTH_WAYS:
                return checked(problem, method, lambda: shorter_both_ways(
                    problem, lambda shop: dispatch(shop, BOTH_WAYS[method])))
            if method == FORWARD:
                return checked(problem, method, lambda: learned_dispatch(problem, weights=args.weights, backward=False))
            return solve(problem, method, seed=args.seed, weights=args.weights)

        context = {"seed": args.seed, "weights": args.weights, "ortools": ortools.__version__}
        done = run_cells(cells, dispatch_cell, Path(args.out), context)
        print(f"Dispatching rules: mean gap to the best known upper bound (seed {args.seed})\n")
        print(rules_report(groups, done))
        return

    for limit in map(float, args.time_limits.split(",")):
        def warm_cell(problem, variant, limit=limit):
            return solve(problem, "cpsat-plain", time_limit=limit, workers=args.workers, seed=args.seed,
                         warm_start=WARM_VARIANTS[variant], weights=args.weights)

        sweep("CP-SAT warm starts", args.groups, list(WARM_VARIANTS), warm_cell, time_limit=limit,
              workers=args.workers, seed=args.seed, out=args.out, report_only=args.report_only)
        print()


if __name__ == "__main__":
    main()
