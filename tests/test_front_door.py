"""`import cpsched`: the front door a planner program uses, for all four families."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cpsched
from cpsched.instances.pipeline.problem import Layer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

EXPERTS = {"load": [[900, 120, 80, 300, 50, 250, 70, 230]],
           "topology": {"nodes": 2, "gpus_per_node": 2, "slots_per_gpu": 3}}
OFFLOAD = {"subgroups": [{"params": 100_000_000, "ready_ms": 10.0 * i} for i in range(4)],
           "hardware": {"h2d_gbps": 50, "d2h_gbps": 50, "cpu_adam_gparams": 1.0, "gpu_adam_gparams": 50,
                        "free_memory_gb": 1.0}}


def pipeline() -> cpsched.PipelineProblem:
    layers = tuple(Layer(f"l{i}", "decoder", 1 + i % 3, 2, 1e6, 1e6) for i in range(6))
    return cpsched.PipelineProblem("chain", layers, 2, 4)


def test_a_planner_with_its_own_instances_and_solvers_packages_uses_cpsched(tmp_path):
    """The issue's acceptance check: generic package names of the planner's own do not collide."""
    for package in ("instances", "solvers"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f'NAME = "the planner\'s own {package}"\n')
    profile = tmp_path / "llama.json"
    subprocess.run([sys.executable, "-m", "cpsched", "pipeline-profile", "gpt2-small", "-p", "2", "-m", "4",
                    "-o", str(profile)], check=True, capture_output=True, cwd=tmp_path)
    script = tmp_path / "plan.py"
    script.write_text(textwrap.dedent("""
        import instances, solvers
        import cpsched

        assert instances.NAME.startswith("the planner") and solvers.NAME.startswith("the planner")
        ft06 = cpsched.solve(cpsched.load("ft06"), time_limit=20)
        assert (ft06.objective, ft06.status) == (55, "optimal"), ft06
        shop = cpsched.JobShop.from_lists([[(0, 3), (1, 2), (2, 2)], [(2, 4), (0, 3), (1, 1)], [(1, 2), (2, 3)]])
        result = cpsched.solve(shop, time_limit=10)
        check = cpsched.evaluate(shop, result.solution)
        assert check.feasible and check.objective == result.objective
        problem = cpsched.load("llama.json")
        plan = cpsched.solve(problem, time_limit=10)
        verdict = cpsched.evaluate(problem, plan.solution)
        assert verdict.feasible and verdict.objective == plan.objective
        print("planned", ft06.objective, result.objective, round(plan.objective, 3))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("planned 55 ")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_every_example_runs(example, tmp_path):
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_the_examples_folder_holds_one_per_family():
    assert {path.stem for path in EXAMPLES} >= {"jobshop_from_lists", "pipeline_from_profile", "experts_from_loads",
                                               "offload_plan"}


def test_status_is_an_enum_that_compares_equal_to_its_string():
    assert cpsched.Status.OPTIMAL == "optimal" and str(cpsched.Status.FEASIBLE) == "feasible"
    assert f"{cpsched.Status.UNKNOWN}" == "unknown" and json.dumps(cpsched.Status.INFEASIBLE) == '"infeasible"'
    result = cpsched.Result("optimal", 1, 1, None, "m", 0.0)
    assert result.status is cpsched.Status.OPTIMAL
    with pytest.raises(ValueError):
        cpsched.Result("refused", None, None, None, "m", 0.0)


@pytest.mark.parametrize("family", ["jobshop", "pipeline", "experts", "offload"])
def test_results_and_solutions_round_trip_through_json(family):
    problem, method = {
        "jobshop": (cpsched.load("ft06"), "pdr:mwkr"),
        "pipeline": (pipeline(), "megatron-uniform"),
        "experts": (cpsched.ExpertProblem.from_dict(EXPERTS), "eplb"),
        "offload": (cpsched.OffloadProblem.from_dict(OFFLOAD), "zero-offload"),
    }[family]
    result = cpsched.solve(problem, method)
    again = cpsched.Result.from_json(result.to_json())
    assert again.to_dict() == result.to_dict()
    assert type(again.solution) is type(result.solution)
    assert cpsched.evaluate(problem, again.solution).objective == result.objective
    solution = type(result.solution).from_json(result.solution.to_json())
    assert solution.to_dict() == result.solution.to_dict()


def test_a_solution_from_json_names_the_bad_field():
    with pytest.raises(cpsched.InputError, match=r"^Schedule.from_dict: unknown field 'start' for Schedule"):
        cpsched.Schedule.from_dict({"start": [0, 1]})
    with pytest.raises(cpsched.InputError, match=r"^Placement.from_dict: missing field 'boundaries'"):
        cpsched.Placement.from_dict({})
    with pytest.raises(cpsched.InputError, match=r"^Schedule.from_dict: field 'starts' must be a list of whole"):
        cpsched.Schedule.from_dict({"starts": [1.7, 2.2]})
    with pytest.raises(cpsched.InputError, match=r"^Placement.from_dict: field 'recompute' must be a list of"):
        cpsched.Placement.from_dict({"boundaries": [0], "recompute": 1, "shards": []})
    with pytest.raises(cpsched.InputError, match=r"^OffloadPlan.from_dict: field 'modes' must be a list of strings"):
        cpsched.OffloadPlan.from_dict({"modes": [1, None], "starts": [[0, 1, 2]]})
    for bad, field in [({"solution": [1, 2]}, "solution"), ({"trace": [1]}, "trace"), ({"metrics": [1]}, "metrics"),
                       ({"objective": "7"}, "objective")]:
        document = {"status": "optimal", "objective": 1, "bound": 1, "method": "m", "wall_time": 0, **bad}
        with pytest.raises(cpsched.InputError, match=rf"^Result.from_dict: field '{field}' must be"):
            cpsched.Result.from_dict(document)
    with pytest.raises(cpsched.InputError, match=r"^Result.from_dict: solution type 'Nope'"):
        cpsched.Result.from_dict({"status": "optimal", "objective": 1, "bound": 1, "method": "m", "wall_time": 0,
                                  "solution": {"type": "Nope"}})


def test_a_keyword_of_another_family_is_refused_by_name():
    with pytest.raises(cpsched.InputError,
                       match=r"^solve\(\): warm_start does not apply to pipeline problems; it applies to job shops$"):
        cpsched.solve(pipeline(), warm_start="mwkr")
    with pytest.raises(cpsched.InputError, match=r"^solve\(\): warm_start applies to the search methods, not to "
                                                 r"'pdr:mwkr'$"):
        cpsched.solve(cpsched.load("ft06"), "pdr:mwkr", warm_start="spt")
    shop = cpsched.JobShopVariant(cpsched.load("la01"), blocking=True)
    with pytest.raises(cpsched.InputError, match=r"^solve\(\): weights applies to the learned rule \(pdr, "
                                                 r"pdr-sample:K\), not to 'cpsat'$"):
        cpsched.solve(shop, "cpsat", weights="any.npz")
    with pytest.raises(cpsched.InputError, match=r"^solve\(\): weights: no such file: missing.npz$"):
        cpsched.solve(shop, "pdr", weights="missing.npz")
    assert cpsched.solve(cpsched.load("ft06"), "pdr:mwkr", seed=np.int64(1), time_limit=np.float32(5)).objective
    with pytest.raises(cpsched.InputError, match=r"^solve\(\): unknown keyword 'warmstart'"):
        cpsched.solve(cpsched.load("ft06"), warmstart="spt")
    with pytest.raises(cpsched.InputError, match=r"^solve\(\): problem must be one of JobShop, .*got list$"):
        cpsched.solve([[(0, 1)]])


def test_evaluate_checks_every_family_and_refuses_a_solution_of_another():
    shop = cpsched.load("ft06")
    bad = cpsched.Schedule(np.zeros(shop.n_operations, dtype=np.int64))
    verdict = cpsched.evaluate(shop, bad)
    assert not verdict.feasible and verdict.violations
    with pytest.raises(cpsched.InputError, match=r"^solution: a JobShop takes a Schedule, got Placement$"):
        cpsched.evaluate(shop, cpsched.Placement([0], [False], []))


def test_ml_problems_from_dicts_are_validated_as_files_are():
    with pytest.raises(cpsched.InputError, match=r"^PipelineProblem.from_dict: 'layers' must be a non-empty list$"):
        cpsched.PipelineProblem.from_dict({"kind": "pipeline"})
    with pytest.raises(cpsched.InputError, match=r"^ExpertProblem.from_dict: 'topology' must be an object"):
        cpsched.ExpertProblem.from_dict({"load": [[1, 2]]})
    with pytest.raises(cpsched.InputError, match=r"^OffloadProblem.from_dict: 'subgroups' must be a non-empty list"):
        cpsched.OffloadProblem.from_dict({"subgroups": []})
    with pytest.raises(cpsched.InputError, match=r"^PipelineProblem.from_dict: expected a dict, got list$"):
        cpsched.PipelineProblem.from_dict([])
    with pytest.raises(cpsched.InputError, match=r"^ExpertProblem.from_dict: 'kind' is 'pipeline'; a ExpertProblem"):
        cpsched.ExpertProblem.from_dict({**EXPERTS, "kind": "pipeline"})


@pytest.mark.parametrize("jobs, message", [
    ([], "jobs must be a non-empty list of jobs"),
    ("ft06", "jobs must be a non-empty list of jobs"),
    ([[(0, 3)], []], r"jobs\[1\] must be a non-empty list of \(machine, duration\) pairs"),
    ([[(0, 3, 1)]], r"jobs\[0\]\[0\] must be a \(machine, duration\) pair, got \(0, 3, 1\)"),
    ([[(0, 3), (1, -2)]], r"jobs\[0\]\[1\] duration -2 is below 0"),
    ([[(0.5, 3)]], r"jobs\[0\]\[0\] machine 0.5 is not a whole number"),
    ([[(0, "3")]], r"jobs\[0\]\[0\] duration '3' is not a whole number"),
    ([[(True, 3)]], r"jobs\[0\]\[0\] machine True is not a whole number"),
])
def test_from_lists_names_the_bad_entry(jobs, message):
    with pytest.raises(cpsched.InputError, match=rf"^JobShop.from_lists: {message}"):
        cpsched.JobShop.from_lists(jobs)


def test_from_lists_takes_numpy_data():
    shop = cpsched.JobShop.from_lists(np.array([[[0, 3], [1, 2]], [[1, 4], [0, 3]]]))
    assert shop.size == "2x2" and shop.job(1) == [(1, 4), (0, 3)]


def test_from_lists_refuses_a_machine_beyond_n_machines():
    with pytest.raises(cpsched.InputError, match=r"^JobShop.from_lists: machine 2 does not exist with n_machines=2$"):
        cpsched.JobShop.from_lists([[(0, 1), (2, 1)]], n_machines=2)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 20)), min_size=1, max_size=6),
                min_size=1, max_size=6))
def test_from_lists_keeps_every_job_as_given(jobs):
    shop = cpsched.JobShop.from_lists(jobs)
    assert shop.n_jobs == len(jobs) and shop.n_machines == 1 + max(m for job in jobs for m, _ in job)
    assert [shop.job(j) for j in range(shop.n_jobs)] == [[tuple(pair) for pair in job] for job in jobs]


def test_the_distribution_installs_only_the_cpsched_package():
    """`pip install .` puts `cpsched` (and its metadata, and the console script) in site-packages and no
    generic top-level names; an editable install adds only its path hook."""
    installed = [*metadata.distributions(name="cpsched", path=[sysconfig.get_paths()["purelib"]])]
    assert len(installed) == 1  # looked up in site-packages, not in a checkout's build metadata
    top = {Path(str(file)).parts[0] for file in installed[0].files if not str(file).startswith("..")}
    editable = {name for name in top if name.startswith("__editable__")}
    if editable:
        top -= editable | {"__pycache__"}  # the path hook and its bytecode
    assert top == {f"cpsched-{installed[0].version}.dist-info"} | (set() if editable else {"cpsched"})


def test_the_front_door_exports_documented_names():
    for name in cpsched.__all__:
        item = getattr(cpsched, name)
        assert getattr(item, "__doc__", None), f"cpsched.{name} has no docstring"
    assert [family.name for family in cpsched.families()] == ["jobshop", "jobshop-variant", "pipeline", "experts",
                                                              "offload"]


@pytest.mark.parametrize("family", ["pipeline", "experts", "offload"])
def test_every_method_of_every_ml_family_writes_its_plan(family, tmp_path):
    """--json, -o and --emit json for the planner and every baseline (numpy numbers in a plan once
    crashed the writer for some baselines only)."""
    from click.testing import CliRunner

    from cpsched.instances.pipeline.problem import write_pipeline
    from cpsched.solvers.cli import main

    path = tmp_path / f"{family}.json"
    roomy = {**OFFLOAD["hardware"], "free_memory_gb": 8.0}  # room for the all-gpu rule
    path.write_text({"pipeline": lambda: write_pipeline(pipeline()),
                     "experts": lambda: json.dumps({"kind": "experts", **EXPERTS}),
                     "offload": lambda: json.dumps({"kind": "offload", **OFFLOAD, "hardware": roomy})}[family]())
    record = next(f for f in cpsched.families() if f.name == family)
    for method in record.methods:
        out = tmp_path / f"{method}.out.json"
        done = CliRunner().invoke(main, ["solve", str(path), "-m", method, "-t", "5", "-q", "--json", "-o", str(out)])
        assert done.exit_code == 0, (method, done.output, done.exception)
        summary = json.loads(done.stdout)
        written = json.loads(out.read_text())
        assert summary["method"] == method and written["kind"].startswith(family.rstrip("s"))
        emitted = CliRunner().invoke(main, ["solve", str(path), "-m", method, "-t", "5", "-q", "--emit", "json"])
        assert emitted.exit_code == 0, (method, emitted.output, emitted.exception)
        assert json.loads(emitted.stdout) == written  # stdout is the plan alone: `> plan.json` works
        assert f"method={method}" in emitted.stderr  # the report went to stderr
