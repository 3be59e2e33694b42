"""Benchmark: large job shops. The textbook CP-SAT model (`cpsat-plain`), the same model warm-started
from the best dispatching rule (`warm-cpsat`: every start and the makespan hinted, horizon cut to
it) and `auto` (our default) in one run:

- at --time-limit (60 s) on the Taillard 100 x 20 and the hard Demirkol groups,
- at --large-time-limit (300 s) on five 1000 x 100 instances from the seeded generator
  (`gen1000x100s1` is what `cpsched generate --jobs 1000 --machines 100 --seed 1` writes).

Each finished cell is appended to --out at once; rerunning the same command resumes. Gaps are to the
best known upper bound, or (generated instances) to the best makespan any method found.

    python -m benchmarks.large --out results/large.jsonl
"""

from __future__ import annotations

import argparse
import re

from benchmarks.sweep import bundled_upper_bound, expand, sweep
from cpsched.instances import load
from cpsched.instances.jobshop.generators import seeded_instance
from cpsched.solvers import solve

VARIANTS = {  # name in the table -> (method, warm start)
    "cpsat-plain": ("cpsat-plain", None),
    "warm-cpsat": ("cpsat-plain", "best"),
    "auto": ("auto", None),
}
GENERATED = re.compile(r"gen(\d+)x(\d+)s(\d+)")


def load_problem(name: str):
    match = GENERATED.fullmatch(name)
    if match:
        n_jobs, n_machines, seed = map(int, match.groups())
        return seeded_instance(n_jobs, n_machines, seed)
    return load(name)


def upper_bound(name: str) -> int | None:
    return None if GENERATED.fullmatch(name) else bundled_upper_bound(name)


def per_instance_table(groups_text: str, variants: list[str], done: dict) -> str:
    """Markdown: each instance's makespan per variant ('opt' where proved optimal), and its best
    known upper bound (or, for generated instances, the job/machine lower bound)."""
    lines = ["| instance | " + " | ".join(variants) + " | best known |", "|" + "---|" * (len(variants) + 2)]
    names = dict.fromkeys(name for group in groups_text.split(",") for name in expand(group))
    for name in names:
        records = [done.get((name, v)) for v in variants]
        if all(r is None for r in records):
            continue
        cells = ["" if r is None else "none" if r["makespan"] is None
                 else f"{r['makespan']}" + (" opt" if r["status"] == "optimal" else "") for r in records]
        reference = upper_bound(name)
        if reference is None:
            reference = f"(lower bound {load_problem(name).lower_bound})"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {reference} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", default="ta71-80,dmu41-80", help="bundled groups (default: %(default)s)")
    parser.add_argument("--large", default="gen1000x100s1-5", help="generated groups (default: %(default)s)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="baseline first (default: %(default)s)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per bundled solve (default: 60)")
    parser.add_argument("--large-time-limit", type=float, default=300.0,
                        help="seconds per generated solve (default: 300)")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT workers (default: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/large.jsonl", help="JSON-lines results file")
    parser.add_argument("--report-only", action="store_true", help="run nothing: print the tables of --out")
    args = parser.parse_args()
    variants = args.variants.split(",")

    for groups, time_limit in ((args.groups, args.time_limit), (args.large, args.large_time_limit)):
        if not groups:
            continue

        def solve_cell(problem, variant, time_limit=time_limit):
            method, warm_start = VARIANTS[variant]
            return solve(problem, method, time_limit=time_limit, workers=args.workers, seed=args.seed,
                         warm_start=warm_start)

        done = sweep("Large job shops", groups, variants, solve_cell, time_limit=time_limit, workers=args.workers,
                     seed=args.seed, out=args.out, load_problem=load_problem, upper_bound=upper_bound,
                     report_only=args.report_only)
        print()
        print(per_instance_table(groups, variants, done))
        print()


if __name__ == "__main__":
    main()
