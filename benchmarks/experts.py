"""Benchmark: MoE expert placement. On generated DeepSeek-V3-like workloads (256 experts, top-8; 32
and 64 GPUs, without and with redundant slots) and Mixtral-like ones (8 experts, top-2; 4 and 8
GPUs), several seeds, each with co-activation and a current (contiguous) placement: per-GPU imbalance
(busiest GPU / mean - 1, mean over layers) on the planning window and on the next, inter-node tokens,
migrated GB and seconds per layer, for every baseline and the CP-SAT plan, in one run.

    python -m benchmarks.experts --out results/experts.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from instances.experts import evaluate, synthetic
from solvers import solve
from solvers.experts_baselines import eplb

CONFIGS = [  # shape, nodes, gpus per node, redundant slots
    ("deepseek-v3", 4, 8, 0), ("deepseek-v3", 4, 8, 32), ("deepseek-v3", 8, 8, 0), ("deepseek-v3", 8, 8, 64),
    ("mixtral", 1, 4, 0), ("mixtral", 2, 4, 8),
]


def run(shape: str, nodes: int, per_node: int, redundant: int, seed: int, layers: int, per_layer: float) -> dict:
    problem = synthetic(shape, nodes=nodes, gpus_per_node=per_node, redundant=redundant, layers=layers, seed=seed,
                        current="contiguous")
    started = time.perf_counter()
    result = solve(problem, "cpsat", time_limit=per_layer * problem.layers, workers=2)
    seconds = time.perf_counter() - started
    ours = evaluate(problem, result.solution)
    theirs = evaluate(problem, eplb(problem))
    row = {"problem": problem.name, "shape": shape, "gpus": problem.gpus, "redundant": redundant, "seed": seed,
           "layers": problem.layers, "seconds_per_layer": round(seconds / problem.layers, 2),
           "layers_optimal": result.metrics.get("layers_optimal"),
           "worse_than_eplb_layers": int((ours.gpu_max > theirs.gpu_max + 1e-9).sum()),
           "cpsat": {**result.metrics, "baselines": None}}
    row["cpsat"].pop("baselines")
    row["baselines"] = result.metrics["baselines"]
    return row


def table(rows: list[dict]) -> str:
    lines = ["| workload | GPUs | redundant | seed | method | imbalance | next window | inter-node tokens | "
             "moved GB | s / layer |", "|" + "---|" * 10]
    for r in rows:
        entries = [("cpsat", r["cpsat"]), *r["baselines"].items()]
        for name, e in entries:
            following = e.get("next_window", {}).get("imbalance", np.nan)
            seconds = r["seconds_per_layer"] if name == "cpsat" else ""
            lines.append(f"| {r['shape']} | {r['gpus']} | {r['redundant']} | {r['seed']} | {name} | "
                         f"{e['imbalance']:.3f} | {following:.3f} | {e['internode_tokens']} | "
                         f"{e['migrated_bytes'] / 1e9:.1f} | {seconds} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--layers", type=int, default=4, help="MoE layers per workload")
    parser.add_argument("--seconds-per-layer", type=float, default=5.0)
    parser.add_argument("--out", default="results/experts.jsonl")
    args = parser.parse_args()
    rows = []
    for shape, nodes, per_node, redundant in CONFIGS:
        for seed in map(int, args.seeds.split(",")):
            row = run(shape, nodes, per_node, redundant, seed, args.layers, args.seconds_per_layer)
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("problem", "seconds_per_layer", "worse_than_eplb_layers")}),
                  flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    print(table(rows))
    worse = sum(r["worse_than_eplb_layers"] for r in rows)
    print(f"\nlayers where the plan's busiest GPU is above EPLB's: {worse}")
    cut = [1 - r["cpsat"]["internode_tokens"] / max(r["baselines"]["eplb"]["internode_tokens"], 1) for r in rows]
    print(f"inter-node tokens below EPLB's: min {100 * min(cut):.1f}%, mean {100 * np.mean(cut):.1f}%")
    moved = [r["cpsat"]["migrated_bytes"] / max(r["baselines"]["eplb"]["migrated_bytes"], 1) for r in rows]
    print(f"migrated bytes / EPLB's: max {max(moved):.2f}, mean {np.mean(moved):.2f}")


if __name__ == "__main__":
    main()
