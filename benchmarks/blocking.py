"""Benchmark: blocking job shops with swaps. CP-SAT (our model, `cpsched solve NAME --blocking`) at a
time limit per instance on la01-40 and ta01-30, against the published results of IBM CP Optimizer
on the same model at 1800 s with 4 workers (ScheduleOpt/optalcp-benchmarks; the numbers and their
source are in benchmarks/data/blocking_cpo_1800s.json). Each finished instance is appended to the
output at once; rerunning the command skips what is there.

    python -m benchmarks.blocking --time-limit 60 --out results/blocking_60s.jsonl
    python -m benchmarks.blocking --instances la01-20 --out results/blocking_60s.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from instances import load
from instances.jobshop_variant import JobShopVariant
from solvers import solve

REFERENCE = Path(__file__).parent / "data" / "blocking_cpo_1800s.json"


def names(spec: str) -> list[str]:
    """'la01-40,ta01-30' as instance names."""
    found = []
    for part in spec.split(","):
        prefix = part.rstrip("0123456789-").strip()
        first, _, last = part[len(prefix):].partition("-")
        found += [f"{prefix}{i:02d}" for i in range(int(first), int(last or first) + 1)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="la01-40,ta01-30")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--out", default="results/blocking_60s.jsonl")
    args = parser.parse_args()
    reference = json.loads(REFERENCE.read_text())["instances"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["instance"]: json.loads(line) for line in out.read_text().splitlines()} \
        if out.exists() else {}
    for name in names(args.instances):
        if name in done:
            continue
        result = solve(JobShopVariant(load(name), blocking=True, swaps=True), "cpsat", time_limit=args.time_limit,
                       workers=2, seed=0)
        cpo = reference[name]
        row = {"instance": name, "makespan": result.objective, "bound": result.bound, "status": result.status,
               "seconds": round(result.wall_time, 1), "cpo_1800s": cpo["makespan"],
               "cpo_lower_bound": cpo["lower_bound"], "cpo_optimal": cpo["proved_optimal"],
               "vs_cpo": result.objective / cpo["makespan"] - 1}
        done[name] = row
        with out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    rows = [done[name] for name in names(args.instances) if name in done]
    print("| instance | CP-SAT | bound | status | s | CP Optimizer 1800 s | vs CPO |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['instance']} | {r['makespan']} | {r['bound']} | {r['status']} | {r['seconds']} | {r['cpo_1800s']}"
              f"{' (opt)' if r['cpo_optimal'] else ''} | {100 * r['vs_cpo']:+.1f}% |")
    for group in ("la", "ta"):
        part = [r for r in rows if r["instance"].startswith(group)]
        if part:
            mean = 100 * statistics.mean(r["vs_cpo"] for r in part)
            better = sum(r["vs_cpo"] < 0 for r in part)
            equal = sum(r["vs_cpo"] == 0 for r in part)
            optimal = sum(r["status"] == "optimal" for r in part)
            print(f"{group}: {len(part)} instances, mean vs CPO {mean:+.2f}%, better {better}, equal {equal}, "
                  f"proved optimal {optimal}")


if __name__ == "__main__":
    main()
