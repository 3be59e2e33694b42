import json

import numpy as np

from instances import evaluate
from instances.generators import random_jobshop
from learned_pdr import dispatch
from learned_pdr.learned import default_weights_path, learned_dispatch, load_policy


def test_the_shipped_weights_carry_their_provenance_and_came_from_at_most_an_hour_of_training():
    policy = load_policy()
    provenance = json.loads(default_weights_path().with_suffix(".json").read_text())
    assert policy.metadata == provenance
    assert provenance["command"].startswith("cpsched train-pdr ") and "--seed 0" in provenance["command"]
    assert provenance["seed"] == 0 and provenance["commit"]
    curve = provenance["validation_curve"]
    chosen = next(point for point in curve if point["update"] == provenance["best_update"])
    assert chosen["seconds"] <= 3600  # the shipped weights had trained for at most an hour
    assert curve[0]["update"] == 0 and min(point["gap"] for point in curve) == provenance["validation_gap"]
    assert provenance["validation_gap"] < curve[0]["gap"]


def test_the_shipped_rule_beats_mwkr_on_held_out_random_instances():
    # seeds far from training (drawn from (seed, update, slot)) and validation (1,000,000 + i)
    problems = [random_jobshop(n, m, 7_000_000 + i) for i, (n, m) in enumerate([(15, 15), (20, 15), (20, 20)] * 2)]
    learned, mwkr = [], []
    for problem in problems:
        schedule = learned_dispatch(problem)
        assert evaluate(problem, schedule).feasible
        learned.append(problem.makespan_of(schedule.starts) / problem.lower_bound)
        mwkr.append(problem.makespan_of(dispatch(problem, "mwkr").starts) / problem.lower_bound)
    assert np.mean(learned) < np.mean(mwkr)
