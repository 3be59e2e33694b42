import dataclasses

import numpy as np
import pytest

from cpsched.instances import InputError
from cpsched.instances.jobshop.generators import random_jobshop
from cpsched.learned_pdr import dispatch
from cpsched.learned_pdr.features import FeatureScales
from cpsched.learned_pdr.learned import rollout, sample_best
from cpsched.learned_pdr.observation import Batch
from cpsched.learned_pdr.policy import Policy, log_likelihood
from cpsched.learned_pdr.simulator import DispatchSimulator
from cpsched.learned_pdr.training import (
    TrainingConfig,
    completed_makespan,
    greedy_gap,
    load_checkpoint,
    policy_gradient,
    train,
    trained_policy,
    validation_gap,
    validation_set,
)

SMALL = TrainingConfig(seed=7, instances_per_update=2, rollouts=4, learning_rate=3e-3, validate_every=5,
                       validation_per_size=1, sizes=((6, 6), (8, 6)))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_the_same_seed_gives_the_same_weights_and_a_resumed_run_matches_an_uninterrupted_one(tmp_path):
    whole = train(SMALL, updates=10)
    again = train(SMALL, updates=10)
    assert _same(whole.policy.params, again.policy.params)
    checkpoint = tmp_path / "run.ckpt.npz"
    first_half = train(SMALL, updates=5, checkpoint=checkpoint)
    assert load_checkpoint(checkpoint, SMALL).update == first_half.update == 5
    resumed = train(SMALL, updates=10, checkpoint=checkpoint)
    assert resumed.update == 10 and _same(resumed.policy.params, whole.policy.params)
    assert [point["update"] for point in resumed.curve] == [0, 5, 10]
    other = train(dataclasses.replace(SMALL, seed=8), updates=10)
    assert not _same(other.policy.params, whole.policy.params)


def test_two_processes_give_the_same_weights_as_one():
    attention = dataclasses.replace(SMALL, network="attention")
    assert _same(train(attention, updates=3, processes=2).policy.params, train(attention, updates=3).policy.params)


def test_weight_averaging_keeps_the_average_and_resumes_exactly(tmp_path):
    averaged = dataclasses.replace(SMALL, averaging=0.9)
    whole = train(averaged, updates=10)
    checkpoint = tmp_path / "run.ckpt.npz"
    train(averaged, updates=5, checkpoint=checkpoint)
    resumed = train(averaged, updates=10, checkpoint=checkpoint)
    assert _same(resumed.averaged, whole.averaged) and _same(resumed.best_params, whole.best_params)
    plain = train(SMALL, updates=10)
    assert _same(whole.policy.params, plain.policy.params)  # averaging only watches the weights
    assert not _same(whole.averaged, whole.policy.params)
    # the average after two updates, by hand: the first update's weights, then one step toward the second's
    two = train(averaged, updates=2)
    one = train(SMALL, updates=1).policy.params
    expected = {k: 0.9 * one[k] + 0.1 * two.policy.params[k] for k in one}
    assert all(np.allclose(two.averaged[k], expected[k]) for k in expected)


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    checkpoint = tmp_path / "run.ckpt.npz"
    train(SMALL, updates=5, checkpoint=checkpoint)
    with pytest.raises(InputError, match="a checkpoint of another training configuration"):
        train(dataclasses.replace(SMALL, rollouts=5), updates=10, checkpoint=checkpoint)


@pytest.mark.parametrize(("objective", "feature_set", "network"),
                         [("reinforce", "standard", "pooled"), ("self-label", "standard", "pooled"),
                          ("reinforce", "lookahead", "pooled"), ("rollout-label", "standard", "pooled"),
                          ("reinforce", "standard", "attention")])
def test_training_beats_the_random_rule_and_the_untrained_policy_on_held_out_instances(objective, feature_set,
                                                                                       network):
    config = dataclasses.replace(SMALL, objective=objective, feature_set=feature_set, labelled_decisions=4,
                                 network=network)
    state = train(config, updates=60)
    policy = trained_policy(state, {})
    held_out = [random_jobshop(8, 6, 500 + i) for i in range(6)]  # never drawn in training (seeds differ)
    trained = greedy_gap(policy, held_out, non_delay=False)
    untrained = greedy_gap(Policy.initial(SMALL.seed, features=policy.features, network=network), held_out,
                           non_delay=False)
    random_rule = np.mean([p.makespan_of(dispatch(p, "random", non_delay=False, seed=s).starts) / p.lower_bound - 1
                           for p in held_out for s in range(3)])
    assert trained < untrained and trained < random_rule


def test_an_unknown_objective_is_refused():
    with pytest.raises(InputError, match="unknown objective 'ppo'; choose reinforce or self-label or rollout-label"):
        TrainingConfig(objective="ppo")
    with pytest.raises(InputError, match="rollout-label tries every candidate"):
        TrainingConfig(objective="rollout-label", variant="blocking", non_delay=True)


def test_rollout_labels_name_the_candidate_whose_greedy_completion_is_shortest():
    problem = random_jobshop(6, 4, 3)
    policy = Policy.initial(0, 4)
    sim = DispatchSimulator(problem)
    scales = FeatureScales(sim)
    sequence = []
    while len(sim.candidates()) < 3:
        sequence.append(int(sim.candidates()[0]))
        sim.step(sequence[-1])
    before = sim.starts.copy()
    for job in sim.candidates():
        by_hand = DispatchSimulator(problem)
        for earlier in [*sequence, int(job)]:
            by_hand.step(earlier)
        while not by_hand.done:
            jobs = by_hand.candidates()
            by_hand.step(int(jobs[np.argmax(policy.scores(policy.observe(by_hand, jobs, scales)))]))
        assert completed_makespan(sim, int(job), policy, scales) == by_hand.makespan
    assert sim.starts.tolist() == before.tolist()  # trying candidates leaves the simulator as it was


def test_the_leader_weight_adds_to_reinforce_only_the_best_rollouts_push():
    problem = random_jobshop(6, 5, 11)
    policy = Policy.initial(3, 8)
    config = dataclasses.replace(SMALL, rollouts=4)
    plain, _ = policy_gradient(policy, problem, config, np.random.default_rng(5))
    led, _ = policy_gradient(policy, problem, dataclasses.replace(config, leader_weight=3.0), np.random.default_rng(5))
    rng = np.random.default_rng(5)  # the same four rollouts, by hand
    runs = [rollout(problem, policy, temperature=1.0, rng=rng, record=True) for _ in range(4)]
    makespans = np.array([makespan for _, _, makespan in runs], dtype=np.float64)
    best = int(np.argmin(makespans))
    advantage = (makespans.mean() - makespans[best]) / problem.lower_bound / 4
    trajectory = runs[best][1]
    _, best_push = log_likelihood(policy, Batch.of(trajectory.observations, trajectory.chosen),
                                  np.full(len(trajectory.chosen), advantage))
    assert advantage > 0
    assert all(np.allclose(led[k], plain[k] + 2.0 * best_push[k]) for k in plain)


def test_sampled_validation_scores_the_best_of_k_rollouts():
    problems = [random_jobshop(8, 6, 600 + i) for i in range(3)]
    policy = Policy.initial(0, 8)
    sampled = validation_gap(policy, problems, dataclasses.replace(SMALL, validation_samples=6))
    by_hand = np.mean([p.makespan_of(sample_best(p, policy, 6).starts) / p.lower_bound - 1 for p in problems])
    assert sampled == pytest.approx(by_hand)
    assert sampled < validation_gap(policy, problems, SMALL) == greedy_gap(policy, problems, non_delay=False)


def test_sampled_validation_works_on_blocking_shops_too():
    config = TrainingConfig(seed=2, instances_per_update=1, rollouts=3, variant="blocking", non_delay=True,
                            validate_every=2, validation_per_size=1, sizes=((6, 6),), validation_samples=4)
    state = train(config, updates=2)
    policy = trained_policy(state, {})
    problems = validation_set(config)
    assert state.best_gap == pytest.approx(validation_gap(policy, problems, config))
    assert state.best_gap <= validation_gap(policy, problems, dataclasses.replace(config, validation_samples=1))


def test_a_leader_weight_needs_reinforce_and_at_least_one():
    with pytest.raises(InputError, match=r"the leader weight must be at least 1, got 0\.5"):
        TrainingConfig(leader_weight=0.5)
    with pytest.raises(InputError, match="the leader weight scales a REINFORCE advantage"):
        TrainingConfig(leader_weight=2.0, objective="self-label")


def test_a_run_cut_by_the_clock_validates_where_it_stops_and_its_checkpoint_resumes(tmp_path):
    """No validation falls before the clock stops it: it validates once at the end, keeps the
    better of the trained and the initial weights, and checkpoints the latest weights."""
    rarely = dataclasses.replace(SMALL, validate_every=10_000)
    checkpoint = tmp_path / "short.ckpt.npz"
    short = train(rarely, updates=10_000, minutes=1 / 60, checkpoint=checkpoint)
    assert 1 <= short.update < 10_000
    assert [point["update"] for point in short.curve] == [0, short.update]
    saved = load_checkpoint(checkpoint, rarely)
    assert saved.update == short.update and _same(saved.policy.params, short.policy.params)
    best = min(short.curve, key=lambda point: point["gap"])
    assert _same(trained_policy(short, {}).params, short.best_params) and best["gap"] == round(short.best_gap, 6)
    longer = train(rarely, updates=short.update + 2, checkpoint=checkpoint)
    assert longer.update == short.update + 2  # the short run's updates count
