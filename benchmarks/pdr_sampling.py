"""Benchmark: which temperatures `pdr-sample:K` should spread its rollouts over.

Measured on the training's validation instances (random job shops from 10 x 10 to 30 x 20, never
a benchmark set), so the choice does not peek at Taillard or Demirkol: for each spread of
temperatures, the mean over the instances of best-of-K makespan / job-machine lower bound - 1
(K rollouts in all: greedy both ways, then samples in the direction whose greedy schedule was
shorter).

    python -m benchmarks.pdr_sampling --samples 32
"""

from __future__ import annotations

import argparse
import statistics

from cpsched.instances.jobshop.problem import JobShop
from cpsched.learned_pdr.learned import load_policy, rollout, sample_best
from cpsched.learned_pdr.policy import Policy
from cpsched.learned_pdr.training import TrainingConfig, validation_set

SPREADS = ((0.1, 1.0), (0.3, 2.0), (0.5, 3.0), (1.0, 1.0), (0.2, 0.5), (0.1, 0.5), (0.3, 1.0))


def as_trained(policy: Policy) -> tuple[bool, list[JobShop]]:
    """Whether `policy` decides non-delay, and the validation instances it was trained against
    (both from its provenance), so a benchmark samples it as `pdr-sample` does."""
    config = policy.metadata.get("config", {})
    per_size = config.get("validation_per_size", TrainingConfig.validation_per_size)
    return bool(config.get("non_delay", False)), validation_set(TrainingConfig(validation_per_size=per_size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--weights", default=None, help="a policy file instead of the shipped one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    policy = load_policy(args.weights)
    non_delay, problems = as_trained(policy)

    def gap(schedules) -> float:
        return 100 * statistics.mean(p.makespan_of(s.starts) / p.lower_bound - 1 for p, s in zip(problems, schedules))

    print(f"Sampling temperatures: mean gap to the lower bound on {len(problems)} validation instances, "
          f"best of {args.samples}, seed {args.seed}\n")
    print("| temperatures | gap |\n|---|---|")
    print(f"| greedy, forward only | {gap([rollout(p, policy, non_delay=non_delay)[0] for p in problems]):.2f}% |")
    print(f"| greedy, both ways | {gap([sample_best(p, policy, 1, non_delay=non_delay) for p in problems]):.2f}% |")
    for spread in SPREADS:
        schedules = [sample_best(p, policy, args.samples, args.seed, non_delay, spread) for p in problems]
        print(f"| {spread[0]} to {spread[1]} | {gap(schedules):.2f}% |", flush=True)


if __name__ == "__main__":
    main()
