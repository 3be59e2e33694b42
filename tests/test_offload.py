"""Optimizer-offload scheduling: the simulator and checker against hand-computed timelines, the
CP-SAT plan against a known optimum, the baselines, the profile, and bad input."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from ortools.sat.python import cp_model

from cpsched.cpmodels.offload import build, canonical
from cpsched.instances import InputError, load
from cpsched.instances.offload.problem import OffloadPlan, OffloadProblem, evaluate, list_schedule, write_offload
from cpsched.instances.offload.profiles import OffloadOptions, offload_problem, parse_count
from cpsched.instances.pipeline.profiles import PROFILES
from cpsched.solvers.cli import main
from cpsched.solvers.offload.baselines import BASELINES, dos, zero_offload
from cpsched.solvers.registry import solve


def two_subgroups(free_gb: float = 10.0, resident: bool = False, **changes) -> OffloadProblem:
    """100M parameters each at 20 GB/s: gradient down 10 ms, CPU Adam 100 ms, parameters up 10 ms;
    state up 60 ms, GPU Adam 1 ms, state down 60 ms."""
    fields = dict(name="two", params=np.array([100_000_000, 100_000_000]), ready_ms=np.zeros(2), h2d_gbps=20.0,
                  d2h_gbps=20.0, cpu_adam_params_per_s=1e9, gpu_adam_params_per_s=1e11, free_memory=((0.0, free_gb),),
                  allow_resident=resident)
    fields.update(changes)
    return OffloadProblem(**fields)


def test_list_schedule_times_each_path_by_hand():
    problem = two_subgroups()
    assert evaluate(problem, list_schedule(problem, ["cpu", "cpu"])).phase_ms == 220.0
    assert evaluate(problem, list_schedule(problem, ["gpu", "gpu"])).phase_ms == 181.0
    mixed = list_schedule(problem, ["cpu", "gpu"])
    assert mixed.starts.tolist() == [[0, 10_000, 110_000], [0, 60_000, 61_000]]
    verdict = evaluate(problem, mixed)
    assert verdict.feasible and verdict.phase_ms == 121.0 and verdict.peak_gb == pytest.approx(1.2, abs=0.01)


def test_list_schedule_waits_for_memory():
    problem = two_subgroups(free_gb=1.5)  # one state (1.2 GB) at a time
    plan = list_schedule(problem, ["gpu", "gpu"])
    assert plan.starts[1, 0] >= plan.starts[0, 2] + 60_000  # the second upload waits for the first download
    assert evaluate(problem, plan).feasible


def test_evaluate_names_each_broken_rule():
    problem = two_subgroups(free_gb=1.5, ready_ms=np.array([5.0, 0.0]))
    early = OffloadPlan(("cpu", "gpu"), np.array([[0, 10_000, 110_000], [0, 60_000, 61_000]]))
    assert evaluate(problem, early).violations == ["subgroup 0: gradient sent at 0 before it is ready at 5000"]
    both_up = OffloadPlan(("gpu", "gpu"), np.array([[0, 60_000, 61_000], [60_000, 120_000, 121_000]]))
    verdict = evaluate(problem, both_up)
    assert verdict.violations == ["GPU memory: 2.4 GB of state at 60 ms, 1.5 GB free"]
    overlap = OffloadPlan(("cpu", "cpu"), np.array([[5_000, 15_000, 115_000], [10_000, 20_000, 120_000]]))
    assert "d2h: subgroups 0 and 1 overlap at 10000" in evaluate(problem, overlap).violations


def test_cpsat_finds_the_known_optimum():
    problem = two_subgroups()
    result = solve(problem, "cpsat", time_limit=20, workers=1)
    assert result.status == "optimal"
    assert result.objective == 121.0 and result.bound == 121.0
    assert sorted(result.solution.modes) == ["cpu", "gpu"]
    assert result.metrics["speedup_vs_zero_offload"] == pytest.approx(220 / 121)


def test_cpsat_keeps_state_resident_when_it_fits():
    result = solve(two_subgroups(free_gb=2.5, resident=True), "cpsat", time_limit=20, workers=1)
    assert result.status == "optimal" and result.objective == 2.0
    assert result.solution.modes == ("resident", "resident")


def test_resident_state_must_fit_under_the_lowest_free_memory():
    problem = two_subgroups(resident=True, free_memory=((0.0, 1.0), (50.0, 5.0)))
    with pytest.raises(InputError, match=r"resident optimizer state needs 1\.2 GB but as little as 1\.0 GB"):
        list_schedule(problem, ["resident", "cpu"])
    result = solve(problem, "cpsat", time_limit=20, workers=1)
    assert "resident" not in result.solution.modes and evaluate(problem, result.solution).feasible


def test_cpsat_plan_agrees_with_the_simulator_and_beats_every_baseline():
    problem = offload_problem(PROFILES["gpt2-xl"], OffloadOptions(subgroup=50_000_000, cpu_adam_gparams=0.5,
                                                                  free_gb=2.0))
    result = solve(problem, "cpsat", time_limit=10, workers=1, seed=0)
    verdict = evaluate(problem, result.solution)
    assert verdict.feasible and verdict.phase_ms == result.objective
    assert result.bound <= result.objective
    for name, entry in result.metrics["baselines"].items():
        if entry is not None:
            assert result.objective <= entry["phase_ms"], name


def test_baselines_sweep_their_knob():
    problem = two_subgroups()
    assert zero_offload(problem).evaluation.phase_ms == 220.0
    assert dos(problem).setting == "k=2" and dos(problem).evaluation.phase_ms == 121.0  # (cpu, gpu)
    assert BASELINES["twin-flow"](problem) is None  # no resident state allowed


def test_superoffload_keeps_the_first_layers_whose_gradients_come_last():
    problem = offload_problem(PROFILES["gpt2-xl"], OffloadOptions(subgroup=50_000_000))
    kept = [g for g, mode in enumerate(BASELINES["superoffload"](problem).plan.modes) if mode == "resident"]
    assert kept == list(range(len(kept))) and kept


def test_the_hint_is_reordered_to_meet_the_symmetry_breaking():
    problem = two_subgroups(resident=True, free_gb=1.5)
    plan = list_schedule(problem, ["gpu", "cpu"])
    ordered = canonical(problem, plan)
    assert ordered.modes == ("cpu", "gpu")
    assert ordered.starts.tolist() == [plan.starts[1].tolist(), plan.starts[0].tolist()]
    assert evaluate(problem, ordered).phase == evaluate(problem, plan).phase
    built = build(problem, evaluate(problem, plan).phase, hint=plan)
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    assert solver.solve(built.model) == cp_model.OPTIMAL  # the hint is a solution of the model


def test_profile_splits_this_ranks_parameters_in_layer_order():
    problem = offload_problem(PROFILES["llama2-7b"], OffloadOptions(subgroup=parse_count("100M"), dp=2))
    assert problem.params.sum() == problem.model["rank_params"]
    assert problem.subgroups == int(np.ceil(problem.params.sum() / 1e8))
    assert (np.diff(problem.ready_ms) <= 0).all()  # the backward pass reaches the first layers last
    assert problem.update_after_ms == pytest.approx(problem.model["backward_ms"])
    assert problem.h2d_gbps == pytest.approx(63.0 * 0.8)
    free = [gb for _, gb in problem.free_memory]
    assert free == sorted(free)  # activations are freed as the backward pass goes


def test_profile_refuses_a_model_that_does_not_fit():
    with pytest.raises(InputError, match=r"llama2-70b does not fit on one h100 with dp=1"):
        offload_problem(PROFILES["llama2-70b"], OffloadOptions())


def test_json_round_trip(tmp_path):
    problem = offload_problem(PROFILES["gpt2-medium"], OffloadOptions(subgroup=50_000_000))
    path = tmp_path / "problem.json"
    path.write_text(write_offload(problem))
    again = load(str(path))
    assert again.params.tolist() == problem.params.tolist()
    assert again.free_memory == problem.free_memory
    assert again.tables.cpu_update.tolist() == problem.tables.cpu_update.tolist()


GOOD = {"kind": "offload", "subgroups": [{"params": 1000000, "ready_ms": 0}],
        "hardware": {"h2d_gbps": 25, "d2h_gbps": 25, "cpu_adam_gparams": 1, "gpu_adam_gparams": 100,
                     "free_memory_gb": 1}}


@pytest.mark.parametrize("change, message", [
    ({"hardware": {**GOOD["hardware"], "h2d_gbps": 0}}, "hardware.h2d_gbps must be positive, got 0"),
    ({"hardware": {**GOOD["hardware"], "cpu_adam_gparams": -1}}, "hardware.cpu_adam_gparams must be positive, got -1"),
    ({"subgroups": [{"params": 0}]}, "subgroups[0].params must be a whole number from 1 to 2^53, got 0"),
    ({"subgroups": []}, "'subgroups' must be a non-empty list"),
    ({"hardware": {**GOOD["hardware"], "free_memory_gb": [[5, 1]]}}, "hardware.free_memory_gb must start at 0 ms"),
    ({"hardware": {**GOOD["hardware"], "free_memory_gb": 1e300}},
     "a free_memory_gb value is out of range (at most 2^53 microseconds or bytes): check the units"),
    ({"subgroups": [{"params": 1000000, "ready_ms": 1e300}]}, "a subgroup's ready_ms is out of range"),
    ({"allow_resident": "false"}, "allow_resident must be true or false, got 'false'"),
    ({"update_after": 5}, "unknown field(s) update_after; expected"),
    ({"bytes_per_param": {"state": 0}}, "bytes_per_param.state must be positive, got 0"),
])
def test_bad_fields_are_named(tmp_path, change, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**GOOD, **change}))
    outcome = CliRunner().invoke(main, ["solve", str(path)])
    assert outcome.exit_code == 2
    assert outcome.output.startswith(f"error: {path}: {message}")


def test_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"kind": "offload",\n "subgroups": [\n')
    outcome = CliRunner().invoke(main, ["solve", str(path)])
    assert outcome.exit_code == 2 and outcome.output.startswith(f"error: {path}:3: invalid JSON")


def test_a_rule_that_insists_on_the_gpu_without_room_is_refused(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps({**GOOD, "subgroups": [{"params": 200_000_000}],
                                "hardware": {**GOOD["hardware"], "free_memory_gb": 1}}))
    outcome = CliRunner().invoke(main, ["solve", str(path), "--method", "all-gpu"])
    assert outcome.exit_code == 2
    assert "the all-gpu rule has no plan that fits: the simulator found no time" in outcome.output
    assert CliRunner().invoke(main, ["solve", str(path), "-q"]).exit_code == 0  # cpsat puts it on the CPU


def test_profile_and_solve_on_the_command_line(tmp_path):
    problem = tmp_path / "gpt2.json"
    runner = CliRunner()
    made = runner.invoke(main, ["offload-profile", "gpt2-large", "--subgroup", "50M", "-o", str(problem)])
    assert made.exit_code == 0, made.output
    outcome = runner.invoke(main, ["solve", str(problem), "-t", "5", "-w", "1", "-q", "--json"])
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads(outcome.output)
    assert summary["method"] == "cpsat" and summary["phase_ms"] == summary["objective"]
    assert len(summary["plan"]["subgroups"]) == load(str(problem)).subgroups
    assert set(summary["baselines"]) == set(BASELINES)


def test_a_state_that_fits_to_the_byte_is_allowed():
    """States of 3.6 and 2.4 GB under 6.0 GB free: both may be up at once, so the plan at 6.0 GB is
    the plan at 6.05 GB (memory counts whole bytes, not rounded MiB); and five 1.2 GB states are up
    together in exactly 6.0 GB."""
    def problem(free_gb: float) -> OffloadProblem:
        return two_subgroups(free_gb=free_gb, params=np.array([300_000_000, 200_000_000]))

    exact, roomy = (solve(problem(gb), "cpsat", time_limit=20) for gb in (6.0, 6.05))
    assert exact.status == roomy.status == "optimal"
    assert exact.objective == roomy.objective
    both = evaluate(problem(6.0), list_schedule(problem(6.0), ["gpu", "gpu"]))
    assert both.feasible and both.peak_gb == 6.0
    five = two_subgroups(free_gb=6.0, params=np.full(5, 100_000_000), ready_ms=np.zeros(5))
    # uploads one after another, then five updates while every state is up, then the downloads
    plan = OffloadPlan(("gpu",) * 5, np.array([[60_000 * g, 300_000 + 1000 * g, 305_000 + 60_000 * g]
                                               for g in range(5)]))
    verdict = evaluate(five, plan)
    assert verdict.feasible and verdict.peak_gb == 6.0


def test_the_constructor_names_its_unit_where_the_file_uses_another():
    """The file gives billions of parameters per second; the constructor takes parameters per second:
    the file's number given to the constructor is refused, not planned as a 2e10 ms phase."""
    with pytest.raises(InputError, match=r"^two: cpu_adam_params_per_s is in parameters per second: 4 is far below "
                                         r"any Adam "
                                         r"\(the file's \*_adam_gparams is in billions per second, so 4 there is "
                                         r"4e9 here\)$"):
        two_subgroups(cpu_adam_params_per_s=4.0)
