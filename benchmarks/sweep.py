"""What the job shop benchmark commands share: instance groups, a resumable JSON-lines results
file, and the table of mean gaps to the best known upper bound with ratios to a baseline."""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ortools

from cpsched.instances import best_known, load
from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import JobShop
from cpsched.solvers.bench.datasets import expand
from cpsched.solvers.provenance import source_commit
from cpsched.solvers.result import Result

Cell = tuple[str, str]  # (instance, variant)


def bundled_upper_bound(name: str) -> int | None:
    known = best_known(name)
    return None if known is None else known.upper_bound


def run_cells(
    cells: list[Cell],
    solve_cell: Callable[[JobShop, str], Result],
    out: Path,
    context: dict,
    load_problem: Callable[[str], JobShop] = load,
    upper_bound: Callable[[str], int | None] = bundled_upper_bound,
) -> dict[Cell, dict]:
    """Run every cell not yet in `out` (same instance, variant and context), appending each result
    as one JSON line the moment it finishes. Returns every cell's record. Instances come from
    `load_problem` (bundled names by default); `upper_bound` gives the best known makespan or None."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done: dict[Cell, dict] = {}
    if out.exists():
        for line in out.read_text().splitlines():
            record = json.loads(line) if line.strip() else None
            if record and all(record.get(k) == v for k, v in context.items()):
                done[(record["instance"], record["method"])] = record
    started = time.monotonic()
    commit = source_commit()
    for index, (name, variant) in enumerate(cells, start=1):
        if (name, variant) in done:
            continue
        try:
            result = solve_cell(load_problem(name), variant)
        except InputError as refused:  # e.g. a whole model too big for this machine's memory
            result = Result("refused", None, None, None, variant, 0.0, metrics={"error": str(refused)})
        record = {"instance": name, "method": variant, **context, "makespan": result.objective,
                  "bound": result.bound, "status": result.status,
                  "best_known": upper_bound(name), "wall_time": round(result.wall_time, 2),
                  "commit": commit}
        with out.open("a") as stream:
            stream.write(json.dumps(record) + "\n")
        done[(name, variant)] = record
        if result.objective is None:
            gap = "no schedule"
        else:
            gap = "no best known" if record["best_known"] is None else f"{_gap(record):.2f}%"
        print(f"[{index}/{len(cells)}] {name} {variant}: {result.objective} ({gap}) {result.status} "
              f"{time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return done


def _gap(record: dict, reference: float | None = None) -> float:
    return 100 * (record["makespan"] / (reference or record["best_known"]) - 1)


def reference_makespans(done: dict[Cell, dict]) -> dict[str, float]:
    """Per instance: the best known upper bound, or without one the best makespan any variant found."""
    references: dict[str, float] = {}
    for (name, _), record in done.items():
        if record["best_known"] is not None:
            references[name] = record["best_known"]
        elif record["makespan"] is not None:
            references[name] = min(references.get(name, record["makespan"]), record["makespan"])
    return references


def gap_table(groups: dict[str, list[str]], variants: list[str], done: dict[Cell, dict]) -> str:
    """Markdown: mean gap to the best known upper bound (or, without one, to the best makespan any
    variant found) per group and variant, and each variant's ratio to the first one (the baseline).
    Means are over the instances of the group that every variant has run (the last column says how
    many); a variant without a schedule on one of them gets '-'."""
    baseline, others = variants[0], variants[1:]
    references = reference_makespans(done)
    lines = [
        "| group | " + " | ".join(variants) + " | " + " | ".join(f"{v} / {baseline}" for v in others)
        + " | instances |",
        "|" + "---|" * (2 + len(variants) + len(others)),
    ]
    for group, names in groups.items():
        ran = [n for n in names if all((n, v) in done for v in variants)]
        means: dict[str, float | None] = {}
        for v in variants:
            records = [done[(n, v)] for n in ran]
            complete = bool(records) and all(r["makespan"] is not None for r in records)
            means[v] = statistics.mean(_gap(r, references[r["instance"]]) for r in records) if complete else None
        shown = [f"{means[v]:.2f}%" if means[v] is not None else "-" for v in variants]
        ratios = [f"{means[v] / means[baseline]:.2f}" if means[v] is not None and means[baseline] else "-"
                  for v in others]
        lines.append(f"| {group} | " + " | ".join(shown) + " | " + " | ".join(ratios) + f" | {len(ran)}/{len(names)} |")
    return "\n".join(lines)


def sweep(
    title: str,
    groups_text: str,
    variants: list[str],
    solve_cell: Callable[[JobShop, str], Result],
    *,
    time_limit: float,
    workers: int,
    seed: int,
    out: str,
    load_problem: Callable[[str], JobShop] = load,
    upper_bound: Callable[[str], int | None] = bundled_upper_bound,
    report_only: bool = False,
) -> dict[Cell, dict]:
    """Run every (instance, variant) cell of the groups (resuming from `out`), print the table and
    return the records. `report_only` runs nothing: the table of what `out` holds."""
    groups = {group: expand(group) for group in groups_text.split(",")}
    context = {"time_limit": time_limit, "workers": workers, "seed": seed,
               "ortools": ortools.__version__, "machine": platform.machine()}
    cells = [(name, variant) for names in groups.values() for name in names for variant in variants]
    done = run_cells([] if report_only else cells, solve_cell, Path(out), context, load_problem, upper_bound)
    print(f"{title}: mean gap to the best known upper bound (or the best makespan found), {time_limit:g} s, "
          f"{workers} workers, seed {seed} (OR-Tools {ortools.__version__})\n")
    print(gap_table(groups, variants, done))
    return done
