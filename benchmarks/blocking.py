"""Benchmark: blocking job shops with swaps. CP-SAT (our model, `cpsched solve NAME --blocking`) at a
time limit per instance on la01-40 and ta01-30, against the published results of IBM CP Optimizer
on the same model at 1800 s with 4 workers (ScheduleOpt/optalcp-benchmarks; the numbers and their
source are in benchmarks/data/blocking_cpo_1800s.json). Each finished instance is appended to the
output at once; rerunning the command skips what is there.

    python -m benchmarks.blocking --time-limit 60 --out results/blocking_60s.jsonl
    python -m benchmarks.blocking --instances la01-20 --out results/blocking_60s.jsonl

With --rules: every static rule and the learned rule (greedy; the shipped blocking weights or
--weights) on the blocking simulator, under random shutdowns of probability 0, 0.01 and 0.05 per
machine and time unit: one run at 0 and --scenarios seeded shutdown scenarios at each other
probability, every rule meeting the same shutdowns in a scenario. Each schedule is checked against
the shutdowns that happened; the tables give the mean makespan per rule.

    python -m benchmarks.blocking --rules --scenarios 10 --out results/blocking_rules.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from cpsched.instances import load
from cpsched.instances.jobshop.variant import JobShopVariant, evaluate_variant
from cpsched.learned_pdr.blocking_simulator import RandomShutdowns
from cpsched.learned_pdr.rules import RULES, dispatch_spec
from cpsched.solvers import solve

REFERENCE = Path(__file__).parent / "data" / "blocking_cpo_1800s.json"


def names(spec: str) -> list[str]:
    """'la01-40,ta01-30' as instance names."""
    found = []
    for part in spec.split(","):
        prefix = part.rstrip("0123456789-").strip()
        first, _, last = part[len(prefix):].partition("-")
        found += [f"{prefix}{i:02d}" for i in range(int(first), int(last or first) + 1)]
    return found


SHUTDOWN_PROBABILITIES = (0.0, 0.01, 0.05)
LEARNED = "pdr"


def read_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def run_rules(args: argparse.Namespace) -> None:
    """Every rule on every (instance, probability, scenario), appended to --out as it finishes."""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["instance"], r["probability"], r["scenario"]) for r in read_rows(out)}
    specs = [*RULES, LEARNED]
    for name in names(args.instances):
        problem = JobShopVariant(load(name))
        for probability in SHUTDOWN_PROBABILITIES:
            for scenario in range(args.scenarios if probability else 1):
                if (name, probability, scenario) in done:
                    continue
                row = {"instance": name, "probability": probability, "scenario": scenario, "makespan": {},
                       "ms": {}}
                for spec in specs:
                    shutdowns = RandomShutdowns.for_shop(problem.shop, probability, scenario) if probability else None
                    began = time.perf_counter()
                    schedule = dispatch_spec(problem, spec, seed=scenario, weights=args.weights if spec == LEARNED
                                             else None, shutdowns=shutdowns)
                    row["ms"][spec] = round(1000 * (time.perf_counter() - began), 1)
                    happened = shutdowns.applied_to(problem) if shutdowns else problem
                    verdict = evaluate_variant(happened, schedule)
                    if not verdict.feasible:
                        raise AssertionError(f"{spec} on {name}: {verdict.violations[:2]}")
                    row["makespan"][spec] = verdict.makespan
                with out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                best_static = min(row["makespan"][r] for r in RULES)
                print(f"{name} q={probability} scenario {scenario}: best static {best_static}, "
                      f"learned {row['makespan'][LEARNED]}", flush=True)
    report_rules(read_rows(out), names(args.instances), specs)


def report_rules(rows: list[dict], instances: list[str], specs: list[str]) -> None:
    """Mean makespan per rule, per instance group and probability (over instances and scenarios),
    and how often the learned rule beats the best static rule on an instance's mean."""
    cpsat = {r["instance"]: r["makespan"] for r in read_rows(Path("results/blocking_60s.jsonl"))}
    for group in ("la", "ta"):
        part = [r for r in rows if r["instance"].startswith(group) and r["instance"] in instances]
        if not part:
            continue
        print(f"\n{group}: {len({r['instance'] for r in part})} instances; mean makespan (ratio to the best "
              "static rule of the group)\n")
        print("| rule | " + " | ".join(f"q = {q:g}" for q in SHUTDOWN_PROBABILITIES) + " |")
        print("|---|" + "---|" * len(SHUTDOWN_PROBABILITIES))
        means = {q: {spec: statistics.mean(r["makespan"][spec] for r in part if r["probability"] == q)
                     for spec in specs} for q in SHUTDOWN_PROBABILITIES}
        for spec in specs:
            cells = []
            for q in SHUTDOWN_PROBABILITIES:
                best = min(means[q][rule] for rule in RULES)
                cells.append(f"{means[q][spec]:.0f} ({means[q][spec] / best:.3f})")
            print(f"| {spec} | " + " | ".join(cells) + " |")
        with_cpsat = [r for r in part if r["probability"] == 0 and r["instance"] in cpsat]
        if with_cpsat:
            print(f"| CP-SAT 60 s, planned ({len(with_cpsat)} instances) | "
                  f"{statistics.mean(cpsat[r['instance']] for r in with_cpsat):.0f} | - | - |")
        for q in SHUTDOWN_PROBABILITIES:
            per_instance: dict[str, list[dict]] = {}
            for r in part:
                if r["probability"] == q:
                    per_instance.setdefault(r["instance"], []).append(r)
            wins = sum(statistics.mean(r["makespan"][LEARNED] for r in runs)
                       < min(statistics.mean(r["makespan"][rule] for r in runs) for rule in RULES)
                       for runs in per_instance.values())
            print(f"q = {q:g}: the learned rule's mean beats every static rule's on {wins} of "
                  f"{len(per_instance)} instances")
        learned_ms = statistics.median(r["ms"][LEARNED] for r in part)
        static_ms = statistics.median(r["ms"][rule] for r in part for rule in RULES)
        print(f"median time per schedule: static {static_ms:.1f} ms, learned {learned_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="la01-40,ta01-30")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--out", default=None, help="default results/blocking_60s.jsonl, or "
                                                    "results/blocking_rules.jsonl with --rules")
    parser.add_argument("--rules", action="store_true", help="compare the dispatching rules under shutdowns")
    parser.add_argument("--scenarios", type=int, default=10, help="with --rules: shutdown scenarios per probability")
    parser.add_argument("--weights", default=None, help="with --rules: the learned rule's weights (default shipped)")
    args = parser.parse_args()
    if args.rules:
        args.out = args.out or "results/blocking_rules.jsonl"
        run_rules(args)
        return
    args.out = args.out or "results/blocking_60s.jsonl"
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
