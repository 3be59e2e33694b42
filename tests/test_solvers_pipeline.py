"""The pipeline planner: CP-SAT against brute force through the simulator, the baselines' DPs,
infeasible caps, and the command line."""

import itertools
import json
import random
import time

import numpy as np
import pytest
from click.testing import CliRunner

from cpsched.cpmodels.pipeline import build
from cpsched.instances.errors import InputError
from cpsched.instances.pipeline.problem import Layer, PipelineProblem, Placement, Recompute, pipeline_to_json
from cpsched.instances.pipeline.schedule import critical_path, evaluate
from cpsched.solvers import solve
from cpsched.solvers.cli import main
from cpsched.solvers.cpsat import Tracker, run_cpsat
from cpsched.solvers.pipeline.baselines import _dp, alpa, megatron_override, pipedream, stage_costs
from cpsched.solvers.pipeline.report import baseline_line


def random_problem(rng: random.Random, kind: str) -> PipelineProblem:
    n, p = rng.randint(4, 7), rng.randint(2, 3)
    m = rng.randint(1, 6)
    layers = [Layer(f"l{i}", "decoder", rng.randint(1, 9), rng.randint(1, 18), rng.randint(1, 5) * 1e7,
                    rng.randint(1, 5) * 1e8, rng.choice([0, 1e8]),
                    Recompute(1e7, rng.randint(1, 5)) if kind == "recompute" else None) for i in range(n)]
    options = {}
    if kind == "shards":
        layers.append(Layer("out", "output", rng.randint(5, 20), rng.randint(10, 40), 4e7, 1e8, shards=2,
                            sync_bytes=rng.choice([0.0, 5e7])))
    if kind == "recompute":
        options["memory_gb"] = (rng.choice([1.5, 2.5]),) * p
    if kind == "interleaved":
        p, options = 2, {"virtual_stages": 2}
        m = 2 * rng.randint(1, 2)
    if kind == "gpipe":
        options["speed"] = tuple(rng.choice([1.0, 2.0]) for _ in range(p))
    schedule = {"interleaved": "interleaved", "gpipe": "gpipe"}.get(kind, "1f1b")
    return PipelineProblem("r", tuple(layers), p, m, schedule, **options)


def brute_force(problem: PipelineProblem) -> int | None:
    """The best simulated iteration time over every placement."""
    S, n = problem.virtual_count, problem.head_start
    optional = [i for i in range(n) if problem.layers[i].recompute]
    spreads = [[]]
    if problem.head:
        k = problem.head[0].shards
        spreads = [[list(c)] for c in itertools.product(range(k + 1), repeat=problem.stages) if sum(c) == k]
    best = None
    last = n + 1 if problem.head else n  # with shards the last stage may run no layer
    for cuts in itertools.combinations(range(1, last), S - 1):
        for mask in itertools.product([False, True], repeat=len(optional)):
            recompute = [False] * n
            for i, flag in zip(optional, mask):
                recompute[i] = flag
            for shards in spreads:
                if cuts and cuts[-1] == n and not shards[0][S - 1]:
                    continue  # an empty last stage needs shards on its device
                result = evaluate(problem, Placement([0, *cuts], recompute, shards))
                if result.feasible and (best is None or result.iteration < best):
                    best = result.iteration
    return best


KINDS = ["chain", "recompute", "shards", "interleaved", "gpipe"]


@pytest.mark.parametrize("kind", KINDS)
def test_timeline_model_objective_agrees_with_the_simulator_and_brute_force(kind):
    rng = random.Random(KINDS.index(kind))
    for _ in range(4):
        problem = random_problem(rng, kind)
        expected = brute_force(problem)
        built = build(problem)
        outcome = run_cpsat(built.model, deadline=time.monotonic() + 30, tracker=Tracker(time.monotonic()))
        if expected is None:
            assert outcome.status == "infeasible"
            continue
        assert outcome.status == "optimal"
        placement = built.decode(problem, outcome.values)
        assert outcome.objective == evaluate(problem, placement).iteration == expected


def random_placement(rng: random.Random, problem: PipelineProblem) -> Placement:
    """Any placement of `problem`: random cuts (an empty last stage where shards allow), recompute,
    shards and vocabulary timing."""
    n, S, p = problem.head_start, problem.virtual_count, problem.stages
    while True:
        top = n + 1 if problem.head else n
        cuts = sorted(rng.sample(range(1, top), S - 1))
        shards = []
        for layer in problem.head:
            row = [0] * p
            for _ in range(layer.shards):
                row[rng.randrange(p)] += 1
            shards.append(row)
        if cuts and cuts[-1] == n and not any(row[p - 1] for row in shards):
            continue
        recompute = [x.recompute is not None and rng.random() < 0.5 for x in problem.chain]
        timing = (rng.randint(0, 3), rng.randint(0, 3)) if problem.head else (0, 0)
        placement = Placement([0, *cuts], recompute, shards, *timing)
        try:
            evaluate(problem, placement)
        except InputError:  # a timing whose barriers deadlock
            continue
        return placement


@pytest.mark.parametrize("kind", KINDS)
def test_timeline_model_times_any_placement_as_the_simulator_does(kind):
    """The CP-SAT timeline with the placement fixed: its makespan is the simulated iteration time,
    vocabulary passes, all-reduces and empty last stages included."""
    rng = random.Random(40 + KINDS.index(kind))
    for _ in range(6):
        problem = random_problem(rng, kind)
        placement = random_placement(rng, problem)
        simulated = evaluate(problem, placement)
        built = build(problem, extra_warmup=placement.extra_warmup, vocab_lead=placement.vocab_lead,
                      horizon=10 * simulated.iteration + 1)
        for (k, s), var in built.in_stage.items():
            built.model.Add(var == int(k in placement.stage_layers(problem, s)))
        for (s, c), var in built.recomputed.items():
            built.model.Add(var == sum(1 for k in placement.stage_layers(problem, s)
                                       if placement.recompute[k] and built.recompute_class[k] == c))
        for h, row in enumerate(built.shards):
            for d, var in enumerate(row):
                built.model.Add(var == placement.shards[h][d])
        outcome = run_cpsat(built.model, deadline=time.monotonic() + 30, tracker=Tracker(time.monotonic()))
        if not simulated.feasible:
            assert outcome.status == "infeasible"
            continue
        assert outcome.status == "optimal"
        assert outcome.objective == simulated.iteration


def test_shards_never_lose_to_the_plan_without_them():
    """A heavy output layer that is best alone on the last stage, and an all-reduce so costly that
    spreading its shards never pays: the plan with shards allowed is the plan without them."""
    decoders = tuple(Layer(f"l{i}", "decoder", 2, 4, 1e6, 1e6, 1e6) for i in range(6))
    output = dict(forward_ms=12, backward_ms=24, params=1e6, activation_bytes=1e6)
    plain = PipelineProblem("plain", (*decoders, Layer("output", "output", **output)), 4, 8)
    sharded = PipelineProblem("sharded", (*decoders, Layer("output", "output", **output, shards=4,
                                                            sync_bytes=1e9)), 4, 8)
    without = solve(plain, "cpsat", time_limit=30)
    assert without.status == "optimal" and without.solution.counts(plain)[-1] == 1  # the output layer alone
    result = solve(sharded, "cpsat", time_limit=30)
    assert result.objective <= without.objective
    assert result.solution.counts(sharded)[-1] == 0 and result.solution.shards == [[0, 0, 0, 4]]
    assert result.objective <= min(b["iteration_ms"] for b in result.metrics["baselines"].values() if b)


@pytest.mark.parametrize("kind", ["chain", "recompute", "gpipe", "interleaved"])
def test_planner_proves_the_brute_force_optimum(kind):
    rng = random.Random(10 + KINDS.index(kind))
    for _ in range(4):
        problem = random_problem(rng, kind)
        expected = brute_force(problem)
        result = solve(problem, "cpsat", time_limit=30)
        if expected is None:
            assert result.status == "infeasible"
            continue
        assert result.status == "optimal"
        assert round(result.objective * 1000) == evaluate(problem, result.solution).iteration == expected
        assert result.bound == result.objective


def test_dps_are_exact_for_their_own_objectives():
    rng = random.Random(3)
    for _ in range(6):
        problem = random_problem(rng, "chain")
        m, S, n = problem.microbatches, problem.virtual_count, problem.head_start
        costs = stage_costs(problem)
        times = costs.times
        splits = [[0, *cuts, n] for cuts in itertools.combinations(range(1, n), S - 1)]

        def stage_times(bounds, times=times, S=S):
            return [times[s][bounds[s], bounds[s + 1]] for s in range(S)]

        assert _dp(problem, costs, np.inf, "max")[0] == min(max(stage_times(b)) for b in splits)
        formula = min(sum(stage_times(b)) + (m - 1) * max(stage_times(b)) for b in splits)
        placement = alpa(problem)
        chosen = stage_times([*placement.boundaries, n])
        assert sum(chosen) + (m - 1) * max(chosen) == formula
        slowest = max(stage_times([*pipedream(problem).boundaries, n]))  # PipeDream: the slowest stage, minimal
        assert slowest == min(max(stage_times(b)) for b in splits)


@pytest.mark.parametrize("layers, stages, microbatches", [(6, 3, 6), (8, 4, 8), (9, 3, 6), (4, 2, 8)])
def test_planner_matches_the_dps_where_they_are_exact(layers, stages, microbatches):
    # equal layers that split evenly: equal stages, where sum + (m - 1) x max is the simulated time
    problem = PipelineProblem("chain", tuple(Layer(f"l{i}", "decoder", 1, 2, 1e6, 1e6) for i in range(layers)),
                              stages, microbatches)
    result = solve(problem, "cpsat", time_limit=30)
    stage = 3 * layers // stages
    formula = stages * stage + (microbatches - 1) * stage
    assert result.status == "optimal"
    assert result.objective == formula == evaluate(problem, alpa(problem)).iteration_ms
    assert result.objective == evaluate(problem, pipedream(problem)).iteration_ms


def test_planner_beats_alpa_where_the_formula_is_wrong():
    # 7 equal layers on 3 stages: the formula prefers the bottleneck last ([2, 2, 3]: 66 ms simulated);
    # a heavier first stage overlaps its warm-up and really takes 60 ms
    problem = PipelineProblem("chain", tuple(Layer(f"l{i}", "decoder", 1, 2, 1e6, 1e6) for i in range(7)), 3, 6)
    result = solve(problem, "cpsat", time_limit=30)
    assert result.status == "optimal" and result.objective == 60.0
    assert result.solution.counts(problem) == [3, 2, 2]
    assert evaluate(problem, alpa(problem)).iteration_ms == 66.0


def test_recompute_per_stage_when_memory_binds():
    # six equal layers on 2 devices, 4 microbatches: stage 0 holds 2 in flight, stage 1 holds 1.
    # The cap forces recomputation: the DPs that choose it per stage reach the optimum, Megatron's
    # block recompute (one count for every stage) and DeepSpeed's split do not.
    layers = tuple(Layer(f"l{i}", "decoder", 1, 2, 0, 1e9, 0, Recompute(0, 1)) for i in range(6))
    problem = PipelineProblem("tight", layers, 2, 4, memory_gb=(5.0, 5.0))
    result = solve(problem, "cpsat", time_limit=30)
    assert result.status == "optimal" and result.objective == 48.0
    times = {name: entry["iteration_ms"] for name, entry in result.metrics["baselines"].items() if entry["fits"]}
    assert times["pipedream"] == times["alpa"] == 48.0
    assert times["megatron-uniform"] == 50.0 and times["deepspeed-parameters"] == 68.0
    assert result.metrics["speedup_vs_best_baseline"] == 1.0


def test_planner_gives_a_faster_device_more_layers():
    layers = tuple(Layer(f"l{i}", "decoder", 1, 2, 1e6, 1e6) for i in range(9))
    problem = PipelineProblem("speeds", layers, 3, 6, speed=(2.0, 1.0, 1.0))
    result = solve(problem, "cpsat", time_limit=30)
    times = {name: entry["iteration_ms"] for name, entry in result.metrics["baselines"].items()}
    assert result.status == "optimal"
    assert result.objective < times["megatron-uniform"] and result.objective < times["deepspeed-parameters"]
    assert result.objective <= min(times.values())
    assert result.solution.counts(problem)[0] > 3


def test_planner_uses_shards_on_a_heavy_output_layer():
    layers = (*(Layer(f"l{i}", "decoder", 1, 2, 1e6, 1e6) for i in range(4)),
              Layer("output", "output", 4, 8, 1e6, 1e6, shards=4))
    problem = PipelineProblem("vocab", layers, 4, 8)
    result = solve(problem, "cpsat", time_limit=30)
    uniform = result.metrics["baselines"]["megatron-uniform"]["iteration_ms"]
    assert sum(1 for d in result.solution.shards[0] if d) > 1
    assert result.objective < uniform


def test_a_cap_no_placement_meets_is_infeasible_with_the_reason():
    layers = (Layer("l0", "decoder", 1, 2, 1e6, 1e6), Layer("output", "output", 1, 2, 1.3e9, 1e6))
    problem = PipelineProblem("big", layers, 2, 2, memory_gb=(20.0, 20.0))
    result = solve(problem, "cpsat", time_limit=10)
    assert result.status == "infeasible"
    assert result.metrics["reason"] == "layer output alone needs 23.4 GB, the cap is 20 GB: allow shards or recompute"


def write(tmp_path, problem, name="p.json"):
    path = tmp_path / name
    path.write_text(json.dumps(pipeline_to_json(problem)))
    return str(path)


def test_cli_profile_then_solve_prints_the_plan_and_megatron_flags(tmp_path):
    runner = CliRunner()
    problem_file = str(tmp_path / "gpt2.json")
    done = runner.invoke(main, ["pipeline-profile", "gpt2-small", "-p", "4", "-m", "8", "-o", problem_file])
    assert done.exit_code == 0, done.output
    placement_file = str(tmp_path / "plan.json")
    done = runner.invoke(main, ["solve", problem_file, "-t", "20", "-q", "--emit", "megatron", "-o", placement_file])
    assert done.exit_code == 0, done.output
    report = done.stderr.splitlines()  # with --emit, stdout holds the flags alone
    assert report[0].split()[:4] == ["stage", "device", "layers", "recomp"]
    summary = next(line for line in report if line.startswith("instance="))
    assert "status=optimal" in summary and "speedup_vs_best_baseline=" in summary and "best_baseline=" in summary
    assert any(line.startswith("baselines: megatron-uniform=") for line in report)
    flags = done.stdout.splitlines()
    assert flags[0] == "--pipeline-model-parallel-size 4" and all(line.startswith(("--", "#")) for line in flags)
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["kind"] == "pipeline-placement" and len(plan["stages"]) == 4
    both = runner.invoke(main, ["solve", problem_file, "-q", "--emit", "json", "--json"])
    assert both.exit_code == 2 and both.output == (
        "error: --json and --emit json both print a document to stdout: choose one (-o FILE writes the plan)\n")


def test_cli_json_output_parses(tmp_path):
    layers = tuple(Layer(f"l{i}", "decoder", 1, 2, 1e6, 1e6) for i in range(4))
    path = write(tmp_path, PipelineProblem("small", layers, 2, 4))
    done = CliRunner().invoke(main, ["solve", path, "-t", "10", "-q", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["status"] == "optimal" and summary["placement"]["boundaries"] == [0, 2]


def test_cli_infeasible_cap_exits_1_with_the_reason(tmp_path):
    """No placement fits: no solution (exit code 1, as every family), and the reason on stderr."""
    layers = (Layer("l0", "decoder", 1, 2, 1e6, 1e6), Layer("output", "output", 1, 2, 1.3e9, 1e6))
    path = write(tmp_path, PipelineProblem("big", layers, 2, 2, memory_gb=(20.0, 20.0)))
    done = CliRunner().invoke(main, ["solve", path, "-t", "10", "-q"])
    assert done.exit_code == 1
    assert ("error: big: no placement fits: layer output alone needs 23.4 GB, the cap is 20 GB: allow shards or "
            "recompute") in done.output


def test_cli_bad_pipeline_file_is_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"kind": "pipeline", "pipeline": {"stages": 2, "microbatches": 2},
                                "layers": [{"forward_ms": 1, "backward_ms": 1, "params": -5, "activation_bytes": 1}]}))
    done = CliRunner().invoke(main, ["solve", str(path), "-q"])
    assert done.exit_code == 2
    assert done.output.strip() == f"error: {path}: layers[0].params is -5, it must not be below 0"


def test_one_stage_with_shards_runs_everything_in_turn():
    layers = (Layer("a", "decoder", 1, 2, 1e6, 1e6), Layer("out", "output", 3, 6, 1e6, 1e6, shards=2))
    result = solve(PipelineProblem("one", layers, 1, 4), "cpsat", time_limit=10)
    assert result.status == "optimal" and result.objective == 4 * (1 + 2 + 3 + 6)


def test_a_timeline_too_long_to_simulate_is_refused_at_construction():
    layers = tuple(Layer(f"l{i}", "decoder", 1, 2, 1e6, 1e6) for i in range(8))
    with pytest.raises(InputError) as error:
        PipelineProblem("long", layers, 8, 250_001)
    assert str(error.value) == ("long: pipeline.microbatches 250001 makes a timeline of 4,000,016 operations, "
                                "more than "
                                "the 4,000,000 cpsched simulates: plan for fewer microbatches")
    PipelineProblem("long", layers, 8, 250_000)  # at the cap: taken


def test_a_spent_deadline_cuts_the_megatron_sweep_to_the_even_split_and_says_so():
    """The sweep tries the split nearest to even first and stops at its deadline; the baselines line
    marks it cut, so a speedup against it is not taken for one against the full sweep."""
    layers = tuple(Layer(f"l{i}", "decoder", 1 + i % 3, 2, 1e6, 1e6) for i in range(12))
    problem = PipelineProblem("sweep", layers, 4, 8)
    cut = megatron_override(problem, deadline=time.monotonic() - 1)
    assert cut == Placement.from_counts(problem, [3, 3, 3, 3])
    full = megatron_override(problem)
    assert evaluate(problem, full).iteration <= evaluate(problem, cut).iteration
    result = solve(problem, "megatron-override", time_limit=1e-6)
    assert result.metrics["baselines"]["megatron-override"]["cut"] is True
    assert result.metrics["baselines"]["alpa"]["cut"] is False
    assert "megatron-override=" in baseline_line(result) and "(cut)" in baseline_line(result)
    assert "(cut)" not in baseline_line(solve(problem, "megatron-override", time_limit=60))


def test_the_simulator_walks_a_long_pipeline_exactly():
    """1F1B on equal stages of f + b: (m + p - 1)(f + b), also at a hundred thousand microbatches (the
    compiled timeline), and the critical path through it has that length."""
    layers = tuple(Layer(f"l{i}", "decoder", 1, 2, 1e6, 1e6) for i in range(4))
    problem = PipelineProblem("long", layers, 4, 100_000, p2p_gbps=1e9)
    placement = Placement.from_counts(problem, [1, 1, 1, 1])
    result = evaluate(problem, placement)
    assert result.iteration == (100_000 + 3) * 3000  # microseconds
    path = critical_path(problem, result)
    assert sum(count * (1000 if key[0] == "F" else 2000) for key, count in path.items() if key[0] in "FB") \
        == result.iteration
