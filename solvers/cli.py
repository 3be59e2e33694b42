"""The `cpsched` command line. Errors a user can cause print one line and exit with code 2."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from pathlib import Path

import click

from cpsched.instances import InputError, JobShop, best_known, bundled_names, evaluate, load
from cpsched.instances.catalog import FAMILIES
from cpsched.instances.experts.problem import ExpertProblem
from cpsched.instances.jobshop.formats import (
    FORMATS,
    format_jobshop,
    read_json_document,
    read_schedule,
    schedule_from_json,
)
from cpsched.instances.jobshop.generators import seeded_instance
from cpsched.instances.jobshop.variant import JobShopVariant, evaluate_variant, with_shutdowns_met
from cpsched.instances.offload.problem import OffloadProblem
from cpsched.instances.pipeline.problem import PipelineProblem
from cpsched.learned_pdr import RULES
from cpsched.solvers.bench.command import bench_command, report_command
from cpsched.solvers.cli_errors import EXIT_BAD_INPUT, reports_input_errors, write_text
from cpsched.solvers.experts.baselines import BASELINES as EXPERT_BASELINES
from cpsched.solvers.experts.command import experts_generate_command, report_experts
from cpsched.solvers.jobshop.variant import parse_breakdown, reschedule
from cpsched.solvers.methods import solve
from cpsched.solvers.offload.baselines import BASELINES as OFFLOAD_BASELINES
from cpsched.solvers.offload.command import offload_profile_command, report_offload
from cpsched.solvers.pipeline.baselines import BASELINES
from cpsched.solvers.pipeline.command import pipeline_profile_command, report_pipeline
from cpsched.solvers.progress import ProgressLine
from cpsched.solvers.result import Result
from cpsched.solvers.train_command import train_pdr_command

MAX_GENERATED_OPERATIONS = 5_000_000  # the pure-Python generator needs minutes and GBs beyond this


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
            sys.exit(130)
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
    """


format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None,
    help="Format of an instance FILE; detected from the content when omitted.",
)


def writable_file(path: str | None, option: str) -> None:
    """Fail before a long solve, not after it, when an output file cannot be written."""
    if path is None:
        return
    folder = Path(path).resolve().parent
    if Path(path).is_dir():
        raise InputError(f"{option}: is a directory", source=path)
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise InputError(f"{option}: cannot write into {folder}", source=path)


def parse_window(text: str) -> tuple[int, int, int]:
    """MACHINE@TIME+DURATION as (machine, from, to)."""
    event = parse_breakdown(text)
    return event.machine, event.at, event.at + event.duration


def variant_options(command):
    """--blocking, --swaps/--no-swaps and --unavailable, shared by solve and reschedule."""
    command = click.option("--unavailable", multiple=True, metavar="M@T+D",
                           help="Machine M is down from time T for D time units (planned maintenance); "
                                "repeat for more windows.")(command)
    command = click.option("--swaps/--no-swaps", default=True, show_default=True,
                           help="With --blocking: may jobs blocked in a cycle all move at one instant?")(command)
    return click.option("--blocking", is_flag=True,
                        help="No buffers: a job holds its machine until its next machine takes it.")(command)


def with_variant(problem, blocking: bool, swaps: bool, unavailable: tuple[str, ...], shutdown: float = 0.0):
    """The job shop with the variant's rules, or `problem` itself when no variant option is given."""
    if shutdown and not blocking:
        raise InputError("--shutdown applies with --blocking")
    if not (blocking or unavailable):
        if not swaps:
            raise InputError("--no-swaps applies with --blocking")
        return problem
    if isinstance(problem, JobShopVariant):
        raise InputError(f"{problem.name}: the file already says which variant it is ({problem.label}); "
                         "drop --blocking and --unavailable")
    if not isinstance(problem, JobShop):
        raise InputError("--blocking and --unavailable apply to job shops")
    return JobShopVariant(problem, blocking=blocking, swaps=swaps, unavailable=tuple(map(parse_window, unavailable)),
                          shutdown_probability=shutdown)


@main.command("solve")
@click.argument("instance")
@format_option
@click.option("--method", "-m", default=None, metavar="METHOD",
              help="Job shops (default auto): auto: cpsat below 5,000 operations, else dispatch + tabu + LNS; "
                   "cpsat: our model (dispatch + tabu warm start, tight horizon); cpsat-plain: the textbook "
                   "model; lns: dispatch, then large-neighbourhood search with small CP-SAT models; "
                   "pdr: the learned dispatching rule (greedy, on the instance and on its reversal: the shorter); "
                   "pdr-sample:K: the best of K of its schedules (the greedy ones always complete, sampling "
                   "stops at the time limit; rollouts=MADE/K says how many ran); "
                   "pdr:RULE: one static dispatching rule, no search (RULE: " + ", ".join(RULES) +
                   "; add ':active' for an active instead of a non-delay schedule). Blocking job shops "
                   "(--blocking, default cpsat): cpsat, or pdr, pdr-sample:K, pdr:RULE on the blocking "
                   "simulator, which swaps deadlocked jobs. Pipeline problems "
                   "(default cpsat): cpsat, or one baseline: " + ", ".join(BASELINES) + ". Expert placement "
                   "(default cpsat): cpsat, or one baseline: " + ", ".join(EXPERT_BASELINES) + ". Optimizer "
                   "offload (default cpsat): cpsat, or one baseline: " + ", ".join(OFFLOAD_BASELINES) + ".")
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
@click.option("--emit", type=click.Choice(["megatron", "json"]), default=None,
              help="Pipeline problems: print the Megatron-LM arguments of the plan, or the placement as JSON; "
                   "expert placement: the placement as JSON in EPLB's layout (phy2log, logcnt); offload: the "
                   "plan as JSON.")
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
    the search and keeps the best schedule found so far. Exit code 0 when a schedule was found, 1
    when none was, 2 for bad input.

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
    writable_file(plot, "--plot")
    if plot:
        from cpsched.solvers.gantt import require_matplotlib

        require_matplotlib("--gantt/--plot")
    problem = with_variant(load(instance, fmt), blocking, swaps, unavailable, shutdown)
    if emit == "megatron" and not isinstance(problem, PipelineProblem):
        raise InputError("--emit megatron applies to pipeline problems")
    if emit and isinstance(problem, (JobShop, JobShopVariant)):
        raise InputError("--emit applies to pipeline and expert-placement problems")
    progress = contextlib.nullcontext() if quiet else ProgressLine()
    with progress:
        result = solve(problem, method, time_limit=time_limit, workers=workers, seed=seed,
                       progress=None if quiet else progress, warm_start=warm_start, weights=weights)
    if isinstance(problem, PipelineProblem):
        report_pipeline(problem, result, as_json=as_json, emit=emit, output=output, plot=plot)
        return
    if isinstance(problem, ExpertProblem):
        report_experts(problem, result, as_json=as_json, emit=emit, output=output, plot=plot)
        return
    if isinstance(problem, OffloadProblem):
        report_offload(problem, result, as_json=as_json, emit=emit, output=output, plot=plot)
        return
    gantt = plot
    shop = problem.shop if isinstance(problem, JobShopVariant) else problem
    click.echo(json.dumps(result.summary()) if as_json else summary_line(result))
    if result.solution is None:
        sys.exit(1)
    if output:
        write_schedule(output, shop, result)
    if gantt:
        from cpsched.solvers.gantt import draw_gantt

        draw_gantt(shop, result.solution, gantt)


def write_schedule(output: str, shop: JobShop, result: Result) -> None:
    """The schedule file `cpsched check` reads, with the shutdowns the schedule met, if any."""
    document = result.solution.to_json(shop, result.objective)
    if "shutdowns" in result.metrics:
        document["shutdowns"] = result.metrics["shutdowns"]
    write_text(output, json.dumps(document) + "\n")


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
        f"method={result.method}",
    ]
    if "found_by" in m:
        fields.append(f"found_by={m['found_by']}")
    if "rollouts" in m:
        fields.append(f"rollouts={m['rollouts']}/{m['rollouts_asked']}")
    if "variant" in m:
        fields.append(f"variant={m['variant'].replace(' ', '_')}")
    if "down_time" in m:
        fields.append(f"shutdowns={len(m['shutdowns'])}  down_time={m['down_time']}")
    return "  ".join(fields)


@main.command("check")
@click.argument("instance")
@click.argument("schedule")
@format_option
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@variant_options
@reports_input_errors
def check_command(instance, schedule, fmt, as_json, blocking, swaps, unavailable):
    """Check SCHEDULE (a JSON file) against INSTANCE; print the makespan or every violation.

    SCHEDULE holds {"starts": [[start of each operation] for each job]} as `cpsched solve --output`
    writes, or {"operations": [{"job": j, "operation": k, "start": s}, ...]}. Exit code 0 when
    feasible, 1 when not, 2 for unreadable input or a schedule of another instance.

    \b
    Examples:
      cpsched check ta01 ta01.json
      cpsched check la01 la01.json --blocking      (a blocking schedule: machines held until the next starts)
    """
    problem = with_variant(load(instance, fmt), blocking, swaps, unavailable)
    document = read_json_document(schedule)
    shop = problem.shop if isinstance(problem, JobShopVariant) else problem
    solution = schedule_from_json(shop, document, schedule)
    problem = with_shutdowns_met(problem, document, schedule)
    if isinstance(problem, JobShopVariant):
        verdict = evaluate_variant(problem, solution)
    else:
        verdict = evaluate(problem, solution)
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


@main.command("reschedule")
@click.argument("instance")
@click.argument("schedule")
@click.option("--down", "downs", multiple=True, required=True, metavar="M@T+D",
              help="Machine M breaks down at time T for D time units; repeat for more.")
@format_option
@variant_options
@click.option("--time-limit", "-t", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds for both phases (makespan, then fewest changes).")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the new schedule.")
@click.option("--json", "as_json", is_flag=True, help="Print the result and the changes as JSON.")
@reports_input_errors
def reschedule_command(instance, schedule, downs, fmt, blocking, swaps, unavailable, time_limit, workers, seed,
                       output, as_json):
    """Repair SCHEDULE (from `cpsched solve -o`) when machines break down.

    Operations started before the first breakdown stay as they are; the rest is re-solved with the
    machines down, from the old schedule: the shortest makespan, then the fewest changed start
    times. Prints every start that changed. Exit code 2 for a machine that does not exist, a time
    outside the schedule, or a schedule that is not feasible for INSTANCE.

    \b
    Example:
      cpsched solve la01 --blocking -o la01.json
      cpsched reschedule la01 la01.json --blocking --down 3@120+40
    """
    writable_file(output, "--output")
    loaded = load(instance, fmt)
    if not isinstance(loaded, (JobShop, JobShopVariant)):
        raise InputError(f"{instance}: reschedule applies to job shops")
    problem = with_variant(loaded, blocking, swaps, unavailable)
    variant = problem if isinstance(problem, JobShopVariant) else JobShopVariant(problem, blocking=False)
    shop = variant.shop
    old = read_schedule(schedule, shop)
    repair = reschedule(variant, old, [parse_breakdown(d) for d in downs], time_limit=time_limit, workers=workers,
                        seed=seed)
    result = repair.result

    if as_json:
        click.echo(json.dumps({**result.summary(), "frozen": repair.frozen,
                               "changed": [{"job": int(shop.job_of[op]), "operation": op - int(shop.job_starts[
                                   shop.job_of[op]]), "old": a, "new": b} for op, a, b in repair.changed]}))
    else:
        for op, a, b in repair.changed:
            click.echo(f"{shop.where(op)}: {a} -> {b}")
        click.echo(summary_line(result) + f"  kept={repair.frozen}  changed={len(repair.changed)}")
    if result.solution is None:
        sys.exit(1)
    if output:
        write_schedule(output, shop, result)


@main.command("generate")
@click.option("--jobs", "-n", "n_jobs", type=click.IntRange(min=1), required=True, help="Number of jobs.")
@click.option("--machines", "-m", "n_machines", type=click.IntRange(min=1), required=True,
              help="Number of machines (each job visits every machine once).")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="Seed; Taillard's two generator seeds are drawn from it.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="standard", show_default=True,
              help="File format to write.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Where to write the instance.")
@reports_input_errors
def generate_command(n_jobs, n_machines, seed, fmt, output):
    """Write a random job shop made by Taillard's generator (durations 1-99), as ta01-80 were.

    The same seed always gives the same instance, so large tests and benchmarks are reproducible.

    \b
    Example:
      cpsched generate --jobs 1000 --machines 100 --seed 1 -o big.txt
      cpsched solve big.txt --time-limit 300
    """
    if n_jobs * n_machines > MAX_GENERATED_OPERATIONS:
        raise InputError(f"{n_jobs} x {n_machines} is {n_jobs * n_machines:,} operations; "
                         f"generate at most {MAX_GENERATED_OPERATIONS:,}")
    writable_file(output, "--output")
    name = Path(output).stem
    problem = seeded_instance(n_jobs, n_machines, seed, name=name)
    write_text(output, format_jobshop(problem, fmt))
    click.echo(f"wrote {output}  instance={name}  size={problem.size}  operations={problem.n_operations}  "
               f"lower_bound={problem.lower_bound}")


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
        rows.append({"name": name, "family": fam, "size": known.size, "lower_bound": known.lower_bound,
                     "upper_bound": known.upper_bound, "closed": known.closed})
    if as_json:
        click.echo(json.dumps(rows))
        return
    click.echo(f"{'name':<8}{'family':<8}{'size':<9}{'lower':>8}{'upper':>8}  status")
    for row in rows:
        click.echo(f"{row['name']:<8}{row['family']:<8}{row['size']:<9}{row['lower_bound']:>8}"
                   f"{row['upper_bound']:>8}  {'optimal' if row['closed'] else 'open'}")


main.add_command(train_pdr_command)
main.add_command(pipeline_profile_command)
main.add_command(experts_generate_command)
main.add_command(offload_profile_command)
main.add_command(bench_command)
main.add_command(report_command)

if __name__ == "__main__":
    main()
