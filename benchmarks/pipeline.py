"""Benchmark: pipeline-stage placement. In one run, for each model, p in {4, 8, 16} and m in {p, 4p}
(Llama-3.1-405B, the 128-layer case, at p = 16 only),
under a memory cap that binds: the simulated iteration time of every baseline and of the CP-SAT plan,
their ratios, the solve time and whether the plan is proved optimal. Then the setting of the
vocabulary-parallelism paper (Yeung et al., MLSys'25: hidden 3072, 32 layers, sequence 2048,
vocabulary 256k, p = 8, m = 128): the uniform split, the best first/last override and our plan with
the output layer in 8 shards, as MFU, to compare with the paper's 17.3% / 38.2% / 51.7%. Last,
shards never lose: large-vocabulary models at 80 GB solved without shards and with the output layer
in p shards (synchronised vocabulary passes), against the best baseline.

The cap: 85% of the peak device memory of Megatron's uniform split without recomputation (at most
the GPU's memory), so the uniform split does not fit as it is and every plan must rebalance or
recompute.

    python -m benchmarks.pipeline --out results/pipeline.jsonl

`--master-ablation` instead times the planner with the shipped master parameters against the
previous ones (probing on), alternating on each case, and prints the median seconds and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from cpsched.instances.pipeline.problem import GB, KIB, PipelineProblem
from cpsched.instances.pipeline.profiles import GPUS, ModelShape, ProfileOptions, mfu, model_shape, profile_problem
from cpsched.instances.pipeline.schedule import evaluate
from cpsched.solvers import solve
from cpsched.solvers.pipeline.baselines import BASELINES, megatron_uniform
from cpsched.solvers.pipeline.planner import MASTER_PARAMETERS, solve_cpsat

MODELS = {"llama3-8b": 1, "qwen2.5-14b": 2, "gpt2-xl": 1, "llama2-70b": 8,  # model -> tensor parallelism
          "llama3.1-405b": 8}
ONLY_STAGES = {"llama3.1-405b": {16}}  # 128 layers (126 + embedding + head); at p <= 8 nothing fits 80 GB
VOCABULARY_PAPER = ModelShape("vp-4b", 32, 3072, 12288, 24, 24, 256000, gated=False)


def binding_cap(shape: ModelShape, options: ProfileOptions) -> float:
    """85% of the uniform split's peak memory without recompute, at most the GPU's memory."""
    problem = profile_problem(shape, replace(options, memory_gb=10_000.0))
    uniform = evaluate(problem, megatron_uniform(problem))
    return min(GPUS[options.gpu][1], round(0.85 * max(uniform.peak_kib) * KIB / GB, 1))


def run_case(problem, time_limit: float) -> dict:
    started = time.perf_counter()
    result = solve(problem, "cpsat", time_limit=time_limit, workers=2)
    seconds = time.perf_counter() - started
    row = {"problem": problem.name, "layers": problem.n_layers, "stages": problem.stages,
           "microbatches": problem.microbatches, "cap_gb": problem.memory_gb[0],
           "vocab": problem.model.get("vocab"), "status": result.status, "cpsat_ms": result.objective,
           "bound_ms": result.bound, "seconds": round(seconds, 2),
           "recomputed": sum(result.solution.recompute) if result.solution else None}
    for name, entry in result.metrics["baselines"].items():
        row[name] = None if entry is None or not entry["fits"] else entry["iteration_ms"]
    fitting = [row[name] for name in BASELINES if row[name] is not None]
    row["best_baseline_ms"] = min(fitting) if fitting else None
    return row


def sweep_table(rows: list[dict]) -> str:
    names = list(BASELINES)
    lines = ["| model | p | m | cap GB | " + " | ".join(names) + " | CP-SAT | status | s | uniform / ours | "
             "best baseline / ours |", "|" + "---|" * (len(names) + 9)]
    for r in rows:
        cells = ["OOM" if r[n] is None else f"{r[n]:.0f}" for n in names]
        ours = r["cpsat_ms"]
        uniform = "-" if r["megatron-uniform"] is None or not ours else f"{r['megatron-uniform'] / ours:.3f}"
        best = "-" if r["best_baseline_ms"] is None or not ours else f"{r['best_baseline_ms'] / ours:.3f}"
        lines.append(f"| {r['model']} | {r['stages']} | {r['microbatches']} | {r['cap_gb']:g} | " + " | ".join(cells)
                     + f" | {'-' if ours is None else f'{ours:.0f}'} | {r['status']} | {r['seconds']:.1f} | "
                     f"{uniform} | {best} |")
    return "\n".join(lines)


def vocabulary_paper(time_limit: float) -> list[dict]:
    """Uniform, best override and our plan with shards (and without) in the paper's setting."""
    options = ProfileOptions(seq=2048, micro_batch=1, tp=1, gpu="a100", stages=8, microbatches=128)
    rows = []
    for shards in (1, 8):
        problem = profile_problem(VOCABULARY_PAPER, replace(options, vocab_shards=shards))
        started = time.perf_counter()
        result = solve(problem, "cpsat", time_limit=time_limit, workers=2)
        seconds = time.perf_counter() - started
        if shards == 1:
            for name in ("megatron-uniform", "megatron-override"):
                entry = result.metrics["baselines"][name]
                rows.append({"plan": name, "iteration_ms": entry["iteration_ms"],
                             "mfu": mfu(problem, entry["iteration_ms"]), "status": "-", "seconds": None})
        rows.append({"plan": f"cpsched ({'output in 8 shards' if shards > 1 else 'no shards'})",
                     "iteration_ms": result.objective, "mfu": mfu(problem, result.objective),
                     "status": result.status, "seconds": round(seconds, 2)})
    return rows


SHARD_CASES = [("llama3-70b", 16, 2), ("llama3-8b", 8, 1), ("qwen2.5-7b", 8, 1), ("llama3-8b", 16, 1)]


def shard_cases(time_limit: float) -> list[dict]:
    """Each case without shards and with the output layer in p shards: the plan with shards allowed
    must be at most the plan without them and at most the best baseline."""
    rows = []
    for model, p, tp in SHARD_CASES:
        row = {"model": model, "stages": p, "tp": tp}
        for shards in (1, p):
            problem = profile_problem(model_shape(model), ProfileOptions(tp=tp, stages=p, vocab_shards=shards))
            started = time.perf_counter()
            result = solve(problem, "cpsat", time_limit=time_limit, workers=2)
            key = "sharded" if shards > 1 else "plain"
            fitting = [e["iteration_ms"] for e in result.metrics["baselines"].values() if e and e["fits"]]
            spread = sum(1 for d in result.solution.shards[0] if d) if shards > 1 else 0
            row.update({f"{key}_ms": result.objective, f"{key}_status": result.status,
                        f"{key}_best_baseline_ms": min(fitting),
                        f"{key}_seconds": round(time.perf_counter() - started, 2),
                        f"{key}_devices_with_shards": spread, "microbatches": problem.microbatches})
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def master_ablation(cases: list[tuple[str, PipelineProblem]], runs: int, time_limit: float) -> None:
    """Median solve seconds with the shipped master parameters and with probing on, alternating."""
    variants = {"shipped": MASTER_PARAMETERS, "probing on": {**MASTER_PARAMETERS, "cp_model_probing_level": 2}}
    print("| case | " + " | ".join(f"{name} s" for name in variants) + " | shipped / probing on |")
    print("|---|" + "---|" * (len(variants) + 1))
    for label, problem in cases:
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(runs):
            for name, parameters in variants.items():
                started = time.perf_counter()
                result = solve_cpsat(problem, time_limit=time_limit, workers=2, master_parameters=parameters)
                seconds[name].append(time.perf_counter() - started)
                assert result.status == "optimal", f"{label}: {name} ended {result.status}"
        medians = {name: statistics.median(values) for name, values in seconds.items()}
        print(f"| {label} | " + " | ".join(f"{medians[n]:.2f}" for n in variants)
              + f" | {medians['shipped'] / medians['probing on']:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--stages", default="4,8,16")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--out", default="results/pipeline.jsonl")
    parser.add_argument("--master-ablation", action="store_true",
                        help="time the master's parameters against probing on, instead of the sweep")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant in --master-ablation")
    args = parser.parse_args()
    cases = []
    for model in args.models.split(","):
        shape = model_shape(model)
        for p in map(int, args.stages.split(",")):
            if p not in ONLY_STAGES.get(model, {p}):
                continue
            for m in (p, 4 * p):
                options = ProfileOptions(tp=MODELS.get(model, 1), stages=p, microbatches=m)
                options = replace(options, memory_gb=binding_cap(shape, options))
                cases.append((model, shape, profile_problem(shape, options)))
    if args.master_ablation:
        master_ablation([(f"{model} p{problem.stages} m{problem.microbatches}", problem)
                         for model, _, problem in cases], args.runs, args.time_limit)
        return
    rows = []
    for model, shape, problem in cases:
        row = {"model": model, **run_case(problem, args.time_limit)}
        row["vocab"] = shape.vocab
        rows.append(row)
        print(json.dumps(row), flush=True)
    paper = vocabulary_paper(args.time_limit)
    sharded = shard_cases(args.time_limit)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
        for row in paper:
            out.write(json.dumps({"vocabulary_paper": row}) + "\n")
        for row in sharded:
            out.write(json.dumps({"shards": row}) + "\n")
    print(sweep_table(rows))
    print()
    print("| plan | iteration ms | MFU | status | s |\n|---|---|---|---|---|")
    for row in paper:
        print(f"| {row['plan']} | {row['iteration_ms']:.0f} | {100 * row['mfu']:.1f}% | {row['status']} | "
              f"{'-' if row['seconds'] is None else row['seconds']} |")
    print()
    print("| model | p | m | tp | no shards ms | status | best baseline | p shards ms | status | best baseline | "
          "devices with shards | s |\n|" + "---|" * 12)
    for r in sharded:
        print(f"| {r['model']} | {r['stages']} | {r['microbatches']} | {r['tp']} | {r['plain_ms']:.1f} | "
              f"{r['plain_status']} | {r['plain_best_baseline_ms']:.1f} | {r['sharded_ms']:.1f} | "
              f"{r['sharded_status']} | {r['sharded_best_baseline_ms']:.1f} | {r['sharded_devices_with_shards']} | "
              f"{r['sharded_seconds']} |")
    lost = [r for r in sharded if r["sharded_ms"] > min(r["plain_ms"], r["sharded_best_baseline_ms"]) + 1e-9]
    print(f"\nshards slower than the plan without them or than the best baseline: {len(lost)} of {len(sharded)}")
    slower = [r for r in rows if r["best_baseline_ms"] and r["cpsat_ms"] and r["cpsat_ms"] > r["best_baseline_ms"]]
    big_vocab = [r for r in rows if r["vocab"] >= 128_000 and r["megatron-uniform"] and r["cpsat_ms"]]
    print(f"\nslower than the best baseline: {len(slower)} of {len(rows)}")
    if big_vocab:
        worst = min(r["megatron-uniform"] / r["cpsat_ms"] for r in big_vocab)
        print(f"vocabulary >= 128k: uniform / ours at least {worst:.3f} over {len(big_vocab)} cases")
    proved = [r for r in rows if r["status"] == "optimal" and r["seconds"] <= 10]
    print(f"proved optimal within 10 s: {len(proved)} of {len(rows)}")


if __name__ == "__main__":
    main()
