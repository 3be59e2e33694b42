"""Blocking job shops (with and without swaps), down windows and rescheduling: hand-checked optima,
the checker's verdicts, and the command line's errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cpsched.instances import JobShop, Schedule, load
from cpsched.instances.jobshop.variant import JobShopVariant, evaluate_variant, sequential_schedule
from cpsched.solvers.cli import main
from cpsched.solvers.jobshop import variant as variant_solvers
from cpsched.solvers.jobshop.variant import Breakdown, reschedule
from cpsched.solvers.registry import solve

# two jobs that cross: job 0 runs on machine 0 then 1, job 1 on machine 1 then 0, one time unit each
CROSSING = JobShop.from_jobs("crossing", 2, [[(0, 1), (1, 1)], [(1, 1), (0, 1)]])


@pytest.mark.parametrize("variant, optimum", [
    (JobShopVariant(CROSSING, blocking=False), 2),  # both start at once
    (JobShopVariant(CROSSING, blocking=True, swaps=True), 2),  # the same, as a swap at time 1
    (JobShopVariant(CROSSING, blocking=True, swaps=False), 4),  # one job must wait for the other to leave
])
def test_known_optima(variant, optimum):
    result = solve(variant, "cpsat", time_limit=20, workers=1)
    assert result.status == "optimal" and result.objective == optimum
    assert evaluate_variant(variant, result.solution).feasible


def test_the_checker_sees_a_swap_and_blocking():
    swap = Schedule(np.array([0, 1, 0, 1]))
    assert evaluate_variant(JobShopVariant(CROSSING, swaps=True), swap).feasible
    verdict = evaluate_variant(JobShopVariant(CROSSING, swaps=False), swap)
    assert verdict.violations == ["jobs [0, 1] swap machines at time 1, and swaps are not allowed"]
    waits = Schedule(np.array([0, 2, 1, 3]))  # job 0 waits on machine 0 until 2 while job 1 wants it at 3
    assert evaluate_variant(JobShopVariant(CROSSING, blocking=False), waits).feasible
    blocked = evaluate_variant(JobShopVariant(CROSSING, blocking=True), Schedule(np.array([0, 3, 0, 1])))
    assert blocked.violations == ["machine 0: job 0 operation 0 holds it over [0, 3), job 1 operation 1 starts at 1"]


def test_windows_push_processing_but_not_waiting():
    variant = JobShopVariant(CROSSING, blocking=False, unavailable=((0, 0, 3),))
    result = solve(variant, "cpsat", time_limit=20, workers=1)
    assert result.objective == 5  # machine 0 first works at 3: job 1 on it 3-4, job 0 on it 4-5 then machine 1
    assert evaluate_variant(variant, Schedule(np.array([0, 1, 0, 1]))).violations == [
        "machine 0 is down over [0, 3), job 0 operation 0 runs [0, 1)",
        "machine 0 is down over [0, 3), job 1 operation 1 runs [1, 2)"]


def test_sequential_schedule_is_feasible_for_every_variant():
    shop = load("ft06")
    for variant in (JobShopVariant(shop, swaps=False, unavailable=((2, 5, 30),)), JobShopVariant(shop)):
        schedule = sequential_schedule(variant)
        verdict = evaluate_variant(variant, schedule)
        assert verdict.feasible and verdict.makespan >= shop.sum_of_durations()
    early = JobShopVariant(shop, unavailable=((2, 0, 30),))  # job 0 starts on machine 2
    assert sequential_schedule(early).starts[0] == 30


def test_blocking_ft06_with_swaps():
    result = solve(JobShopVariant(load("ft06")), "cpsat", time_limit=30, workers=2)
    assert result.status == "optimal" and result.objective >= 55  # never below the classic optimum
    assert result.objective == 63  # the blocking optimum, proved by CP-SAT here


def test_ctrl_c_while_the_starting_rules_run_keeps_the_best_start_so_far(monkeypatch):
    def interrupted(*args, **kwargs):  # Ctrl-C while the first starting rule dispatches
        raise KeyboardInterrupt

    monkeypatch.setattr(variant_solvers, "dispatch_spec", interrupted)
    problem = JobShopVariant(load("ft06"), blocking=True, swaps=True)
    result = solve(problem, "cpsat", time_limit=20, workers=1)
    assert result.metrics["interrupted"] and result.status == "feasible"
    assert result.objective == evaluate_variant(problem, sequential_schedule(problem)).makespan


def test_reschedule_keeps_what_started_and_avoids_the_breakdown():
    variant = JobShopVariant(load("ft06"))
    old = solve(variant, "cpsat", time_limit=30, workers=2).solution
    repair = reschedule(variant, old, [Breakdown(machine=0, at=10, duration=20)], time_limit=20, workers=2)
    new = repair.result.solution
    started = old.starts < 10
    assert (new.starts[started] == old.starts[started]).all() and repair.frozen == started.sum()
    assert (new.starts[~started] >= 10).all()
    assert {op for op, _, _ in repair.changed} == set(np.flatnonzero(new.starts != old.starts).tolist())
    assert evaluate_variant(JobShopVariant(load("ft06"), unavailable=((0, 10, 30),), frozen=tuple(
        (int(op), int(old.starts[op])) for op in np.flatnonzero(started)), now=10), new).feasible


@pytest.mark.parametrize("args, message", [
    (["--down", "9@10+5"], "error: --down 9@10+5: machine 9 does not exist (the instance has machines 0..5)"),
    (["--down", "1@500+5"], "error: --down 1@500+5: time 500 is outside the schedule, which runs from 0 to"),
    (["--down", "1@5"], "error: --down '1@5': expected MACHINE@TIME+DURATION, e.g. 3@120+40"),
])
def test_reschedule_refuses_bad_events(tmp_path, args, message):
    runner = CliRunner()
    schedule = tmp_path / "ft06.json"
    assert runner.invoke(main, ["solve", "ft06", "--blocking", "-t", "10", "-q", "-o", str(schedule)]).exit_code == 0
    outcome = runner.invoke(main, ["reschedule", "ft06", str(schedule), "--blocking", *args])
    assert outcome.exit_code == 2 and outcome.output.startswith(message)


def test_reschedule_refuses_a_schedule_that_does_not_fit_the_variant(tmp_path):
    classic = tmp_path / "classic.json"
    runner = CliRunner()
    assert runner.invoke(main, ["solve", "ft06", "-t", "10", "-q", "-o", str(classic)]).exit_code == 0
    outcome = runner.invoke(main, ["reschedule", "ft06", str(classic), "--blocking", "--down", "1@5+5"])
    assert outcome.exit_code == 2
    assert outcome.output.startswith("error: the schedule is not feasible for ft06 (blocking+swaps): machine")


def test_solve_blocking_on_the_command_line(tmp_path):
    out = tmp_path / "la.json"
    outcome = CliRunner().invoke(main, ["solve", "ft06", "--blocking", "--unavailable", "0@0+10", "-t", "20",
                                        "-q", "--json", "-o", str(out)])
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads(outcome.output)
    assert summary["variant"] == "blocking+swaps, 1 windows" and summary["objective"] >= 63
    assert json.loads(out.read_text())["makespan"] == summary["objective"]
    assert CliRunner().invoke(main, ["solve", "ft06", "--no-swaps"]).output.startswith(
        "error: --no-swaps applies with --blocking")


def test_the_json_format_carries_the_variant(tmp_path):
    path = tmp_path / "crossing.json"
    path.write_text(json.dumps({"kind": "jobshop", "machines": 2, "jobs": [[[0, 1], [1, 1]], [[1, 1], [0, 1]]],
                                "blocking": {"swaps": False}, "unavailable": [[1, 0, 2]]}))
    variant = load(str(path))
    assert isinstance(variant, JobShopVariant)
    assert (variant.blocking, variant.swaps, variant.unavailable) == (True, False, ((1, 0, 2),))
    path.write_text(json.dumps({"machines": 2, "jobs": [[[0, 1]]], "unavailable": [[5, 0, 2]]}))
    outcome = CliRunner().invoke(main, ["solve", str(path)])
    assert outcome.exit_code == 2
    assert outcome.output == f"error: {path}: machine 5 does not exist (the instance has machines 0..1)\n"


def test_check_judges_a_schedule_by_the_variant(tmp_path):
    schedule = tmp_path / "s.json"
    schedule.write_text(json.dumps({"starts": [[0, 1], [0, 1]]}))  # a swap at time 1
    runner = CliRunner()
    path = tmp_path / "crossing.json"
    path.write_text(json.dumps({"machines": 2, "jobs": [[[0, 1], [1, 1]], [[1, 1], [0, 1]]]}))
    assert runner.invoke(main, ["check", str(path), str(schedule), "--blocking"]).exit_code == 0
    refused = runner.invoke(main, ["check", str(path), str(schedule), "--blocking", "--no-swaps"])
    assert refused.exit_code == 1 and "swap machines at time 1, and swaps are not allowed" in refused.output


@pytest.mark.parametrize("instance, flags", [("ft06", []), ("la01", ["--blocking"])])
def test_reschedule_restarts_the_operation_a_breakdown_interrupts(tmp_path, instance, flags):
    """A breakdown in the middle of an operation: the repaired schedule passes `check` with the
    machine down (the operation starts again after the repair instead of running through it)."""
    runner = CliRunner()
    schedule, repaired = tmp_path / "s.json", tmp_path / "r.json"
    assert runner.invoke(main, ["solve", instance, *flags, "-t", "10", "-q", "-o", str(schedule)]).exit_code == 0
    shop = load(instance)
    starts = np.concatenate(json.loads(schedule.read_text())["starts"])  # one row per job
    op = next(op for op in np.argsort(starts).tolist() if starts[op] > 0 and shop.durations[op] >= 2)
    down = f"{shop.machines[op]}@{starts[op] + 1}+10"  # one tick into the operation
    outcome = runner.invoke(main, ["reschedule", instance, str(schedule), *flags, "--down", down, "-t", "10",
                                   "-o", str(repaired)])
    assert outcome.exit_code == 0, outcome.output
    checked = runner.invoke(main, ["check", instance, str(repaired), *flags, "--unavailable", down])
    assert checked.exit_code == 0, checked.output
    assert np.concatenate(json.loads(repaired.read_text())["starts"])[op] >= starts[op] + 11
