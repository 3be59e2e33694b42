"""`cpsched bench`: the resumable benchmark sweep on the command line."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
from pathlib import Path

import click

from cpsched.instances.errors import InputError
from cpsched.solvers.bench.datasets import instance_names
from cpsched.solvers.bench.plots import plot_gap_by_group, plot_gap_over_time
from cpsched.solvers.bench.report import gap, markdown, summarize, write_csv
from cpsched.solvers.bench.store import CellRecord, ResultsDatabase
from cpsched.solvers.bench.sweep import cross_product, sweep
from cpsched.solvers.cli_errors import reports_input_errors
from cpsched.solvers.jobshop.family import JOBSHOP
from cpsched.solvers.plotting import require_matplotlib

DEFAULT_METHODS = "cpsat-plain,cpsat,auto,pdr:mwkr"


def _numbers(text: str, option: str, kind: type, minimum: float) -> list:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{option}: '{text}' is not a comma-separated list of numbers") from None
    if not values or any(value < minimum or (kind is float and value == 0) for value in values):
        raise InputError(f"{option}: every value must be {'positive' if kind is float else f'at least {minimum}'}, "
                         f"got '{text}'")
    return list(dict.fromkeys(values))


@click.command("bench")
@click.option("--datasets", "-d", required=True,
              help="Comma-separated: families (ta, dmu, la, ...), size groups (ta:30x20), ranges (ta01-10, "
                   "dmu41-80/5) or instance names.")
@click.option("--methods", "-m", default=DEFAULT_METHODS, show_default=True,
              help="Comma-separated methods, as `cpsched solve --method` takes them.")
@click.option("--time-limits", "-t", default="60", show_default=True, help="Comma-separated seconds per solve.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=2, show_default=True,
              help="CP-SAT workers of each solve.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Solves at once, each in its own process.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where cells run: local processes, or a Ray cluster (pip install 'cpsched[ray]').")
@click.option("--address", default=None, help="Ray cluster address (ray://host:10001 or auto); "
                                                "without it a Ray instance is started on this machine.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default="results.sqlite", show_default=True,
              help="Results database; cells already in it are skipped, so the same command resumes.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@reports_input_errors
def bench_command(datasets, methods, time_limits, seeds, workers, jobs, backend, address, db_path, quiet):
    """Run every method on every instance of the datasets, at each time limit and seed, and commit
    each finished cell to an SQLite database at once.

    Killing the sweep (Ctrl-C, kill -9) loses at most the cells in flight; running the same command
    again skips the finished ones. Ends with one line: cells run, skipped, and where the results are.

    \b
    Example:
      cpsched bench --datasets la --methods cpsat-plain,auto --time-limits 5 --db la.sqlite
      cpsched report la.sqlite --out report/
    """
    names = instance_names(datasets)
    parsed = (JOBSHOP.parse_method(m.strip().lower()).label for m in methods.split(",") if m.strip())
    method_list = list(dict.fromkeys(parsed))
    if not method_list:
        raise InputError("--methods names no method")
    limits = _numbers(time_limits, "--time-limits", float, 0)
    seed_list = _numbers(seeds, "--seeds", int, 0)
    if address is not None and backend != "ray":
        raise InputError("--address is for --backend ray")
    cores = os.cpu_count() or 1
    if backend == "local" and jobs * workers > cores:
        click.echo(f"warning: {jobs} jobs x {workers} workers = {jobs * workers} threads on {cores} cores: "
                   f"solves will share cores, which skews their timings", err=True)
    cells = cross_product(names, method_list, limits, seed_list, workers)
    with ResultsDatabase(db_path) as database:
        finished = database.finished()
        todo = sum(cell.key not in finished for cell in cells)
        gaps: list[float] = []
        interactive = not quiet and todo and sys.stderr.isatty()
        bar = click.progressbar(length=todo, label="bench", file=sys.stderr, show_eta=True, show_pos=True,
                                item_show_func=lambda text: text) if interactive else None
        done = 0

        def on_record(record: CellRecord) -> None:
            nonlocal done
            done += 1
            if gap(record) is not None:
                gaps.append(gap(record))
            mean = f"mean gap {statistics.mean(gaps):.2f}%" if gaps else "no gap yet"
            line = f"{record.instance} {record.method} {record.time_limit:g}s seed {record.seed}: {record.makespan}"
            if bar is not None:
                bar.update(1, f"{line}  ({mean})")
            elif not quiet:  # a log, not a terminal: one line per cell
                click.echo(f"[{done}/{todo}] {line} {record.status}  ({mean})", err=True)

        with bar if bar is not None else contextlib.nullcontext():
            ran, complete = sweep(database, cells, jobs=jobs, backend=backend, address=address, on_record=on_record)
    skipped = len(cells) - todo
    click.echo(f"cells={len(cells)}  ran={ran}  skipped={skipped}  remaining={todo - ran}  db={db_path}"
               + ("" if complete else "  (interrupted: the same command resumes)"))
    if not complete:
        sys.exit(130)


@click.command("report")
@click.argument("db_path", metavar="DB", type=click.Path(dir_okay=False))
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), default="report", show_default=True,
              help="Folder for report.md, summary.csv and the plots (created if missing).")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="Draw gap_by_group.png and gap_over_time.png (needs matplotlib: pip install 'cpsched[plot]').")
@reports_input_errors
def report_command(db_path, out_dir, plots):
    """Summarise a `cpsched bench` database: mean gap to the best known per dataset, size group and
    method, how many proved optimal and matched the best known, and each method's ratio to
    cpsat-plain; as markdown (also printed), CSV, and plots.

    \b
    Example:
      cpsched report results.sqlite --out report/
    """
    with ResultsDatabase(db_path, create=False) as database:
        records = database.records()
    if not records:
        raise InputError(f"{db_path}: no finished cells yet")
    if plots:
        require_matplotlib("the report's plots (or --no-plots)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = summarize(records)
    text = markdown(rows)
    (out / "report.md").write_text(text + "\n")
    write_csv(rows, out / "summary.csv")
    written = [out / "report.md", out / "summary.csv"]
    if plots:
        plot_gap_by_group(rows, out / "gap_by_group.png")
        plot_gap_over_time(records, out / "gap_over_time.png")
        written += [out / "gap_by_group.png", out / "gap_over_time.png"]
    click.echo(text)
    click.echo("wrote " + ", ".join(str(path) for path in written), err=True)
