"""The `cpsched` command line: `solve` for every family, and each family's own commands, read from the
registry. Errors a user can cause print one line and exit with code 2."""

from __future__ import annotations

import contextlib
import math
import sys

import click

from cpsched.instances import InputError, load
from cpsched.solvers.bench.command import bench_command, report_command
from cpsched.solvers.cli_errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, image_file, reports_input_errors, writable_file
from cpsched.solvers.family import ReportOptions, exit_code
from cpsched.solvers.jobshop.command import format_option, variant_options, with_variant
from cpsched.solvers.plotting import require_matplotlib
from cpsched.solvers.progress import ProgressLine
from cpsched.solvers.registry import families, family_of, refusal, solve


class OneLineErrors(click.Group):
    """Click's usage errors as one `error: ...` line (exit code 2), like every other bad input."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as error:
            click.echo(f"error: {error.format_message()}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cpsched")
def main() -> None:
    """cpsched: constraint-programming scheduling on OR-Tools CP-SAT.

    Solve job shops from the bundled benchmarks (ta01, ft10, ...) or your own files, check
    schedules, and list the benchmark instances with their best known bounds. Plan the pipeline
    stages of a model's training (`pipeline-profile`, then `solve`), place MoE experts
    (`experts-generate`, then `solve`), and schedule the optimizer update between CPU and GPU
    (`offload-profile`, then `solve`).

    Exit codes, every command: 0 solved, 1 no solution (infeasible or out of time), 2 bad input,
    130 interrupted (Ctrl-C; the best solution so far is printed and written).
    """


@main.command("solve")
@click.argument("instance")
@format_option
@click.option("--method", "-m", default=None, metavar="METHOD",
              help=" ".join(family.method_help for family in families()))
@click.option("--warm-start", default=None, metavar="RULE",
              help="Start from this dispatching rule's schedule (a static RULE, pdr or pdr-sample:K for the "
                   "learned one, or 'best' of the static rules): CP-SAT is hinted with "
                   "every start and the makespan and its horizon cut to that makespan; tabu search and LNS "
                   "start from it.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Weights of the learned rule (from `cpsched train-pdr`) instead of the shipped ones.")
@click.option("--time-limit", "-t", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds for the whole solve, model building included.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=2, show_default=True,
              help="CP-SAT worker threads.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
              help="Seed of CP-SAT and of the local search.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the solution as JSON: a job shop's schedule (readable by `cpsched check`), a "
                   "pipeline placement, an expert placement or an offload plan.")
@click.option("--gantt", "--plot", "plot", type=click.Path(dir_okay=False), default=None,
              help="Draw the schedule (.png, .svg or .pdf): a job shop's Gantt chart, a pipeline's timeline, "
                   "expert loads, an offload plan's links, CPU, GPU and memory; needs the 'plot' extra.")
@click.option("--emit", type=click.Choice(sorted({e for family in families() for e in family.emits})), default=None,
              help="Pipeline problems: print the Megatron-LM arguments of the plan, or the placement as JSON; "
                   "expert placement: the placement as JSON in EPLB's layout (phy2log, logcnt); offload: the "
                   "plan as JSON. Stdout then holds that alone (the report goes to stderr); not with --json.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line on stderr.")
@click.option("--shutdown", type=click.FloatRange(0, 1, max_open=True), default=0.0, metavar="Q",
              help="With --blocking and a dispatching rule: each machine stops at random with probability Q per "
                   "time unit, for up to one mean operation duration (seeded by --seed); the rule reacts as "
                   "machines stop, the operation caught resumes when its machine is back.")
@variant_options
@reports_input_errors
def solve_command(instance, fmt, method, warm_start, weights, time_limit, workers, seed, output, plot, emit, as_json,
                  quiet, shutdown, blocking, swaps, unavailable):
    """Solve INSTANCE: a bundled name (ta01, ft10, ...) or a file path.

    Prints one summary line: instance, size, makespan, the lower bound proved, the gap to that
    bound, the gap to the best known upper bound (for bundled instances), status, seconds, the
    method that ran and which phase found the schedule (dispatch, tabu, cpsat or lns). Ctrl-C stops
    the search and keeps the best schedule found so far. Exit code 0 when a solution was found, 1
    when none was (infeasible or out of time), 2 for bad input, 130 when interrupted (the best so
    far is still printed and written).

    \b
    Examples:
      cpsched solve ta01 --time-limit 10 --output ta01.json --gantt ta01.png
      cpsched solve ta71 --method pdr:mwkr
      cpsched solve ta71 --method pdr-sample:32
      cpsched solve la01 --blocking --method pdr --shutdown 0.01 --seed 3
      cpsched solve ta71 --method cpsat-plain --warm-start mwkr
      cpsched solve big.txt --time-limit 300      (from cpsched generate)
      cpsched solve llama3.json --plot timeline.png --emit megatron   (from cpsched pipeline-profile)
      cpsched solve offload.json --time-limit 10 --plot offload.png   (from cpsched offload-profile)
    """
    if not math.isfinite(time_limit):
        raise InputError(f"--time-limit must be a finite number of seconds, got {time_limit}")
    writable_file(output, "--output")
    image_file(plot, "--gantt/--plot")
    if plot:
        require_matplotlib("--gantt/--plot")
    problem = with_variant(load(instance, fmt), blocking, swaps, unavailable, shutdown)
    family = family_of(problem)
    if emit and emit not in family.emits:
        takers = " and ".join(f.title for f in families() if emit in f.emits)
        raise InputError(f"--emit {emit} applies to {takers}")
    if emit and as_json:
        raise InputError(f"--json and --emit {emit} both print a document to stdout: choose one "
                         "(-o FILE writes the plan)")
    given = {"warm_start": warm_start, "weights": weights}
    options = {name: value for name, value in given.items() if value is not None}
    spec = family.parse_method(method)
    for name in options:
        reason = refusal(name, family, spec, spell=lambda keyword: "--" + keyword.replace("_", "-"))
        if reason is not None:
            raise InputError(reason)
    progress = contextlib.nullcontext() if quiet else ProgressLine()
    with progress:
        result = solve(problem, method, time_limit=time_limit, workers=workers, seed=seed,
                       progress=None if quiet else progress, **options)
    family.report(problem, result, ReportOptions(as_json=as_json, emit=emit, output=output, plot=plot))
    sys.exit(exit_code(result))


for _family in families():
    for _command in _family.commands:
        main.add_command(_command)
main.add_command(bench_command)  # the sweep over the job shop benchmarks: built on `solve`
main.add_command(report_command)

if __name__ == "__main__":
    main()
