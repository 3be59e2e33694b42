"""`cpsched report`: what a sweep's database says, as markdown, CSV and plots.

Per time limit, per dataset (family) and size group, per method: the mean gap to the best known
upper bound, how many instances were proved optimal, how many matched (or beat) the best known, and
each method's mean gap over `cpsat-plain`'s. Means are over the instances (and seeds) that every
method of the table has finished, so a partial sweep still compares like with like; the
`instances` column says how many that is.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cpsched.solvers.bench.datasets import size_group
from cpsched.solvers.bench.store import CellRecord

BASELINE = "cpsat-plain"


@dataclass(frozen=True)
class SummaryRow:
    time_limit: float
    group: str  # "ta" (the whole family) or "ta 30x20"
    method: str
    instances: int  # (instance, seed) pairs in the mean
    of: int  # (instance, seed) pairs of the group that any method finished
    mean_gap: float | None  # percent; None when a method has no schedule on one of them
    optimal: int
    matched_best_known: int
    ratio_to_baseline: float | None


def gap(record: CellRecord) -> float | None:
    if record.makespan is None or not record.best_known:
        return None
    return 100 * (record.makespan / record.best_known - 1)


def summarize(records: list[CellRecord]) -> list[SummaryRow]:
    """One row per time limit, group and method (methods in the order first seen)."""
    rows: list[SummaryRow] = []
    methods = list(dict.fromkeys(r.method for r in records))
    for limit in sorted({r.time_limit for r in records}):
        cells = {(r.instance, r.seed, r.method): r for r in records if r.time_limit == limit}
        groups: dict[str, set] = defaultdict(set)
        for instance, seed, _ in cells:
            group = size_group(instance)
            groups[group.split()[0]].add((instance, seed))
            groups[group].add((instance, seed))
        present = [m for m in methods if any(key[2] == m for key in cells)]
        for group in sorted(groups, key=lambda g: (g.split()[0], len(g.split()) > 1, _size_key(g))):
            pairs = sorted(groups[group])
            common = [p for p in pairs if all((*p, m) in cells for m in present)]
            means: dict[str, float | None] = {}
            for method in present:
                gaps = [gap(cells[(*p, method)]) for p in common]
                means[method] = statistics.mean(gaps) if gaps and None not in gaps else None
            for method in present:
                chosen = [cells[(*p, method)] for p in common]
                base = means.get(BASELINE)
                ratio = means[method] / base if means[method] is not None and base else None
                rows.append(SummaryRow(
                    limit, group, method, len(common), len(pairs), means[method],
                    sum(r.status == "optimal" for r in chosen),
                    sum(r.makespan is not None and r.best_known is not None and r.makespan <= r.best_known
                        for r in chosen),
                    ratio))
    return rows


def _size_key(group: str) -> tuple[int, int]:
    parts = group.split()
    if len(parts) < 2:
        return (0, 0)
    jobs, machines = parts[1].split("x")
    return (int(jobs), int(machines))


def markdown(rows: list[SummaryRow]) -> str:
    """One table per time limit: per group, each method's mean gap (optimal / matched), then ratios."""
    out = ["# Benchmark report", "",
           "Mean gap to the best known upper bound; in brackets: instances proved optimal / matching the "
           "best known. Means cover the instances every method finished (`instances`).", ""]
    for limit in sorted({r.time_limit for r in rows}):
        at = [r for r in rows if r.time_limit == limit]
        methods = list(dict.fromkeys(r.method for r in at))
        others = [m for m in methods if m != BASELINE] if BASELINE in methods else []
        out += [f"## {limit:g} s", ""]
        head = ["group", *methods, *(f"{m} / {BASELINE}" for m in others), "instances"]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        by_group: dict[str, dict[str, SummaryRow]] = defaultdict(dict)
        for row in at:
            by_group[row.group][row.method] = row
        for group, cells in by_group.items():
            shown = [_gap_cell(cells[m]) if m in cells else "" for m in methods]
            ratios = [f"{cells[m].ratio_to_baseline:.2f}" if m in cells and cells[m].ratio_to_baseline is not None
                      else "-" for m in others]
            any_row = next(iter(cells.values()))
            out.append(f"| {group} | " + " | ".join(shown + ratios) + f" | {any_row.instances}/{any_row.of} |")
        out.append("")
    return "\n".join(out)


def _gap_cell(row: SummaryRow) -> str:
    if row.mean_gap is None:
        return "-"
    return f"{row.mean_gap:.2f}% ({row.optimal}/{row.matched_best_known})"


def write_csv(rows: list[SummaryRow], path: Path) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(asdict(rows[0]) if rows else SummaryRow.__annotations__))
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


def gap_over_time(records: list[CellRecord], limit: float,
                  points: int = 60) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per method at `limit`: times and the mean gap of the incumbent at each time, over the
    instances with a best known bound; NaN until every one of them has an incumbent."""
    curves = {}
    times = np.linspace(0, limit, points)
    for method in dict.fromkeys(r.method for r in records if r.time_limit == limit):
        chosen = [r for r in records if r.time_limit == limit and r.method == method and r.best_known]
        gaps = np.full((len(chosen), points), np.nan)
        for i, record in enumerate(chosen):
            for t, objective, _ in record.trace or []:
                if objective is not None:
                    gaps[i, times >= t] = 100 * (objective / record.best_known - 1)
            if record.makespan is not None and not record.trace:  # a dispatch rule: its schedule at once
                gaps[i, :] = gap(record)
        if len(chosen):
            curves[method] = (times, gaps.mean(axis=0))
    return curves
