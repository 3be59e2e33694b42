"""Ablation: which of our model's tricks earn their place, measured one step at a time.

Each variant adds one thing to the one before it, starting from the textbook model:
  plain      the textbook model (`cpsat-plain`)
  params     + push_all_tasks_toward_start, use_dynamic_precedence_in_disjunctive
  dispatch   + a complete hint from the best dispatching rule; its makespan is the horizon and
             every start domain is cut to [head, horizon - duration - tail]
  cumulative + a redundant cumulative of capacity n_machines over all operations
  tabu       + tabu search on the dispatched schedule for up to half the time, its result
             hinted (= `cpsat`, which has no cumulative)
  tabu-nohint  the same, but CP-SAT gets only the tabu makespan as horizon, no hint
  tabu-only  tabu search for (almost) all the time, CP-SAT only for the last 2%

    python -m benchmarks.jobshop_ablation --time-limit 20 --out results/jobshop_ablation_20s.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses

from benchmarks.sweep import sweep
from cpsched.cpmodels.jobshop import JobShopModelOptions
from cpsched.solvers.jobshop.recipes import RECIPES, JobShopRecipe, solve_jobshop

OURS = RECIPES["cpsat"]
VARIANTS: dict[str, JobShopRecipe] = {
    "plain": RECIPES["cpsat-plain"],
    "params": JobShopRecipe(parameters=OURS.parameters),
    "dispatch": dataclasses.replace(OURS, local_search_share=0.0),
    "cumulative": dataclasses.replace(
        OURS, local_search_share=0.0,
        model=JobShopModelOptions(tighten_domains=True, cumulative_relaxation=True),
    ),
    "tabu": OURS,
    "tabu-nohint": dataclasses.replace(OURS, hint=False),
    "tabu-only": dataclasses.replace(OURS, local_search_share=0.98, local_search_stall=None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", default="ta21-22,ta41-42,ta61-62,ta71-72")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="baseline first (default: %(default)s)")
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/jobshop_ablation.jsonl")
    args = parser.parse_args()

    def solve_cell(problem, variant):
        return solve_jobshop(problem, VARIANTS[variant], variant, time_limit=args.time_limit,
                           workers=args.workers, seed=args.seed)

    sweep("Ablation", args.groups, args.variants.split(","), solve_cell,
          time_limit=args.time_limit, workers=args.workers, seed=args.seed, out=args.out)

if __name__ == "__main__":
    main()
