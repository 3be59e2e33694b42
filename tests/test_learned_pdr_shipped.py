import json

import numpy as np
import pytest

from cpsched.instances import evaluate
from cpsched.instances.jobshop.generators import random_jobshop
from cpsched.instances.jobshop.variant import JobShopVariant, evaluate_variant
from cpsched.learned_pdr import dispatch
from cpsched.learned_pdr.learned import default_weights_path, learned_dispatch, load_policy

# seeds far from training (drawn from (seed, update, slot)) and validation (1,000,000 + i)
HELD_OUT = [random_jobshop(n, m, 7_000_000 + i) for i, (n, m) in enumerate([(15, 15), (20, 15), (20, 20)] * 2)]


@pytest.mark.parametrize("variant", ["classic", "blocking"])
def test_the_shipped_weights_carry_their_provenance_and_came_from_at_most_an_hour_of_training(variant):
    policy = load_policy(variant=variant)
    provenance = json.loads(default_weights_path(variant).with_suffix(".json").read_text())
    assert policy.metadata == provenance
    assert provenance["config"].get("variant", "classic") == variant
    assert provenance["command"].startswith("cpsched train-pdr ") and "--seed 0" in provenance["command"]
    assert provenance["seed"] == 0 and provenance["commit"]
    curve = provenance["validation_curve"]
    chosen = next(point for point in curve if point["update"] == provenance["best_update"])
    assert chosen["seconds"] <= 3600  # the shipped weights had trained for at most an hour
    assert curve[0]["update"] == 0 and min(point["gap"] for point in curve) == provenance["validation_gap"]
    assert provenance["validation_gap"] < curve[0]["gap"]


def test_the_shipped_rule_beats_mwkr_on_held_out_random_instances():
    learned, mwkr = [], []
    for problem in HELD_OUT:
        schedule = learned_dispatch(problem)
        assert evaluate(problem, schedule).feasible
        learned.append(problem.makespan_of(schedule.starts) / problem.lower_bound)
        mwkr.append(problem.makespan_of(dispatch(problem, "mwkr").starts) / problem.lower_bound)
    assert np.mean(learned) < np.mean(mwkr)


def test_the_shipped_blocking_rule_beats_the_static_rules_on_held_out_blocking_instances():
    # blocking dispatch varies much from instance to instance: 80 of them make the means comparable
    problems = [JobShopVariant(random_jobshop(n, m, 8_000_000 + i))
                for i, (n, m) in enumerate([(10, 10), (15, 15), (20, 15), (20, 20), (30, 20)] * 16)]
    learned = np.mean([evaluate_variant(p, learned_dispatch(p)).makespan / p.lower_bound for p in problems])
    for rule in ("spt", "mwkr", "random"):
        static = np.mean([evaluate_variant(p, dispatch(p, rule, seed=1)).makespan / p.lower_bound for p in problems])
        assert learned < static, rule
