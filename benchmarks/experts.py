"""Benchmark: MoE expert placement. On generated DeepSeek-V3-like workloads (256 experts, top-8; 32
and 64 GPUs, without and with redundant slots) and Mixtral-like ones (8 experts, top-2; 4 and 8
GPUs), several seeds, in two scenarios: co-activation given (the planner cuts inter-node tokens) and
a current (contiguous) placement given (the planner cuts migrated bytes). Per-GPU imbalance (busiest
GPU / mean - 1, mean over layers) on the planning window and on the next, inter-node tokens,
migrated GB and seconds per layer, for every baseline and the CP-SAT plan, in one run.

    python -m benchmarks.experts --out results/experts.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from cpsched.instances.experts.problem import evaluate, synthetic
from cpsched.solvers import solve
from cpsched.solvers.experts.baselines import eplb

CONFIGS = [  # shape, nodes, gpus per node, redundant slots
    ("deepseek-v3", 4, 8, 0), ("deepseek-v3", 4, 8, 32), ("deepseek-v3", 8, 8, 0), ("deepseek-v3", 8, 8, 64),
    ("mixtral", 1, 4, 0), ("mixtral", 2, 4, 8),
]


SCENARIOS = ("coactivation", "current")  # what the planner is given besides the loads


def run(shape: str, nodes: int, per_node: int, redundant: int, seed: int, layers: int, per_layer: float,
        scenario: str) -> dict:
    problem = synthetic(shape, nodes=nodes, gpus_per_node=per_node, redundant=redundant, layers=layers, seed=seed,
                        current="contiguous")
    problem = replace(problem, **{"current" if scenario == "coactivation" else "coactivation": None})
    started = time.perf_counter()
    result = solve(problem, "cpsat", time_limit=per_layer * problem.layers, workers=2)
    seconds = time.perf_counter() - started
    ours = evaluate(problem, result.solution)
    theirs = evaluate(problem, eplb(problem))
    following = (result.metrics["next_window"]["imbalance"],  # the plan's and EPLB's, as the solve reported them
                 result.metrics["baselines"]["eplb"]["next_window"]["imbalance"])
    row = {"problem": problem.name, "scenario": scenario, "shape": shape, "gpus": problem.gpus,
           "redundant": redundant, "seed": seed,
           "layers": problem.layers, "seconds_per_layer": round(seconds / problem.layers, 2),
           "layers_optimal": result.metrics.get("layers_optimal"),
           "worse_than_eplb_layers": int((ours.gpu_max > theirs.gpu_max + 1e-9).sum()),
           "imbalance_at_most_eplb": bool(ours.gpu_imbalance.mean() <= theirs.gpu_imbalance.mean() + 1e-9),
           "next_window_at_most_eplb": bool(following[0] <= following[1] + 1e-9),
           "cpsat": {**result.metrics, "baselines": None}}
    row["cpsat"].pop("baselines")
    row["baselines"] = result.metrics["baselines"]
    return row


def table(rows: list[dict]) -> str:
    lines = ["| scenario | workload | GPUs | redundant | seed | method | imbalance | next window | "
             "inter-node tokens | moved GB | s / layer |", "|" + "---|" * 11]
    for r in rows:
        entries = [("cpsat", r["cpsat"]), *r["baselines"].items()]
        for name, e in entries:
            following = e.get("next_window", {}).get("imbalance", np.nan)
            seconds = r["seconds_per_layer"] if name == "cpsat" else ""
            lines.append(f"| {r['scenario']} | {r['shape']} | {r['gpus']} | {r['redundant']} | {r['seed']} | {name} | "
                         f"{e['imbalance']:.3f} | {following:.3f} | {e['internode_tokens']} | "
                         f"{e['migrated_bytes'] / 1e9:.1f} | {seconds} |")
    return "\n".join(lines)


def summary_table(rows: list[dict]) -> str:
    """One line per run: the plan against EPLB on what its scenario is about."""
    lines = ["| scenario | workload | GPUs | redundant | seed | imbalance EPLB / ours | next window EPLB / ours | "
             "inter-node tokens EPLB / ours (cut) | moved GB EPLB / min-move / ours (ratio) | s / layer |",
             "|" + "---|" * 10]
    for r in rows:
        ours, theirs, fewest = r["cpsat"], r["baselines"]["eplb"], r["baselines"]["eplb-min-move"]
        tokens = moved = "-"
        if r["scenario"] == "coactivation" and theirs["internode_tokens"]:
            cut = 1 - ours["internode_tokens"] / theirs["internode_tokens"]
            tokens = f"{theirs['internode_tokens']} / {ours['internode_tokens']} ({100 * cut:.0f}%)"
        if r["scenario"] == "current":
            ratio = ours["migrated_bytes"] / max(theirs["migrated_bytes"], 1)
            moved = (f"{theirs['migrated_bytes'] / 1e9:.1f} / {fewest['migrated_bytes'] / 1e9:.1f} / "
                     f"{ours['migrated_bytes'] / 1e9:.1f} ({ratio:.2f})")
        lines.append(f"| {r['scenario']} | {r['shape']} | {r['gpus']} | {r['redundant']} | {r['seed']} | "
                     f"{theirs['imbalance']:.3f} / {ours['imbalance']:.3f} | "
                     f"{theirs['next_window']['imbalance']:.3f} / {ours['next_window']['imbalance']:.3f} | "
                     f"{tokens} | {moved} | "
                     f"{r['seconds_per_layer']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--layers", type=int, default=4, help="MoE layers per workload")
    parser.add_argument("--seconds-per-layer", type=float, default=5.0)
    parser.add_argument("--out", default="results/experts.jsonl")
    args = parser.parse_args()
    rows = []
    for scenario in SCENARIOS:
        for shape, nodes, per_node, redundant in CONFIGS:
            for seed in map(int, args.seeds.split(",")):
                row = run(shape, nodes, per_node, redundant, seed, args.layers, args.seconds_per_layer, scenario)
                rows.append(row)
                print(json.dumps({k: row[k] for k in ("scenario", "problem", "seconds_per_layer",
                                                      "worse_than_eplb_layers")}), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    print(table(rows))
    print()
    print(summary_table(rows))
    worse = sum(r["worse_than_eplb_layers"] for r in rows)
    print(f"\nlayers where the plan's busiest GPU is above EPLB's: {worse}")
    steady = sum(r["next_window_at_most_eplb"] for r in rows)
    print(f"next window: imbalance at most EPLB's in {steady} of {len(rows)} runs")
    fewer = [r for r in rows if r["scenario"] == "current"]
    print("current placement given: moved at most eplb-min-move's in "
          f"{sum(r['cpsat']['migrated_bytes'] <= r['baselines']['eplb-min-move']['migrated_bytes'] for r in fewer)} "
          f"of {len(fewer)} runs")
    crossing = [r for r in rows if r["scenario"] == "coactivation" and r["baselines"]["eplb"]["internode_tokens"]]
    cut = [1 - r["cpsat"]["internode_tokens"] / r["baselines"]["eplb"]["internode_tokens"] for r in crossing]
    print(f"co-activation given, more than one node: inter-node tokens below EPLB's in {len(cut)} runs: "
          f"min {100 * min(cut):.1f}%, mean {100 * np.mean(cut):.1f}%, at least 20% in "
          f"{sum(c >= 0.2 for c in cut)}")
    moving = [r for r in rows if r["scenario"] == "current"]
    moved = [r["cpsat"]["migrated_bytes"] / max(r["baselines"]["eplb"]["migrated_bytes"], 1) for r in moving]
    print(f"current placement given: migrated bytes / EPLB's in {len(moved)} runs: max {max(moved):.2f}, "
          f"mean {np.mean(moved):.2f}, at most half in {sum(m <= 0.5 for m in moved)}; imbalance at most "
          f"EPLB's in {sum(r['imbalance_at_most_eplb'] for r in moving)}")


if __name__ == "__main__":
    main()
