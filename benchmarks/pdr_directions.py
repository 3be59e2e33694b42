"""Benchmark: where `pdr-sample:K` spends its samples, between the instance and its reversal.

Both plans roll out greedy forward and greedy backward first, then K - 2 samples at the same
temperatures (0.3 to 2.0, geometric) with the same draws. `alternate` (the plan before commit
56446aa) sends every second sample backward; `winner` (the plan since) sends them all in the
direction whose greedy schedule was shorter, as `sample_best` does. Mean gap of the best of K:
on the training's validation instances (to the job/machine lower bound), then on the benchmark
sets asked for (to the best known upper bound).

    python -m benchmarks.pdr_directions --samples 32 --datasets ta,dmu
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from benchmarks.pdr_sampling import as_trained
from cpsched.instances import best_known, load
from cpsched.instances.jobshop.problem import JobShop
from cpsched.instances.jobshop.reversal import mirrored, reversed_jobshop
from cpsched.learned_pdr.learned import SAMPLE_TEMPERATURES, load_policy, rollout, sample_best
from cpsched.learned_pdr.policy import Policy

BENCHMARK_SETS = {"ta": 80, "dmu": 80}


def alternating_best(problem: JobShop, policy: Policy, samples: int, non_delay: bool, seed: int = 0) -> int:
    """The makespan of the best of `samples` rollouts under the alternating plan."""
    reverse = reversed_jobshop(problem)
    rng = np.random.default_rng(seed)

    def build(backward: bool, temperature: float) -> int:
        if backward:
            mirror = rollout(reverse, policy, temperature=temperature, rng=rng, non_delay=non_delay)[0]
            return problem.makespan_of(mirrored(problem, mirror.starts).starts)
        return rollout(problem, policy, temperature=temperature, rng=rng, non_delay=non_delay)[2]

    makespans = [build(False, 0.0), build(True, 0.0)]
    for index, temperature in enumerate(np.geomspace(*SAMPLE_TEMPERATURES, num=max(samples - 2, 0))):
        makespans.append(build(index % 2 == 1, float(temperature)))
    return min(makespans)


def mean_gaps(problems: list[JobShop], references: list[int], policy: Policy, samples: int,
              non_delay: bool) -> tuple[float, float]:
    alternate = [alternating_best(p, policy, samples, non_delay) / r - 1 for p, r in zip(problems, references)]
    winner = [p.makespan_of(sample_best(p, policy, samples, non_delay=non_delay).starts) / r - 1
              for p, r in zip(problems, references)]
    return 100 * statistics.mean(alternate), 100 * statistics.mean(winner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--weights", default=None, help="a policy file instead of the shipped one")
    parser.add_argument("--datasets", default="ta,dmu", help="benchmark sets after the validation instances: "
                        f"any of {','.join(BENCHMARK_SETS)}, or '' for none")
    args = parser.parse_args()
    datasets = [dataset for dataset in args.datasets.split(",") if dataset]
    for dataset in datasets:
        if dataset not in BENCHMARK_SETS:
            parser.error(f"--datasets: unknown set '{dataset}'; choose from {', '.join(BENCHMARK_SETS)}")
    policy = load_policy(args.weights)
    print(f"Best of {args.samples}: mean gap, samples alternating directions against all in the greedy "
          f"winner's direction\n")
    print("| instances | alternate | winner |\n|---|---|---|")
    non_delay, problems = as_trained(policy)
    alternate, winner = mean_gaps(problems, [p.lower_bound for p in problems], policy, args.samples, non_delay)
    print(f"| {len(problems)} validation (to the lower bound) | {alternate:.2f}% | {winner:.2f}% |", flush=True)
    for dataset in datasets:
        names = [f"{dataset}{i:02d}" for i in range(1, BENCHMARK_SETS[dataset] + 1)]
        references = [best_known(name).upper_bound for name in names]
        alternate, winner = mean_gaps([load(name) for name in names], references, policy, args.samples, non_delay)
        print(f"| {dataset}01-{BENCHMARK_SETS[dataset]} (to the best known) | {alternate:.2f}% | {winner:.2f}% |",
              flush=True)


if __name__ == "__main__":
    main()
