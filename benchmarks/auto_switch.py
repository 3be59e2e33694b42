"""Benchmark: where `auto` should switch from exact CP-SAT (`cpsat`: dispatch + tabu for at most half
the time + the whole model) to the large-instance recipe (`large`: dispatch + tabu for at most 90%
+ LNS), on generated instances of growing size; with `large-half` (tabu for at most half, LNS the
rest: how much LNS adds after tabu) and plain `lns` (dispatch + LNS) for reference. The switch point
`AUTO_LARGE_OPERATIONS` and the large recipe's tabu share in `solvers/jobshop.py` are read off this
table (docs/notes).

    python -m benchmarks.auto_switch --out results/auto_switch_60s.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses

from benchmarks.large import load_problem, upper_bound
from benchmarks.sweep import sweep
from cpsched.solvers.jobshop.recipes import LARGE_RECIPE, RECIPES, solve_jobshop

VARIANTS = {
    "cpsat": RECIPES["cpsat"],
    "large": LARGE_RECIPE,
    "large-half": dataclasses.replace(LARGE_RECIPE, local_search_share=0.5),
    "lns": RECIPES["lns"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", default="gen100x50s1,gen200x50s1,gen200x100s1",
                        help="generated instances, gen{jobs}x{machines}s{seed} (default: %(default)s)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="baseline first (default: %(default)s)")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/auto_switch.jsonl")
    args = parser.parse_args()

    def solve_cell(problem, variant):
        return solve_jobshop(problem, VARIANTS[variant], variant, time_limit=args.time_limit,
                             workers=args.workers, seed=args.seed)

    sweep("auto's switch point", args.instances, args.variants.split(","), solve_cell,
          time_limit=args.time_limit, workers=args.workers, seed=args.seed, out=args.out,
          load_problem=load_problem, upper_bound=upper_bound)


if __name__ == "__main__":
    main()
