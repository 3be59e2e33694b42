"""The offload family on the command line: `cpsched offload-profile`, and what `cpsched solve
problem.json` prints for an offload problem."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cpsched.instances.errors import InputError
from cpsched.instances.offload.problem import (
    GB,
    MODES,
    TICKS_PER_MS,
    OffloadPlan,
    OffloadProblem,
    memory_curve,
    write_offload,
)
from cpsched.instances.offload.profiles import HBM_TBPS, PCIE_GBPS, OffloadOptions, offload_problem, parse_count
from cpsched.instances.pipeline.profiles import PROFILES, model_shape
from cpsched.solvers.cli_errors import reports_input_errors, write_text
from cpsched.solvers.family import ReportOptions
from cpsched.solvers.result import Result

MAX_RUNS_SHOWN = 12


def plan_table(problem: OffloadProblem, plan: OffloadPlan) -> str:
    """Per mode: subgroups, parameters and the first and last update; then the runs of consecutive
    subgroups on one path, when there are few enough to read (-o writes every subgroup)."""
    rows = [f"{'mode':<10}{'subgroups':>10}{'params':>10}{'first update ms':>17}{'last update ms':>16}"]
    for mode in MODES:
        chosen = [g for g, m in enumerate(plan.modes) if m == mode]
        if chosen:
            updates = [int(plan.starts[g, 1]) / TICKS_PER_MS for g in chosen]
            rows.append(f"{mode:<10}{len(chosen):>10}{problem.params[chosen].sum() / 1e9:>9.2f}B"
                        f"{min(updates):>17.1f}{max(updates):>16.1f}")
    runs = []
    g = 0
    while g < problem.subgroups:
        end = g
        while end + 1 < problem.subgroups and plan.modes[end + 1] == plan.modes[g]:
            end += 1
        runs.append((g, end))
        g = end + 1
    if len(runs) <= MAX_RUNS_SHOWN:
        rows.append(f"{'subgroups':<12}{'mode':<10}{'params':>10}{'ready ms':>10}")
        for first, last in runs:
            span = f"{first}" if first == last else f"{first}-{last}"
            rows.append(f"{span:<12}{plan.modes[first]:<10}{problem.params[first:last + 1].sum() / 1e9:>9.2f}B"
                        f"{problem.ready_ms[first]:>10.1f}")
    else:
        rows.append(f"({len(runs)} runs of subgroups on one path, in layer order: "
                    + " ".join(f"{plan.modes[a][0].upper()}{b - a + 1}" for a, b in runs[:24])
                    + (" ..." if len(runs) > 24 else "") + ")")
    return "\n".join(rows)


def summary_line(problem: OffloadProblem, result: Result) -> str:
    m = result.metrics
    fields = [f"instance={problem.name}", f"subgroups={problem.subgroups}",
              f"phase_ms={'-' if result.objective is None else f'{result.objective:.1f}'}",
              f"bound_ms={'-' if result.bound is None else f'{result.bound:.1f}'}",
              f"gap_to_bound={100 * m['gap_to_bound']:.2f}%" if "gap_to_bound" in m else "gap_to_bound=-",
              f"exposed_ms={m.get('exposed_ms', 0):.1f}", f"peak_memory_gb={m.get('peak_memory_gb', 0):.2f}",
              "modes=" + ",".join(f"{mode}:{m['subgroups_by_mode'][mode]}" for mode in MODES)
              if "subgroups_by_mode" in m else "modes=-",
              f"speedup_vs_zero_offload={m.get('speedup_vs_zero_offload', float('nan')):.2f}",
              f"status={result.status}" + ("  interrupted=yes" if m.get("interrupted") else ""),
              f"seconds={result.wall_time:.2f}", f"method={result.method}"]
    if "setting" in m:
        fields.append(f"setting={m['setting']}")
    return "  ".join(fields)


def baseline_lines(result: Result) -> str:
    rows = [f"{'baseline':<14}{'setting':<12}{'phase ms':>10}{'ours faster':>13}"]
    for name, entry in result.metrics["baselines"].items():
        if entry is None:
            rows.append(f"{name:<14}{'-':<12}{'no fit':>10}{'-':>13}")
            continue
        ratio = "-" if not result.objective else f"{entry['phase_ms'] / result.objective:.2f}x"
        rows.append(f"{name:<14}{entry['setting']:<12}{entry['phase_ms']:>10.1f}{ratio:>13}")
    return "\n".join(rows)


def report_offload(problem: OffloadProblem, result: Result, options: ReportOptions) -> None:
    """The plan as a table, a key=value summary line and the baselines (or JSON), and the files
    asked for."""
    as_json, emit, output, plot = options.as_json, options.emit, options.output, options.plot
    plan = result.solution
    if as_json:
        summary = result.summary()
        if plan is not None:
            summary["plan"] = plan.to_document(problem)
        click.echo(json.dumps(summary))
    else:
        err = options.report_to_stderr
        if plan is not None:
            click.echo(plan_table(problem, plan), err=err)
        click.echo(summary_line(problem, result), err=err)
        click.echo(baseline_lines(result), err=err)
    if result.status == "infeasible":
        click.echo(f"error: {problem.name}: {'; '.join(result.metrics.get('violations', []))}", err=True)
        return
    if plan is None:
        return
    if emit == "json":
        click.echo(json.dumps(plan.to_document(problem)))
    if output:
        write_text(output, json.dumps(plan.to_document(problem), indent=1) + "\n")
    if plot:
        draw_offload(problem, plan, plot)


def draw_offload(problem: OffloadProblem, plan: OffloadPlan, path: str | Path) -> None:
    """The four resources as rows of bars (one colour per path), and below them the optimizer state
    on the GPU against the free memory."""
    from cpsched.solvers.plotting import require_matplotlib

    plt = require_matplotlib("--plot")
    tables = problem.tables
    figure, (lanes, memory) = plt.subplots(2, 1, figsize=(14, 5.5), sharex=True,
                                           gridspec_kw={"height_ratios": [2, 1.2]})
    rows = {"h2d": 0, "d2h": 1, "cpu": 2, "gpu": 3}
    colours = {"cpu": "#d98c3f", "gpu": "#1f5f99", "resident": "#4c9a5b"}
    phase = 0
    for g, mode in enumerate(plan.modes):
        for k, step in enumerate(tables.path(mode, g)):
            if step is None:
                continue
            resource, duration = step
            start = int(plan.starts[g, k])
            phase = max(phase, start + duration)
            lanes.broken_barh([(start / TICKS_PER_MS, duration / TICKS_PER_MS)], (rows[resource] - 0.4, 0.8),
                              facecolors=colours[mode], edgecolor="white", linewidth=0.2)
    lanes.axvline(problem.ready_ms.max(), color="black", linewidth=0.8, linestyle=":")
    lanes.set_yticks(range(4), ["PCIe up (H2D)", "PCIe down (D2H)", "CPU Adam", "GPU Adam"])
    lanes.invert_yaxis()
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    lanes.legend(handles, [f"{m} path" for m in colours], loc="upper right", fontsize=8)
    lanes.set_title(f"{problem.name}: update phase {phase / TICKS_PER_MS:.1f} ms (dotted: last gradient ready)")
    times, used = memory_curve(problem, plan, phase)
    end = max(phase, int(times[-1])) / TICKS_PER_MS
    memory.step([*list(times / TICKS_PER_MS), end], [*list(used / GB), used[-1] / GB], where="post",
                label="optimizer state on GPU", color="#1f5f99")
    memory.step([*list(tables.capacity_times / TICKS_PER_MS), end],
                [*list(tables.capacity_bytes / GB), tables.capacity_bytes[-1] / GB], where="post",
                label="free for it", color="black", linestyle="--")
    memory.set_ylabel("GB")
    memory.set_xlabel("ms from the start of the backward pass")
    memory.set_xlim(0, phase / TICKS_PER_MS * 1.02)
    memory.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)


OFFLOAD_PROFILE_HELP = """Write the optimizer-offload problem of one GPU training MODEL (a built-in profile or a
Hugging Face config.json): its optimizer-state subgroups, when the backward pass makes each
gradient ready, the PCIe links, the CPU and GPU Adam throughputs and the GPU memory free for
optimizer state. The docstring of instances/offload_profiles.py says where each default comes from.

\b
Built-in profiles: {profiles}

\b
Example:
  cpsched offload-profile llama2-13b --gpu h100 --pcie gen5 --subgroup 100M > problem.json
  cpsched solve problem.json --time-limit 10 --plot offload.png
""".format(profiles=", ".join(PROFILES))


@click.command("offload-profile", help=OFFLOAD_PROFILE_HELP)
@click.argument("model")
@click.option("--gpu", type=click.Choice(sorted(HBM_TBPS)), default="h100", show_default=True,
              help="Sets the memory, the HBM bandwidth behind GPU Adam, and the peak FLOPS behind the backward.")
@click.option("--pcie", type=click.Choice(sorted(PCIE_GBPS)), default="gen5", show_default=True,
              help="PCIe generation of the x16 link (nominal GB/s per direction: " +
                   ", ".join(f"{k} {v:g}" for k, v in PCIE_GBPS.items()) + ").")
@click.option("--pcie-efficiency", type=click.FloatRange(min=0, max=1, min_open=True), default=0.8,
              show_default=True, help="Share of the nominal bandwidth that pinned copies reach.")
@click.option("--subgroup", default="100M", show_default=True,
              help="Parameters per subgroup (DeepSpeed's sub_group_size): 100M, 1B, 5e8, ...")
@click.option("--dp", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel ranks sharing the optimizer state (ZeRO-3): this GPU updates 1/dp of it.")
@click.option("--cpu-adam", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="CPU Adam throughput available to this GPU, in billions of parameters per second.")
@click.option("--gpu-adam", type=click.FloatRange(min=0, min_open=True), default=None,
              help="GPU Adam throughput, billions of parameters per second.  [default: 85% of the HBM "
                   "bandwidth over 28 bytes per parameter]")
@click.option("--seq", type=click.IntRange(min=1), default=4096, show_default=True, help="Sequence length.")
@click.option("--micro-batch", type=click.IntRange(min=1), default=1, show_default=True, help="Microbatch size.")
@click.option("--efficiency", type=click.FloatRange(min=0, max=1, min_open=True), default=0.5, show_default=True,
              help="Share of the GPU's bf16 peak the backward pass reaches.")
@click.option("--recompute/--no-recompute", default=True, show_default=True,
              help="Full activation recomputation (fewer activations held, a longer backward).")
@click.option("--free-gb", type=click.FloatRange(min=0), default=None,
              help="GPU memory free for optimizer state, constant.  [default: derived, growing as the backward "
                   "pass frees activations]")
@click.option("--memory-gb", type=click.FloatRange(min=0, min_open=True), default=None,
              help="GPU memory.  [default: the GPU's]")
@click.option("--reserve-gb", type=click.FloatRange(min=0), default=4.0, show_default=True,
              help="Memory kept back for the CUDA context, communication buffers and fragmentation.")
@click.option("--speculative", is_flag=True,
              help="Updates start as each gradient is ready (SuperOffload's speculation) instead of after "
                   "the whole backward pass (global gradient-norm clipping).")
@click.option("--after-backward", is_flag=True,
              help="Nothing overlaps the backward pass: the phase starts when it ends.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the problem here instead of stdout.")
@reports_input_errors
def offload_profile_command(model, gpu, pcie, pcie_efficiency, subgroup, dp, cpu_adam, gpu_adam, seq, micro_batch,
                            efficiency, recompute, free_gb, memory_gb, reserve_gb, speculative, after_backward,
                            output):
    """The help text is OFFLOAD_PROFILE_HELP: it lists the built-in profiles, which a docstring cannot."""
    options = OffloadOptions(gpu=gpu, pcie=pcie, pcie_efficiency=pcie_efficiency, subgroup=parse_count(subgroup),
                             dp=dp, cpu_adam_gparams=cpu_adam, gpu_adam_gparams=gpu_adam, seq=seq,
                             micro_batch=micro_batch, efficiency=efficiency, recompute=recompute, free_gb=free_gb,
                             memory_gb=memory_gb, reserve_gb=reserve_gb, speculative=speculative,
                             after_backward=after_backward)
    problem = offload_problem(model_shape(model), options)
    if problem.subgroups > 5000:
        raise InputError(f"{problem.subgroups} subgroups; use a larger --subgroup (at most 5,000 subgroups)")
    text = write_offload(problem)
    if output:
        write_text(output, text)
        click.echo(f"wrote {output}  instance={problem.name}  size={problem.size.replace(' ', '_')}", err=True)
    else:
        click.echo(text, nl=False)
