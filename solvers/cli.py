"""The `cpsched` command line. Errors a user can cause print one line and exit with code 2."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import click

from instances import InputError, JobShop, best_known, bundled_names, evaluate, family_of, load
from instances.catalog import FAMILIES
from instances.jobshop import schedule_from_json
from instances.jobshop_formats import FORMATS, decode_text
from solvers.methods import DEFAULT_METHOD, METHODS, solve
from solvers.progress import ProgressLine
from solvers.result import Result

EXIT_BAD_INPUT = 2


def reports_input_errors(command: Callable) -> Callable:
    """Turn an InputError into `error: ...` on stderr and exit code 2, never a traceback."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InputError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cpsched")
def main() -> None:
    """cpsched: constraint-programming scheduling on OR-Tools CP-SAT.

    Solve job shops from the bundled benchmarks (ta01, ft10, ...) or your own files, check
    schedules, and list the benchmark instances with their best known bounds.
    """


format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None,
    help="Instance file format; detected from the content when omitted.",
)


@main.command("solve")
@click.argument("instance")
@format_option
@click.option("--method", "-m", type=click.Choice(sorted(METHODS[JobShop])), default=DEFAULT_METHOD[JobShop],
              show_default=True, help="cpsat: our model (warm start, tight horizon); cpsat-plain: the textbook model.")
@click.option("--time-limit", "-t", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds for the whole solve, model building included.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=2, show_default=True,
              help="CP-SAT worker threads.")
@click.option("--seed", type=int, default=0, show_default=True, help="CP-SAT random seed.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the schedule as JSON (readable by `cpsched check`).")
@click.option("--gantt", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Draw a Gantt chart (.png, .svg or .pdf); needs the 'plot' extra.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line on stderr.")
@reports_input_errors
def solve_command(instance, fmt, method, time_limit, workers, seed, output, gantt, as_json, quiet):
    """Solve INSTANCE: a bundled name (ta01, ft10, ...) or a file path.

    Prints one summary line: instance, size, makespan, the lower bound proved, the gap to that
    bound, the gap to the best known upper bound (for bundled instances), status and seconds.
    Ctrl-C stops the search and keeps the best schedule found so far.

    \b
    Example:
      cpsched solve ta01 --time-limit 10 --output ta01.json --gantt ta01.png
    """
    problem = load(instance, fmt)
    progress = None if quiet else ProgressLine()
    try:
        result = solve(problem, method, time_limit=time_limit, workers=workers, seed=seed, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    if output and result.solution is not None:
        _write_text(output, json.dumps(result.solution.to_json(problem, result.objective)) + "\n")
    if gantt and result.solution is not None:
        from solvers.gantt import draw_gantt

        draw_gantt(problem, result.solution, gantt)
    if as_json:
        click.echo(json.dumps(result.summary()))
    else:
        click.echo(summary_line(result))
    if result.solution is None:
        sys.exit(1)


def summary_line(result: Result) -> str:
    """One line of key=value pairs: easy to read, easy to grep."""
    m = result.metrics

    def percent(key: str) -> str:
        return f"{100 * m[key]:.2f}%" if key in m else "-"

    fields = [
        f"instance={m.get('instance', '-')}",
        f"size={m.get('size', '-')}",
        f"makespan={'-' if result.objective is None else int(result.objective)}",
        f"bound={'-' if result.bound is None else int(result.bound)}",
        f"gap_to_bound={percent('gap_to_bound')}",
        f"best_known={m.get('best_known_upper', '-')}",
        f"gap_to_best_known={percent('gap_to_best_known')}",
        f"status={result.status}" + (" (interrupted)" if m.get("interrupted") else ""),
        f"seconds={result.wall_time:.2f}",
    ]
    return "  ".join(fields)


def _write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as error:
        raise InputError(f"cannot write: {error.strerror}", source=path) from None


@main.command("check")
@click.argument("instance")
@click.argument("schedule", type=click.Path(dir_okay=False))
@format_option
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@reports_input_errors
def check_command(instance, schedule, fmt, as_json):
    """Check SCHEDULE (a JSON file) against INSTANCE; print the makespan or every violation.

    SCHEDULE holds {"starts": [[start of each operation] for each job]} as `cpsched solve --output`
    writes, or {"operations": [{"job": j, "operation": k, "start": s}, ...]}. Exit code 0 when
    feasible, 1 when not, 2 for unreadable input.

    \b
    Example:
      cpsched check ta01 ta01.json
    """
    problem = load(instance, fmt)
    try:
        data = Path(schedule).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the file: {error.strerror}", source=schedule) from None
    text = decode_text(data, schedule)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"invalid JSON: {error.msg}", source=schedule, line=error.lineno) from None
    verdict = evaluate(problem, schedule_from_json(problem, document, schedule))
    if as_json:
        click.echo(json.dumps({"instance": problem.name, "feasible": verdict.feasible,
                               "makespan": verdict.makespan, "violations": verdict.violations}))
    elif verdict.feasible:
        click.echo(f"feasible  instance={problem.name}  makespan={verdict.makespan}")
    else:
        click.echo(f"infeasible  instance={problem.name}  violations={len(verdict.violations)}")
        for violation in verdict.violations:
            click.echo(f"  {violation}")
    sys.exit(0 if verdict.feasible else 1)


@main.command("instances")
@click.option("--family", "-f", type=click.Choice(FAMILIES), default=None, help="Only this family.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def instances_command(family, as_json):
    """List the bundled benchmark instances with size and best known bounds.

    \b
    Example:
      cpsched instances --family ta
    """
    rows = []
    for name, fam in bundled_names().items():
        if family and fam != family:
            continue
        known = best_known(name)
        rows.append({"name": name, "family": fam, "size": _size_of(name),
                     "lower_bound": known.lower_bound if known else None,
                     "upper_bound": known.upper_bound if known else None,
                     "closed": bool(known and known.closed)})
    if as_json:
        click.echo(json.dumps(rows))
        return
    click.echo(f"{'name':<8}{'family':<8}{'size':<9}{'lower':>8}{'upper':>8}  status")
    for row in rows:
        click.echo(f"{row['name']:<8}{row['family']:<8}{row['size']:<9}{row['lower_bound']:>8}"
                   f"{row['upper_bound']:>8}  {'optimal' if row['closed'] else 'open'}")


def _size_of(name: str) -> str:
    from instances.catalog import _bounds

    entry = _bounds().get(name, {})
    return f"{entry.get('jobs', '?')}x{entry.get('machines', '?')}" if family_of(name) else "?"


if __name__ == "__main__":
    main()
