"""Dispatching on blocking job shops: the simulator's blocking and swaps on hand-checked cases, every
rule's schedule checked by the variant's checker, random shutdowns that pause processing, training
the learned rule on the variant, and the command line."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cpsched.instances import JobShop, Schedule, load
from cpsched.instances.jobshop.variant import JobShopVariant, evaluate_variant, resumed_end
from cpsched.learned_pdr.blocking_simulator import BlockingSimulator, RandomShutdowns
from cpsched.learned_pdr.features import BLOCKING_FEATURES
from cpsched.learned_pdr.learned import rollout
from cpsched.learned_pdr.policy import Policy
from cpsched.learned_pdr.rules import RULES, dispatch
from cpsched.learned_pdr.training import TrainingConfig, train
from cpsched.solvers.cli import main

CROSSING = JobShop.from_jobs("crossing", 2, [[(0, 1), (1, 1)], [(1, 1), (0, 1)]])
# job 0 finishes on machine 0 at 1 but machine 1 is busy with job 1 until 3: job 0 blocks machine 0
# until then, so job 2 enters machine 0 only at 3 (at 1 with buffers)
BLOCKED = JobShop.from_jobs("blocked", 2, [[(0, 1), (1, 1)], [(1, 3)], [(0, 1)]])


def test_a_deadlock_is_resolved_by_a_swap():
    sim = BlockingSimulator(CROSSING)
    while not sim.done:
        sim.step(int(sim.candidates()[0]))
    assert sim.schedule().starts.tolist() == [0, 1, 0, 1] and sim.makespan == 2 and sim.swapped == 2
    assert evaluate_variant(JobShopVariant(CROSSING), sim.schedule()).feasible


def test_a_finished_job_blocks_its_machine_until_the_next_takes_it():
    schedule = dispatch(JobShopVariant(BLOCKED), "spt")
    assert schedule.starts.tolist() == [0, 3, 0, 3]
    assert evaluate_variant(JobShopVariant(BLOCKED), schedule).makespan == 4
    assert dispatch(BLOCKED, "spt").starts.tolist() == [0, 3, 0, 1]  # with buffers job 2 goes at 1


@pytest.mark.parametrize("name", ["ft06", "la01", "la16"])
def test_every_rule_builds_a_schedule_the_checker_accepts(name):
    problem = JobShopVariant(load(name))
    for rule in RULES:
        sim_makespans = []
        for q in (0.0, 0.05):
            shutdowns = RandomShutdowns.for_shop(problem.shop, q, seed=7) if q else None
            schedule = dispatch(problem, rule, seed=1, shutdowns=shutdowns)
            happened = shutdowns.applied_to(problem) if shutdowns else problem
            verdict = evaluate_variant(happened, schedule)
            assert verdict.feasible, (rule, q, verdict.violations[:2])
            sim_makespans.append(verdict.makespan)
        assert sim_makespans[1] > sim_makespans[0] >= problem.lower_bound  # shutdowns cost time


def test_work_pauses_through_a_shutdown():
    windows = [(2, 4), (6, 7)]
    assert resumed_end(windows, 1, 4) == 8  # 1 unit, pause to 4, 2 units, pause to 7, 1 unit
    assert resumed_end(windows, 3, 1) == 5  # begun while down: works from 4
    assert resumed_end(windows, 3, 0) == 3  # an empty operation ends where it starts
    assert resumed_end(windows, 7, 5) == 12


def test_the_checker_stretches_operations_through_shutdowns():
    problem = JobShopVariant(CROSSING, unavailable=((0, 1, 3),), resume=True)
    # machine 0 stops over [1, 3): job 0 is done there by 1; job 1 enters at 1, waits it out, ends at 4
    assert evaluate_variant(problem, Schedule(np.array([0, 1, 0, 1]))).makespan == 4
    late = JobShopVariant(CROSSING, unavailable=((1, 0, 2),), resume=True)  # job 1 starts at 0, ends at 3
    verdict = evaluate_variant(late, Schedule(np.array([0, 1, 0, 1])))
    assert verdict.violations[0] == "job 1 operation 1 starts at 1 before its predecessor ends at 3"
    planned = JobShopVariant(CROSSING, unavailable=((1, 0, 2),))  # planned windows must not be crossed
    assert not evaluate_variant(planned, Schedule(np.array([0, 3, 0, 3]))).feasible


def test_shutdowns_are_the_same_whatever_is_asked_first():
    first, second = (RandomShutdowns(3, 0.05, 10, seed=4) for _ in range(2))
    first.finish(2, 0, 500)
    first.finish(0, 0, 300)
    second.finish(0, 0, 300)
    second.finish(2, 0, 500)
    assert first.windows == second.windows and first.windows[0] and not first.windows[1]
    assert all(up - down in range(1, 11) for spans in first.windows for down, up in spans)


def test_training_on_the_variant_is_deterministic_and_reads_the_blocking_features():
    config = TrainingConfig(seed=2, instances_per_update=1, rollouts=3, variant="blocking", non_delay=True,
                            shutdowns=(0.0, 0.05), validate_every=2, validation_per_size=1,
                            sizes=((6, 6), (8, 5)))
    first, again = (train(config, updates=2) for _ in range(2))
    assert first.policy.features == BLOCKING_FEATURES
    assert all(np.array_equal(first.policy.params[k], again.policy.params[k]) for k in first.policy.params)
    problem = JobShopVariant(load("la01"))
    schedule, _, makespan = rollout(problem, first.policy, non_delay=True)
    assert evaluate_variant(problem, schedule).makespan == makespan


@pytest.mark.parametrize("kwargs, message", [
    ({"shutdowns": (0.01,)}, "random shutdowns apply to the blocking variant (--variant blocking)"),
    ({"variant": "blocking"}, "blocking dispatch is non-delay; train it with non_delay=True"),
    ({"variant": "flow"}, "unknown variant 'flow'; choose classic or blocking"),
])
def test_training_refuses_a_config_that_cannot_work(kwargs, message):
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainingConfig(**kwargs)


def test_a_policy_for_one_variant_is_refused_on_the_other(tmp_path):
    path = tmp_path / "blocking.npz"
    Policy.initial(0, 4, BLOCKING_FEATURES).save(path)
    result = CliRunner().invoke(main, ["solve", "la01", "--method", "pdr", "--weights", str(path), "-q"])
    assert result.exit_code == 2
    assert f"{path}: these weights are for blocking job shops, not classic ones" in result.output
    assert CliRunner().invoke(main, ["solve", "la01", "--blocking", "--method", "pdr", "--weights", str(path),
                                     "-q"]).exit_code == 0


def test_solve_with_random_shutdowns_on_the_command_line():
    result = CliRunner().invoke(main, ["solve", "la01", "--blocking", "--method", "pdr:mwkr", "--shutdown", "0.01",
                                       "--seed", "3", "--json", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    makespan = summary["objective"]
    assert summary["shutdowns"] and all(down < makespan for _, down, _ in summary["shutdowns"])
    assert summary["down_time"] == sum(min(up, makespan) - down for _, down, up in summary["shutdowns"])
    again = json.loads(CliRunner().invoke(main, ["solve", "la01", "--blocking", "--method", "pdr:mwkr", "--shutdown",
                                                 "0.01", "--seed", "3", "--json", "-q"]).output)
    assert again["objective"] == summary["objective"] and again["shutdowns"] == summary["shutdowns"]


@pytest.mark.parametrize("args, message", [
    (["--blocking", "--method", "pdr:mwkr:active"], "blocking dispatch is non-delay (a free machine takes a waiting "
                                                    "job at once); drop ':active'"),
    (["--blocking", "--shutdown", "0.01"], "CP-SAT plans ahead and cannot react to random shutdowns; use a "
                                           "dispatching rule (--method pdr or pdr:RULE)"),
    (["--method", "pdr:spt", "--shutdown", "0.01"], "--shutdown applies with --blocking"),
    (["--blocking", "--no-swaps", "--method", "pdr:spt"], "la01 (blocking, no swaps): dispatching rules handle "
                                                          "blocking job shops with swaps and random shutdowns"),
    (["--blocking", "--method", "pdr-sample:4", "--shutdown", "0.01"], "pdr-sample keeps the best of several runs"),
])
def test_dispatch_on_a_variant_refuses_what_it_cannot_do(args, message):
    result = CliRunner().invoke(main, ["solve", "la01", "-q", *args])
    assert result.exit_code == 2 and message in result.output


def test_check_judges_a_schedule_by_the_shutdowns_it_met(tmp_path):
    out = tmp_path / "la01.json"
    made = CliRunner().invoke(main, ["solve", "la01", "--blocking", "--method", "pdr:spt", "--shutdown", "0.05",
                                     "-o", str(out), "-q"])
    assert made.exit_code == 0, made.output
    makespan = json.loads(out.read_text())["makespan"]
    checked = CliRunner().invoke(main, ["check", "la01", str(out), "--blocking"])
    assert checked.exit_code == 0 and checked.output.strip() == f"feasible  instance=la01  makespan={makespan}"
    refused = CliRunner().invoke(main, ["check", "la01", str(out)])
    assert refused.exit_code == 2
    assert refused.output.strip() == (f"error: {out}: the schedule met random shutdowns on a blocking shop: "
                                      "add --blocking")
    document = json.loads(out.read_text())
    document["shutdowns"] = []  # without them the same starts finish sooner: later starts are still feasible
    out.write_text(json.dumps(document))
    assert CliRunner().invoke(main, ["check", "la01", str(out), "--blocking"]).output.split("makespan=")[1].strip() \
        != str(makespan)
