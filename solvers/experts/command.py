"""The expert-placement family on the command line: `cpsched experts-generate`, and what
`cpsched solve problem.json` prints for an expert-placement problem."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.experts.problem import (
    SHAPES,
    ExpertPlacement,
    ExpertProblem,
    gpu_loads,
    synthetic,
    write_experts_json,
)
from cpsched.solvers.cli_errors import reports_input_errors, write_text
from cpsched.solvers.experts.baselines import contiguous
from cpsched.solvers.family import ReportOptions
from cpsched.solvers.result import Result

COLUMNS = ("imbalance", "max_imbalance", "slot_imbalance", "internode_tokens", "migrated_bytes")


def _row(name: str, entry: dict) -> str:
    following = entry.get("next_window", {}).get("imbalance")
    return (f"{name:<16}{entry['imbalance']:>10.3f}{entry['max_imbalance']:>10.3f}{entry['slot_imbalance']:>10.3f}"
            f"{entry['internode_tokens']:>12}{entry['migrated_bytes'] / 1e9:>12.1f}"
            f"{'-' if following is None else f'{following:.3f}':>12}")


def report_experts(problem: ExpertProblem, result: Result, options: ReportOptions) -> None:
    """The plan against every baseline (imbalance = busiest GPU / mean - 1, averaged over layers),
    a key=value summary line, and the files asked for."""
    as_json, emit, output, plot = options.as_json, options.emit, options.output, options.plot
    placement = result.solution
    if as_json:
        summary = result.summary()
        summary["placement"] = placement.to_document(problem)
        click.echo(json.dumps(summary))
    else:
        err = options.report_to_stderr
        click.echo(f"{'plan':<16}{'imbalance':>10}{'worst':>10}{'per slot':>10}{'inter-node':>12}{'moved GB':>12}"
                   f"{'next window':>12}", err=err)
        click.echo(_row(result.method, result.metrics), err=err)
        for name, entry in result.metrics["baselines"].items():
            click.echo(_row(name, entry), err=err)
        m = result.metrics
        click.echo(f"instance={problem.name}  size={problem.size.replace(' ', '_')}  imbalance={m['imbalance']:.4f}  "
                   f"internode_tokens={m['internode_tokens']}  migrated_gb={m['migrated_bytes'] / 1e9:.1f}  "
                   f"status={result.status}" + ("  interrupted=yes" if m.get("interrupted") else "")
                   + f"  seconds={result.wall_time:.2f}  method={result.method}", err=err)
    if result.status == "infeasible":
        click.echo(f"error: {problem.name}: {'; '.join(result.metrics.get('violations', []))}", err=True)
        return
    if emit == "json":
        click.echo(json.dumps(placement.to_document(problem)))
    if output:
        write_text(output, json.dumps(placement.to_document(problem)) + "\n")
    if plot:
        draw_loads(problem, placement, plot)


def draw_loads(problem: ExpertProblem, placement: ExpertPlacement, path: str | Path) -> None:
    """Per-GPU load bars of the most imbalanced layer before (the current placement, else
    contiguous) and after."""
    from cpsched.solvers.plotting import require_matplotlib

    plt = require_matplotlib("--plot")
    before = ExpertPlacement(np.asarray(problem.current)) if problem.current is not None else contiguous(problem)
    old, new = gpu_loads(problem, before, problem.plan_window), gpu_loads(problem, placement, problem.plan_window)
    layer = int(np.argmax(old.max(axis=1) / np.maximum(old.mean(axis=1), 1e-12)))
    figure, axes = plt.subplots(figsize=(max(6, problem.gpus * 0.25), 3.5))
    positions = np.arange(problem.gpus)
    axes.bar(positions - 0.2, old[layer], width=0.4, label="before", color="#bbbbbb")
    axes.bar(positions + 0.2, new[layer], width=0.4, label="plan", color="#1f5f99")
    axes.axhline(old[layer].mean(), color="black", linewidth=0.8, linestyle=":", label="mean")
    axes.set_xticks(positions[:: max(1, problem.gpus // 16)])
    axes.set_xlabel("GPU")
    axes.set_ylabel("tokens")
    axes.set_title(f"{problem.name}, layer {layer}: busiest GPU {old[layer].max():.0f} -> {new[layer].max():.0f}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)


@click.command("experts-generate")
@click.argument("shape", type=click.Choice(sorted(SHAPES)))
@click.option("--nodes", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--gpus-per-node", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--redundant", type=click.IntRange(min=0), default=0, show_default=True,
              help="Extra expert slots in all (replicas of hot experts).")
@click.option("--layers", type=click.IntRange(min=1), default=None, help="MoE layers (default: the model's).")
@click.option("--tokens", type=click.IntRange(min=1), default=4096, show_default=True, help="Tokens per window.")
@click.option("--windows", type=click.IntRange(min=1), default=2, show_default=True,
              help="Time windows; the plan is made on the first and scored on the next as well.")
@click.option("--current", type=click.Choice(["none", "contiguous"]), default="none", show_default=True,
              help="Give the problem a current placement, so moves are counted.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="Where to write: .json, or .npz (smaller, for DeepSeek-sized co-activation).")
@reports_input_errors
def experts_generate_command(shape, nodes, gpus_per_node, redundant, layers, tokens, windows, current, seed, output):
    """Write a synthetic expert-placement problem shaped like SHAPE (deepseek-v3: 256 experts, top-8,
    58 MoE layers; mixtral: 8 experts, top-2): skewed, drifting expert popularity and clusters of
    co-activated experts, from a seed.

    \b
    Example:
      cpsched experts-generate deepseek-v3 --nodes 4 --gpus-per-node 8 --redundant 32 -o ds.npz
      cpsched solve ds.npz --time-limit 120
    """
    problem = synthetic(shape, nodes=nodes, gpus_per_node=gpus_per_node, redundant=redundant, layers=layers,
                        tokens=tokens, windows=windows, seed=seed,
                        current=None if current == "none" else current)
    if not output.endswith(".npz"):
        write_text(output, write_experts_json(problem))
    else:
        arrays = {"load": problem.loads, "nodes": problem.nodes, "gpus_per_node": problem.gpus_per_node,
                  "slots_per_gpu": problem.slots_per_gpu, "groups": problem.groups,
                  "expert_bytes": problem.expert_bytes, "coactivation": problem.coactivation}
        if problem.current is not None:
            arrays["current"] = problem.current
        try:
            np.savez_compressed(output, **arrays)
        except OSError as error:
            raise InputError(f"cannot write: {error.strerror}", source=output) from None
    click.echo(f"wrote {output}  instance={problem.name}  size={problem.size.replace(' ', '_')}")
