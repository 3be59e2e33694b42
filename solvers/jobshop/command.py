"""The job shop family on the command line: what `cpsched solve` prints for a job shop, the options
of its variants, and its own commands (check, reschedule, generate, instances)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cpsched.instances import InputError, JobShop, best_known, bundled_names, evaluate, load
from cpsched.instances.catalog import FAMILIES
from cpsched.instances.jobshop.formats import (
    FORMATS,
    format_jobshop,
    read_json_document,
    read_schedule,
    schedule_from_json,
)
from cpsched.instances.jobshop.generators import seeded_instance
from cpsched.instances.jobshop.variant import JobShopVariant, evaluate_variant, with_shutdowns_met
from cpsched.solvers.cli_errors import reports_input_errors, writable_file, write_text
from cpsched.solvers.family import ReportOptions, exit_code
from cpsched.solvers.jobshop.variant import parse_breakdown, reschedule
from cpsched.solvers.result import Result

MAX_GENERATED_OPERATIONS = 5_000_000  # the pure-Python generator needs minutes and GBs beyond this


format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None,
    help="Format of an instance FILE; detected from the content when omitted.",
)



def parse_window(text: str) -> tuple[int, int, int]:
    """MACHINE@TIME+DURATION as (machine, from, to)."""
    event = parse_breakdown(text, "--unavailable")
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


def report_jobshop(problem: JobShop | JobShopVariant, result: Result, options: ReportOptions) -> None:
    """The summary line (or JSON), then the schedule file and the Gantt chart if asked and found."""
    shop = problem.shop if isinstance(problem, JobShopVariant) else problem
    if options.as_json:  # with the schedule itself, as -o writes it (what `cpsched check` reads)
        summary = result.summary()
        if result.solution is not None:
            summary["schedule"] = schedule_document(shop, result)
        click.echo(json.dumps(summary))
    else:
        click.echo(summary_line(result))
    if result.solution is None:
        if "reason" in result.metrics:
            click.echo(f"error: {shop.name}: no schedule: {result.metrics['reason']}", err=True)
        return
    if options.output:
        write_schedule(options.output, shop, result)
    if options.plot:
        from cpsched.solvers.jobshop.gantt import draw_gantt

        draw_gantt(shop, result.solution, options.plot)


def schedule_document(shop: JobShop, result: Result) -> dict:
    """The schedule file `cpsched check` reads, with the shutdowns the schedule met, if any."""
    document = result.solution.to_document(shop, result.objective)
    if "shutdowns" in result.metrics:
        document["shutdowns"] = result.metrics["shutdowns"]
    return document


def write_schedule(output: str, shop: JobShop, result: Result) -> None:
    """Write `schedule_document` to `output`."""
    write_text(output, json.dumps(schedule_document(shop, result)) + "\n")


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
        f"status={result.status}" + ("  interrupted=yes" if m.get("interrupted") else ""),
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


@click.command("check")
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


@click.command("reschedule")
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
    if output and result.solution is not None:
        write_schedule(output, shop, result)
    sys.exit(exit_code(result))


@click.command("generate")
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


@click.command("instances")
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


