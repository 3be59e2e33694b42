"""The report's plots: mean gap by size group per method, and mean gap over time from the traces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from cpsched.solvers.bench.report import SummaryRow, gap_over_time
from cpsched.solvers.bench.store import CellRecord
from cpsched.solvers.plotting import require_matplotlib


def _panel_per_time_limit(limits: list[float], width: float, path: Path, draw: Callable) -> None:
    """One panel per time limit, `draw(axis, limit)` filling each; written to `path`."""
    plt = require_matplotlib("the report's plots")
    figure, axes = plt.subplots(len(limits), 1, figsize=(width, 4 * len(limits)), squeeze=False)
    for axis, limit in zip(axes[:, 0], limits):
        draw(axis, limit)
        axis.set_ylabel("mean gap to best known (%)")
        axis.set_title(f"{limit:g} s")
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_gap_by_group(rows: list[SummaryRow], path: Path) -> None:
    """Grouped bars: size groups along x, one bar per method."""

    def draw(axis, limit: float) -> None:
        at = [r for r in rows if r.time_limit == limit and " " in r.group]
        groups = list(dict.fromkeys(r.group for r in at))
        methods = list(dict.fromkeys(r.method for r in at))
        width = 0.8 / max(len(methods), 1)
        for k, method in enumerate(methods):
            values = {r.group: r.mean_gap for r in at if r.method == method}
            heights = [values.get(g) if values.get(g) is not None else np.nan for g in groups]
            axis.bar(np.arange(len(groups)) + k * width, heights, width, label=method)
        axis.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups, rotation=45, ha="right")

    _panel_per_time_limit(sorted({r.time_limit for r in rows}), 12, path, draw)


def plot_gap_over_time(records: list[CellRecord], path: Path) -> None:
    """Each method's mean gap of the incumbent against time."""

    def draw(axis, limit: float) -> None:
        for method, (times, gaps) in gap_over_time(records, limit).items():
            axis.plot(times, gaps, label=method)
        axis.set_xlabel("seconds")

    _panel_per_time_limit(sorted({r.time_limit for r in records}), 8, path, draw)
