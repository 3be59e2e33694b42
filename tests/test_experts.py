"""Expert placement: EPLB rebuilt from its published example, the metrics by hand, the CP-SAT plan
never worse than EPLB on any layer, bad input and the command line."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cpsched.instances import InputError, load
from cpsched.instances.experts.problem import ExpertPlacement, ExpertProblem, evaluate, synthetic
from cpsched.solvers import solve
from cpsched.solvers.cli import main
from cpsched.solvers.experts.baselines import eplb, eplb_min_move

# the example in deepseek-ai/EPLB's README: 2 layers x 12 experts, 16 slots, 4 groups, 2 nodes, 8 GPUs
README_WEIGHTS = np.array([[90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86],
                           [20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27]])
README_PHY2LOG = np.array([[5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1],
                           [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1]])


def readme_problem() -> ExpertProblem:
    return ExpertProblem("readme", README_WEIGHTS, nodes=2, gpus_per_node=4, slots_per_gpu=2, groups=4)


def test_eplb_reproduces_its_readme_example():
    problem = readme_problem()
    ours, theirs = eplb(problem), ExpertPlacement(README_PHY2LOG)
    assert (ours.replicas(problem) == theirs.replicas(problem)).all()
    # the same experts on each GPU in layer 0; layer 1 differs only in how a tie between equal
    # per-replica loads (86) is broken, so the busiest GPU is the same
    assert sorted(map(sorted, ours.phy2log[0].reshape(8, 2).tolist())) == sorted(
        map(sorted, README_PHY2LOG[0].reshape(8, 2).tolist()))
    assert (evaluate(problem, ours).gpu_max == evaluate(problem, theirs).gpu_max).all()


def test_metrics_by_hand():
    # 4 experts, 2 GPUs x 2 slots on 2 nodes; expert 0 carries 60 of 100 tokens
    problem = ExpertProblem("hand", [[60, 20, 10, 10]], nodes=2, gpus_per_node=1, slots_per_gpu=2,
                            coactivation=np.array([[[0, 5, 0, 7], [5, 0, 0, 0], [0, 0, 0, 3], [7, 0, 3, 0]]]),
                            current=np.array([[0, 1, 2, 3]]), expert_bytes=1e9)
    result = evaluate(problem, ExpertPlacement(np.array([[0, 2, 1, 3]])))
    assert result.gpu_max[0] == 70 and result.gpu_mean[0] == 50
    assert result.gpu_imbalance[0] == pytest.approx(0.4)
    assert result.internode[0] == 5 + 7 + 3  # pairs (0,1), (0,3), (2,3) are split across the nodes
    assert result.migrated_bytes[0] == 2e9  # experts 2 and 1 moved


def test_cpsat_is_never_worse_than_eplb_on_any_layer():
    problem = synthetic("mixtral", nodes=2, gpus_per_node=2, redundant=4, layers=3, seed=3, current="contiguous")
    result = solve(problem, "cpsat", time_limit=20)
    ours, theirs = evaluate(problem, result.solution), evaluate(problem, eplb(problem))
    assert result.solution is not None and ours.feasible
    assert (ours.gpu_max <= theirs.gpu_max + 1e-9).all()
    assert ours.internode.sum() <= theirs.internode.sum()


def test_min_move_keeps_eplb_balance_and_moves_less():
    problem = synthetic("mixtral", nodes=2, gpus_per_node=2, redundant=4, layers=4, seed=5, current="contiguous")
    plain, moved = evaluate(problem, eplb(problem)), evaluate(problem, eplb_min_move(problem))
    assert np.allclose(plain.gpu_max, moved.gpu_max)
    assert moved.migrated_bytes.sum() <= plain.migrated_bytes.sum()


@pytest.mark.parametrize("document, message", [
    ({"load": [[1, 2, 3]], "topology": {"nodes": 1, "gpus_per_node": 1, "slots_per_gpu": 2}},
     "2 slots (1 GPUs x 2) cannot hold 3 experts; every expert needs a slot"),
    ({"load": [[1, -2]], "topology": {"nodes": 1, "gpus_per_node": 1, "slots_per_gpu": 2}},
     "load must hold token counts from 0 to 2^40, got values from -2 to 1"),
    ({"load": [[1, 1e30]], "topology": {"nodes": 1, "gpus_per_node": 1, "slots_per_gpu": 2}},
     "load must hold token counts from 0 to 2^40, got values from 1 to 1e+30"),
    ({"load": [[1, 2**62]], "topology": {"nodes": 1, "gpus_per_node": 1, "slots_per_gpu": 2}},
     "load must hold token counts from 0 to 2^40, got values from 1 to 4.61169e+18"),
    ({"load": [[1, 2]], "topology": {"nodes": 1, "gpus_per_node": 10**7, "slots_per_gpu": 2}},
     "10000000 GPUs x 2 slots is beyond what is planned here (at most 65536 GPUs and 1048576 slots in all)"),
    ({"load": [[1, 2]], "topology": {"nodes": 1, "gpus_per_node": 1, "slots_per_gpu": 2}, "expert_bytes": -1},
     "expert_bytes must be a size in bytes, 0 or more, got -1.0"),
    ({"load": [[1, 2]], "topology": {"nodes": 1, "gpus_per_node": 1, "slots_per_gpu": 2}, "current": [[0, 5]]},
     "current placement names an expert outside 0..1"),
    ({"load": [[1, 2], [3]], "topology": {"nodes": 1, "gpus_per_node": 1, "slots_per_gpu": 2}},
     "'load' must be a rectangular array of token counts"),
])
def test_bad_expert_files_name_the_file(tmp_path, document, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"kind": "experts", **document}))
    with pytest.raises(InputError) as error:
        load(str(path))
    assert str(error.value) == f"{path}: {message}"


def test_cli_generate_then_solve(tmp_path):
    runner = CliRunner()
    problem_file = str(tmp_path / "mx.npz")
    done = runner.invoke(main, ["experts-generate", "mixtral", "--nodes", "2", "--gpus-per-node", "2",
                                "--redundant", "4", "--layers", "2", "--current", "contiguous", "-o", problem_file])
    assert done.exit_code == 0, done.output
    plan_file = tmp_path / "plan.json"
    done = runner.invoke(main, ["solve", problem_file, "-t", "10", "-q", "-o", str(plan_file)])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].split()[:3] == ["plan", "imbalance", "worst"]
    assert [line.split()[0] for line in lines[1:7]] == ["cpsat", "contiguous", "round-robin", "lpt", "eplb",
                                                        "eplb-min-move"]
    assert lines[-1].startswith("instance=mx  size=2_layers_x_8_experts_on_4_GPUs_x_3_slots")
    plan = json.loads(plan_file.read_text())
    assert plan["kind"] == "experts-placement" and len(plan["phy2log"][0]) == 12


def test_an_interrupted_plan_says_so_on_its_summary_line(capsys):
    from cpsched.solvers.experts.command import report_experts
    from cpsched.solvers.family import ReportOptions

    problem = readme_problem()
    result = solve(problem, "eplb")
    result.metrics["interrupted"] = True
    report_experts(problem, result, ReportOptions())
    summary = capsys.readouterr().out.splitlines()[-1]
    assert "status=feasible  interrupted=yes  seconds=" in summary
