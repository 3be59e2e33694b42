import re
import time

import numpy as np
import pytest

import cpsched.learned_pdr.learned as learned_module
from cpsched.instances import JobShop, evaluate, load
from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.generators import random_jobshop
from cpsched.learned_pdr import (
    FEATURES,
    RULES,
    DispatchSimulator,
    RuleSpec,
    best_dispatch,
    dispatch,
    dispatch_spec,
    dispatch_within,
    parse_rule,
    parse_rule_spec,
)
from cpsched.learned_pdr.learned import LEARNED, DeadlinePassed, learned_dispatch
from cpsched.learned_pdr.rules import best_specs
from cpsched.solvers import solve


def _ragged(seed: int) -> JobShop:
    """Jobs of different lengths, repeated machines and zero durations: the awkward cases."""
    rng = np.random.default_rng(seed)
    jobs = [[(int(rng.integers(0, 4)), int(rng.integers(0, 9))) for _ in range(int(rng.integers(1, 7)))]
            for _ in range(int(rng.integers(1, 9)))]
    return JobShop.from_jobs(f"ragged{seed}", 4, jobs)


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("non_delay", [True, False])
def test_every_rule_builds_schedules_that_evaluate_accepts(rule, non_delay):
    problems = [random_jobshop(8, 5, seed) for seed in range(4)] + [_ragged(seed) for seed in range(12)]
    for problem in problems:
        schedule = dispatch(problem, rule, non_delay, seed=3)
        check = evaluate(problem, schedule)
        assert check.feasible, (problem.name, check.violations[:2])
        assert check.makespan == problem.makespan_of(schedule.starts)


def test_non_delay_schedules_keep_a_machine_busy_whenever_an_operation_waits_for_it():
    problem = random_jobshop(10, 6, 7)
    starts = dispatch(problem, "spt", non_delay=True).starts
    ends = starts + problem.durations
    ready = np.where(problem.is_first, 0, np.roll(ends, 1))  # when each op's job predecessor ends
    for op in range(problem.n_operations):
        covered = ready[op]  # the machine must be busy from `ready` until the op starts
        same = np.flatnonzero(problem.machines == problem.machines[op])
        for other in same[np.argsort(starts[same])]:
            if starts[other] <= covered < ends[other]:
                covered = ends[other]
        assert covered >= starts[op], f"machine idle before operation {op} started"


def test_known_rule_makespans_on_ft06():
    ft06 = load("ft06")
    assert evaluate(ft06, dispatch(ft06, "spt", non_delay=False)).makespan == 94
    assert problem_makespans_never_below_the_optimum(ft06, 55)


def problem_makespans_never_below_the_optimum(problem: JobShop, optimum: int) -> bool:
    return all(evaluate(problem, dispatch(problem, rule, nd)).makespan >= optimum
               for rule in RULES for nd in (True, False))


def test_the_random_rule_is_reproducible_per_seed():
    problem = random_jobshop(10, 5, 1)
    first, again, other = (dispatch(problem, "random", seed=s).starts for s in (4, 4, 5))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_best_dispatch_is_the_shortest_of_every_deterministic_rule_and_the_shipped_learned_one():
    problem = load("ta41")
    best = problem.makespan_of(best_dispatch(problem).starts)
    static = [problem.makespan_of(dispatch(problem, r, nd).starts)
              for r in RULES if r != "random" for nd in (True, False)]
    assert best == min(*static, problem.makespan_of(dispatch_spec(problem, "pdr").starts))


def test_the_simulator_serves_any_chooser():
    problem = random_jobshop(6, 4, 2)
    sim = DispatchSimulator(problem, non_delay=False)
    rng = np.random.default_rng(0)
    while not sim.done:
        jobs = sim.candidates()
        features = sim.features(jobs)
        assert features.shape == (len(jobs), len(FEATURES))
        assert np.all(features[:, FEATURES.index("remaining_operations")] >= 1)
        sim.step(int(rng.choice(jobs)))
    assert evaluate(problem, sim.schedule()).feasible


def test_the_simulator_refuses_a_job_that_is_not_a_candidate_and_an_unfinished_schedule():
    problem = load("ft06")
    sim = DispatchSimulator(problem)
    outsiders = sorted(set(range(problem.n_jobs)) - set(sim.candidates().tolist()))
    with pytest.raises(ValueError, match=f"job {outsiders[0]} is not a candidate now"):
        sim.step(outsiders[0])
    with pytest.raises(ValueError, match="only 0 of 36 operations are scheduled"):
        sim.schedule()


def test_rule_specs_as_users_write_them():
    assert parse_rule("MWKR") == ("mwkr", True)
    assert parse_rule("spt:active") == ("spt", False)
    assert parse_rule("fdd-mwkr:non-delay") == ("fdd/mwkr", True)
    with pytest.raises(InputError, match="unknown dispatching rule 'edd'"):
        parse_rule("edd")
    ft06 = load("ft06")
    assert np.array_equal(dispatch_spec(ft06, "lpt:active").starts, dispatch(ft06, "lpt", non_delay=False).starts)


@pytest.mark.parametrize("text, parsed, canonical", [
    (" SPT:Active ", RuleSpec("spt", non_delay=False), "spt:active"),
    ("fdd_mwkr", RuleSpec("fdd/mwkr"), "fdd/mwkr"),
    ("PDR", RuleSpec("pdr"), "pdr"),
    ("pdr-sample:1", RuleSpec("pdr", samples=1), "pdr-sample:1"),
    ("pdr-sample:32", RuleSpec("pdr", samples=32), "pdr-sample:32"),
])
def test_one_parser_turns_every_rule_spec_into_a_typed_value(text, parsed, canonical):
    assert parse_rule_spec(text) == parsed and str(parsed) == canonical
    assert parse_rule_spec(canonical) == parsed  # the canonical spelling parses back to itself


@pytest.mark.parametrize("text, message", [
    ("pdr-sample:0", "'pdr-sample:0': the number of samples must be a whole number of at least 1"),
    ("pdr-sample:x", "'pdr-sample:x': the number of samples must be a whole number of at least 1"),
    ("spt:delay", "unknown variant 'delay' in rule 'spt:delay'; choose non-delay or active"),
])
def test_a_bad_rule_spec_says_what_is_wrong(text, message):
    with pytest.raises(InputError, match=f"^{re.escape(message)}"):
        parse_rule_spec(text)
    with pytest.raises(InputError, match="unknown dispatching rule 'pdr'"):
        parse_rule_spec("pdr", learned=False)  # `pdr:pdr` is no static rule


def test_best_dispatch_past_its_deadline_still_returns_the_first_rule_s_schedule():
    problem = load("ta41")
    rushed = best_dispatch(problem, deadline=time.monotonic())
    assert rushed.starts.tolist() == dispatch(problem, "fdd/mwkr").starts.tolist()


def test_a_first_rule_past_its_own_deadline_gives_way_to_the_rank_order_schedule():
    """No rule finishes by `first_deadline`: the schedule that takes every job's operations rank by
    rank (each as early as its job and machine allow) stands in, valid and as brute force builds it."""
    problem = random_jobshop(100, 20, 1)  # past CHECK_EVERY steps: the first rule sees its deadline
    fallback = best_dispatch(problem, deadline=time.monotonic() - 1, first_deadline=time.monotonic() - 1)
    assert evaluate(problem, fallback).feasible
    job_free, machine_free, expected = [0] * problem.n_jobs, [0] * problem.n_machines, {}
    for rank in range(max(len(problem.job(j)) for j in range(problem.n_jobs))):
        for j in range(problem.n_jobs):
            if rank < len(problem.job(j)):
                machine, duration = problem.job(j)[rank]
                at = max(job_free[j], machine_free[machine])
                expected[problem.job_starts[j] + rank] = at
                job_free[j] = machine_free[machine] = at + duration
    assert fallback.starts.tolist() == [expected[op] for op in range(problem.n_operations)]
    with pytest.raises(DeadlinePassed):  # the rule looks at its deadline every CHECK_EVERY steps
        dispatch(random_jobshop(100, 20, 1), "mwkr", deadline=time.monotonic() - 1)


def test_a_rule_that_cannot_finish_in_the_time_limit_returns_no_schedule_and_says_why():
    result = solve(random_jobshop(100, 20, 1, name="r"), "pdr:mwkr", time_limit=1e-9)
    assert result.solution is None and result.status == "unknown"
    assert result.metrics["reason"] == ("the rule did not finish its schedule within the time limit (1e-09 s): "
                                        "give a longer --time-limit")


def test_a_learned_rollout_past_its_deadline_is_abandoned_and_best_dispatch_keeps_the_static_rules(monkeypatch):
    problem = load("ta41")
    with pytest.raises(DeadlinePassed):
        learned_dispatch(problem, deadline=time.monotonic() - 1)

    class Expired:  # the learned rule's clock only: every decision finds its deadline passed
        @staticmethod
        def monotonic() -> float:
            return float("inf")

    monkeypatch.setattr(learned_module, "time", Expired)
    chosen = best_dispatch(problem, deadline=time.monotonic() + 600)
    static = min(problem.makespan_of(dispatch_spec(problem, spec).starts) for spec in best_specs() if spec != LEARNED)
    assert problem.makespan_of(chosen.starts) == static
    assert problem.makespan_of(learned_dispatch(problem).starts) < static  # so the rule was indeed left out


def test_sampling_stops_at_its_time_limit_and_keeps_the_greedy_pair():
    problem = random_jobshop(10, 6, seed=11)
    done = dispatch_within(problem, "pdr-sample:8", stop_sampling_at=time.monotonic() - 1)
    assert (done.asked, done.rollouts, done.interrupted) == (8, 2, False)
    assert done.schedule.starts.tolist() == learned_dispatch(problem).starts.tolist()
    assert done.metrics() == {"rollouts": 2, "rollouts_asked": 8}
    unhurried = dispatch_within(problem, "pdr-sample:8")
    assert (unhurried.rollouts, unhurried.schedule.starts.tolist()) == (
        8, learned_dispatch(problem, samples=8).starts.tolist())
    assert dispatch_within(problem, "pdr", stop_sampling_at=time.monotonic() - 1).metrics() == {
        "rollouts": 2, "rollouts_asked": 2}  # the greedy pair does not depend on the sampling's limit
    with pytest.raises(DeadlinePassed):  # but it does on the solve's (the forward rollout cannot finish)
        dispatch_within(problem, "pdr-sample:8", stop_sampling_at=time.monotonic() - 1, deadline=time.monotonic() - 1)


def test_a_backward_rollout_past_the_deadline_leaves_the_forward_schedule(monkeypatch):
    problem = random_jobshop(10, 6, seed=11)
    forward = learned_module.rollout(problem, learned_module.load_policy())[0]
    real_rollout, calls = learned_module.rollout, []

    def deadline_passes_after_the_first(*args, **kwargs):
        calls.append(kwargs.get("deadline"))
        if len(calls) > 1:
            raise DeadlinePassed
        return real_rollout(*args, **kwargs)

    monkeypatch.setattr(learned_module, "rollout", deadline_passes_after_the_first)
    deadline = time.monotonic() + 600
    assert learned_dispatch(problem, deadline=deadline).starts.tolist() == forward.starts.tolist()
    assert calls == [deadline, deadline]  # the backward greedy rollout was given the same deadline


def test_ctrl_c_while_sampling_returns_the_best_rollout_so_far(monkeypatch):
    problem = random_jobshop(10, 6, seed=11)
    real_rollout = learned_module.rollout
    makespans: list[int] = []

    def interrupted_after_three(*args, **kwargs):
        if len(makespans) == 3:
            raise KeyboardInterrupt
        schedule, trajectory, makespan = real_rollout(*args, **kwargs)
        makespans.append(makespan)
        return schedule, trajectory, makespan

    monkeypatch.setattr(learned_module, "rollout", interrupted_after_three)
    improvements: list[int] = []
    done = dispatch_within(problem, "pdr-sample:32", on_improvement=lambda _, makespan: improvements.append(makespan))
    assert (done.rollouts, done.interrupted) == (3, True)
    assert problem.makespan_of(done.schedule.starts) == min(makespans) == improvements[-1]
    assert evaluate(problem, done.schedule).feasible
    makespans.clear()
    makespans.extend([0, 0, 0])  # Ctrl-C before the first schedule is complete loses nothing: it still raises
    with pytest.raises(KeyboardInterrupt):
        dispatch_within(problem, "pdr-sample:32")
