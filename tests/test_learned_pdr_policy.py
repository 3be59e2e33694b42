import numpy as np
import pytest

from cpsched.instances import InputError, evaluate, load
from cpsched.instances.jobshop.generators import random_jobshop
from cpsched.instances.jobshop.reversal import mirrored, reversed_jobshop
from cpsched.learned_pdr import attention_network
from cpsched.learned_pdr.context_features import CONTEXT_FEATURES, PAIR_FEATURES, context_observation
from cpsched.learned_pdr.features import (
    CANDIDATE_FEATURES,
    LOOKAHEAD_FEATURES,
    FeatureScales,
    bound_after,
    candidate_features,
    features_for,
)
from cpsched.learned_pdr.learned import SAMPLE_TEMPERATURES, default_weights_path, rollout, rollout_plan, sample_best
from cpsched.learned_pdr.observation import Batch, Observation
from cpsched.learned_pdr.policy import Policy, log_likelihood
from cpsched.learned_pdr.simulator import DispatchSimulator


def _observations(network: str, seed: int = 0) -> list[Observation]:
    """Three decisions of 2, 5 and 3 candidates among 4, 7 and 3 unfinished jobs, random features."""
    rng = np.random.default_rng(seed)
    observations = []
    for candidates, jobs in ((2, 4), (5, 7), (3, 3)):
        x = rng.normal(size=(candidates, len(CANDIDATE_FEATURES)))
        if network == "pooled":
            observations.append(Observation(x))
        else:
            observations.append(Observation(x, rng.normal(size=(jobs, len(CONTEXT_FEATURES))),
                                            rng.normal(size=(candidates, jobs, len(PAIR_FEATURES)))))
    return observations


def _decisions(network: str, seed: int = 0) -> tuple[Batch, np.ndarray]:
    """The three decisions stacked, a choice in each, and a weight for each."""
    return Batch.of(_observations(network, seed), [1, 2, 0]), np.array([0.7, -1.3, 0.4])


@pytest.mark.parametrize("network", ["pooled", "attention"])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_policy_gradient_matches_finite_differences(network, temperature):
    policy = Policy.initial(seed=3, hidden=6, network=network)
    policy.params = {name: value + 0.3 for name, value in policy.params.items()}  # no zero biases: every path counts
    batch, weights = _decisions(network)
    _, grads = log_likelihood(policy, batch, weights, temperature)
    assert grads.keys() == set(policy.parameter_names)
    step = 1e-6
    rng = np.random.default_rng(1)
    for name in policy.parameter_names:
        values = policy.params[name]
        for index in [tuple(rng.integers(values.shape)) for _ in range(5)]:
            original = values[index]
            values[index] = original + step
            up, _ = log_likelihood(policy, batch, weights, temperature)
            values[index] = original - step
            down, _ = log_likelihood(policy, batch, weights, temperature)
            values[index] = original
            numeric = (up - down) / (2 * step)
            assert grads[name][index] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (name, index)


def test_the_attention_network_scores_one_decision_as_it_scores_it_in_a_batch():
    policy = Policy.initial(seed=2, hidden=5, network="attention")
    observations = _observations("attention", seed=4)
    batched, _ = attention_network.forward(policy.params, Batch.of(observations, [0, 0, 0]))
    one_by_one = [policy.scores(observation) for observation in observations]
    assert np.allclose(np.concatenate(one_by_one), batched)


@pytest.mark.parametrize("network", ["pooled", "attention"])
def test_scores_do_not_depend_on_the_order_of_the_candidates_or_the_jobs(network):
    policy = Policy.initial(seed=0, network=network)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, len(CANDIDATE_FEATURES)))
    context, pairs = rng.normal(size=(7, len(CONTEXT_FEATURES))), rng.normal(size=(5, 7, len(PAIR_FEATURES)))
    observation = Observation(x, context, pairs) if network == "attention" else Observation(x)
    candidates, jobs = rng.permutation(5), rng.permutation(7)
    shuffled = (Observation(x[candidates], context[jobs], pairs[candidates][:, jobs]) if network == "attention"
                else Observation(x[candidates]))
    assert np.allclose(policy.scores(observation)[candidates], policy.scores(shuffled))


@pytest.mark.parametrize("names", [CANDIDATE_FEATURES, LOOKAHEAD_FEATURES])
def test_features_are_size_invariant_when_the_instance_is_scaled_in_time(names):
    problem = load("ft10")
    slower = type(problem).from_matrices("ft10x7", problem.machines.reshape(10, 10),
                                         7 * problem.durations.reshape(10, 10))
    rows = []
    for p in (problem, slower):
        sim = DispatchSimulator(p)
        scales = FeatureScales(sim)
        for _ in range(25):
            sim.step(int(sim.candidates()[0]))
        rows.append(candidate_features(sim, sim.candidates(), scales, names))
    assert rows[0].shape[1] == len(names)
    assert np.allclose(rows[0], rows[1])


@pytest.mark.parametrize("decisions", [12, 66])  # 5 candidates; 3, one of them at its job's last operation
def test_lookahead_features_match_their_definitions_on_a_partial_schedule(decisions):
    problem = load("ft10")
    sim = DispatchSimulator(problem)
    for _ in range(decisions):
        sim.step(int(sim.candidates()[-1]))
    jobs = sim.candidates()
    x = candidate_features(sim, jobs, FeatureScales(sim), LOOKAHEAD_FEATURES)
    column = {name: x[:, i] for i, name in enumerate(LOOKAHEAD_FEATURES)}
    mean_duration = problem.durations.sum() / problem.n_operations
    ops = problem.machines.reshape(10, 10), problem.durations.reshape(10, 10)
    unfinished = [j for j in range(10) if sim.next_op[j] < 10 * (j + 1)]
    largest_bound = max(sim.earliest[j] + sim.remaining_work[j] for j in unfinished)
    for row, job in enumerate(jobs):
        step = int(sim.next_op[job]) - 10 * job  # the candidate's position in its job
        end = sim.earliest[job] + ops[1][job, step]
        if step + 1 < 10:
            following = ops[0][job, step + 1]
            assert column["next_duration"][row] == pytest.approx(ops[1][job, step + 1] / mean_duration)
            slack = (end - sim.machine_ready[following]) / mean_duration
            assert column["next_machine_slack"][row] == pytest.approx(slack)
            assert column["next_machine_bottleneck"][row] == pytest.approx(
                sim.machine_remaining_work[following] / sim.machine_remaining_work.max())
        else:
            assert column["next_duration"][row] == column["next_machine_bottleneck"][row] == 0
            assert column["next_machine_slack"][row] == 0
        assert column["machine_bottleneck"][row] == pytest.approx(
            sim.machine_remaining_work[ops[0][job, step]] / sim.machine_remaining_work.max())
        own_bound = sim.earliest[job] + sim.remaining_work[job]
        assert column["job_slack"][row] == pytest.approx((largest_bound - own_bound) / mean_duration)
        assert column["time_progress"][row] == pytest.approx(sim.earliest[job] / largest_bound)
    assert len(jobs) > 1 and np.all(column["job_slack"] >= 0)


def test_a_feature_set_the_variant_lacks_is_refused():
    assert features_for("classic", "lookahead") == LOOKAHEAD_FEATURES
    with pytest.raises(InputError, match="unknown feature set 'lookahead' for blocking job shops; choose standard"):
        features_for("blocking", "lookahead")


def test_bound_after_matches_dispatching_each_candidate_first():
    rng = np.random.default_rng(1)
    for _ in range(100):
        count = int(rng.integers(1, 7))
        earliest, duration = rng.integers(0, 50, count), rng.integers(1, 10, count)
        remaining = duration + rng.integers(0, 40, count)
        expected = [max([earliest[j] + remaining[j]]
                        + [max(earliest[k], earliest[j] + duration[j]) + remaining[k] for k in range(count) if k != j])
                    for j in range(count)]
        assert bound_after(earliest, duration, remaining).tolist() == expected


def test_greedy_and_sampled_rollouts_give_feasible_schedules_and_sampling_is_seeded():
    problem = random_jobshop(8, 5, 1)
    policy = Policy.initial(seed=0)
    greedy, trajectory, makespan = rollout(problem, policy, record=True)
    assert evaluate(problem, greedy).feasible and evaluate(problem, greedy).makespan == makespan
    batch = trajectory.stacked()
    assert batch.decisions == len(trajectory.chosen) and np.all(batch.chosen >= batch.starts)
    assert batch.chosen[-1] < len(batch.candidates)
    first = sample_best(problem, policy, samples=6, seed=4)
    again = sample_best(problem, policy, samples=6, seed=4)
    assert first.starts.tolist() == again.starts.tolist()
    assert evaluate(problem, first).makespan <= evaluate(problem, greedy).makespan


def test_the_greedy_rule_keeps_the_shorter_of_its_forward_and_mirrored_backward_schedules():
    policy = Policy.load(default_weights_path())
    shorter_backward = 0
    for seed in range(6):
        problem = random_jobshop(12, 6, seed)
        forward = rollout(problem, policy)[2]
        backward_schedule = mirrored(problem, rollout(reversed_jobshop(problem), policy)[0].starts)
        backward = evaluate(problem, backward_schedule).makespan
        pair = sample_best(problem, policy)
        assert evaluate(problem, pair).feasible and evaluate(problem, pair).makespan == min(forward, backward)
        assert evaluate(problem, sample_best(problem, policy, backward=False)).makespan == forward
        shorter_backward += backward < forward
    assert 0 < shorter_backward < 6  # so both directions matter


def test_the_samples_follow_the_direction_whose_greedy_schedule_was_shorter():
    assert rollout_plan(1, (0.5, 2.0), backward=True) == ([False, True], [])
    assert rollout_plan(1, (0.5, 2.0), backward=False) == ([False], [])
    assert rollout_plan(5, (0.5, 2.0), backward=True) == ([False, True], pytest.approx([0.5, 1.0, 2.0]))
    assert rollout_plan(3, (0.5, 2.0), backward=False) == ([False], pytest.approx([0.5, 2.0]))
    policy = Policy.load(default_weights_path())
    directions = set()
    for seed in range(6):
        problem = random_jobshop(8, 5, 40 + seed)
        heard: list = []
        sample_best(problem, policy, 6, on_rollout=lambda schedule, _, heard=heard: heard.append(schedule))
        assert len(heard) == 6
        forward, backward = (problem.makespan_of(schedule.starts) for schedule in heard[:2])
        went_backward = backward < forward
        directions.add(went_backward)
        # the four samples, rebuilt by hand in the winning direction with the same draws
        rng = np.random.default_rng(0)
        shop = reversed_jobshop(problem) if went_backward else problem
        for schedule, temperature in zip(heard[2:], np.geomspace(*SAMPLE_TEMPERATURES, num=4)):
            starts = rollout(shop, policy, temperature=float(temperature), rng=rng)[0].starts
            expected = mirrored(problem, starts).starts if went_backward else starts
            assert schedule.starts.tolist() == expected.tolist()
    assert directions == {False, True}  # both directions won somewhere


def test_a_policy_survives_a_round_trip_and_a_bad_file_is_refused(tmp_path):
    policy = Policy.initial(seed=5)
    policy.metadata = {"command": "test"}
    policy.save(tmp_path / "w.npz")
    loaded = Policy.load(tmp_path / "w.npz")
    assert loaded.metadata == {"command": "test"}
    assert all(np.array_equal(loaded.params[k], policy.params[k]) for k in policy.parameter_names)
    Policy.initial(seed=5, hidden=4, network="attention").save(tmp_path / "attention.npz")
    attention = Policy.load(tmp_path / "attention.npz")
    assert attention.network == "attention" and set(attention.params) == set(attention_network.PARAMETERS)
    Policy.initial(seed=5, hidden=4, features=LOOKAHEAD_FEATURES).save(tmp_path / "lookahead.npz")
    assert Policy.load(tmp_path / "lookahead.npz").features == LOOKAHEAD_FEATURES
    Policy.initial(seed=5, hidden=4, features=("duration", "from_the_future")).save(tmp_path / "future.npz")
    with pytest.raises(InputError, match=r"future\.npz: trained on features \['duration', 'from_the_future'\], which "
                       "this version does not compute"):
        Policy.load(tmp_path / "future.npz")
    (tmp_path / "bad.npz").write_text("not weights")
    with pytest.raises(InputError, match=r"bad\.npz: not a cpsched policy file"):
        Policy.load(tmp_path / "bad.npz")


def test_context_and_pair_features_match_their_definitions_on_a_partial_schedule():
    problem = load("ft10")
    sim = DispatchSimulator(problem)
    for _ in range(40):
        sim.step(int(sim.candidates()[-1]))
    jobs = sim.candidates()
    context, pairs = context_observation(sim, jobs, FeatureScales(sim))
    machines, durations = problem.machines.reshape(10, 10), problem.durations.reshape(10, 10)
    mean_duration = problem.durations.sum() / problem.n_operations
    unfinished = [j for j in range(10) if sim.next_op[j] < 10 * (j + 1)]
    assert context.shape == (len(unfinished), len(CONTEXT_FEATURES))
    assert pairs.shape == (len(jobs), len(unfinished), len(PAIR_FEATURES))
    column = {name: context[:, i] for i, name in enumerate(CONTEXT_FEATURES)}
    decision_machine = machines[jobs[0], sim.next_op[jobs[0]] - 10 * jobs[0]]
    for row, job in enumerate(unfinished):
        step = int(sim.next_op[job]) - 10 * job
        arrival = (sim.earliest[job] - sim.earliest[jobs].min()) / mean_duration
        assert column["arrival"][row] == pytest.approx(min(max(arrival, -10), 10))
        assert column["on_decision_machine"][row] == (machines[job, step] == decision_machine)
        assert column["is_candidate"][row] == (job in jobs)
        assert column["duration"][row] == pytest.approx(durations[job, step] / mean_duration)
        for c, candidate in enumerate(jobs):
            position = int(sim.next_op[candidate]) - 10 * candidate
            following = machines[candidate, position + 1] if position + 1 < 10 else -1
            same, competes, after_end = pairs[c, row]
            assert same == (candidate == job)
            assert competes == (candidate != job and machines[job, step] == following)
            end = sim.earliest[candidate] + durations[candidate, position]
            assert after_end == pytest.approx(min(max((sim.earliest[job] - end) / mean_duration, -10), 10))
    assert column["is_candidate"].sum() == len(jobs) > 1
