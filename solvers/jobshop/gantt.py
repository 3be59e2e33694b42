"""Gantt chart of a job shop schedule: machines as rows, one colour per job, the makespan marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import JobShop, Schedule
from cpsched.solvers.plotting import require_matplotlib


def draw_gantt(problem: JobShop, schedule: Schedule, path: str | Path, title: str = "") -> None:
    """Write the chart to `path` (the format follows the suffix: .png, .svg, .pdf)."""
    plt = require_matplotlib("--gantt")
    starts = np.asarray(schedule.starts)
    makespan = problem.makespan_of(starts)
    colours = plt.get_cmap("tab20" if problem.n_jobs > 10 else "tab10")
    height = max(2.5, 0.35 * problem.n_machines + 1.2)
    figure, axes = plt.subplots(figsize=(12, height))
    for machine in range(problem.n_machines):
        ops = np.flatnonzero(problem.machines == machine)
        bars = [(int(starts[o]), int(problem.durations[o])) for o in ops]
        colors = [colours(int(problem.job_of[o]) % colours.N) for o in ops]
        axes.broken_barh(bars, (machine - 0.4, 0.8), facecolors=colors, edgecolor="black", linewidth=0.3)
        if problem.n_jobs <= 30:
            for o, (start, length) in zip(ops, bars):
                if length >= makespan / 60:
                    axes.text(start + length / 2, machine, str(problem.job_of[o]), ha="center",
                              va="center", fontsize=6)
    axes.axvline(makespan, color="red", linestyle="--", linewidth=1)
    axes.text(makespan, problem.n_machines - 0.4, f" makespan {makespan}", color="red", va="bottom")
    axes.set_yticks(range(problem.n_machines), [f"M{m}" for m in range(problem.n_machines)])
    axes.invert_yaxis()
    axes.set_xlabel("time")
    axes.set_title(title or f"{problem.name} ({problem.size}), makespan {makespan}")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=120)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot write the chart: {error}", source=str(path)) from None
    finally:
        plt.close(figure)
