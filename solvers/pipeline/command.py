"""The pipeline family on the command line: `cpsched pipeline-profile`, and what `cpsched solve`
prints for a pipeline problem."""

from __future__ import annotations

import json
from dataclasses import replace

import click

from cpsched.instances.pipeline.problem import SCHEDULES, PipelineProblem, write_pipeline
from cpsched.instances.pipeline.profiles import GPUS, PROFILES, ProfileOptions, model_shape, profile_problem
from cpsched.solvers.cli_errors import reports_input_errors, write_text
from cpsched.solvers.family import ReportOptions
from cpsched.solvers.pipeline.report import baseline_line, draw_timeline, megatron_arguments, stage_table, summary_line
from cpsched.solvers.result import Result


def report_pipeline(problem: PipelineProblem, result: Result, options: ReportOptions) -> None:
    """Print the plan (table, summary line, baselines, or JSON) and write the files asked for; say
    why when no placement fits."""
    as_json, emit, output, plot = options.as_json, options.emit, options.output, options.plot
    placement = result.solution
    summary = result.summary()
    if placement is not None:
        summary["placement"] = placement.to_document(problem)
    err = options.report_to_stderr
    if as_json:
        click.echo(json.dumps(summary))
    else:
        if placement is not None:
            click.echo(stage_table(result), err=err)
        click.echo(summary_line(result), err=err)
        click.echo(baseline_line(result), err=err)
    if result.status == "infeasible":
        reason = result.metrics.get("reason") or "; ".join(result.metrics.get("violations", []))
        click.echo(f"error: {problem.name}: no placement fits: {reason}", err=True)
        return
    if placement is None:
        return
    if emit == "megatron":
        click.echo(megatron_arguments(problem, placement))
    elif emit == "json":
        click.echo(json.dumps(placement.to_document(problem), indent=1))
    if output:
        write_text(output, json.dumps(placement.to_document(problem), indent=1) + "\n")
    if plot:
        draw_timeline(problem, placement, plot)


PIPELINE_PROFILE_HELP = """Write the pipeline problem of training MODEL: a built-in profile or a Hugging Face
config.json.

Layer times come from the analytic FLOPs of Narayanan et al. (SC'21) at the given efficiency of
the GPU's peak; activation memory from Korthikanti et al. (MLSys'23), as Megatron-LM computes it.
Every decoder layer may be recomputed (full recomputation).

\b
Built-in profiles: {profiles}

\b
Example:
  cpsched pipeline-profile llama3-8b --seq 4096 --micro-batch 1 --tp 1 --gpu h100 > problem.json
  cpsched solve problem.json --emit megatron
""".format(profiles=", ".join(PROFILES))


@click.command("pipeline-profile", help=PIPELINE_PROFILE_HELP)
@click.argument("model")
@click.option("--seq", type=click.IntRange(min=1), default=4096, show_default=True, help="Sequence length.")
@click.option("--micro-batch", type=click.IntRange(min=1), default=1, show_default=True, help="Microbatch size.")
@click.option("--tp", type=click.IntRange(min=1), default=1, show_default=True,
              help="Tensor-parallel degree within each stage (divides times, weights and activations).")
@click.option("--gpu", type=click.Choice(sorted(GPUS)), default="h100", show_default=True,
              help="Sets the peak FLOPS behind the layer times and the default memory cap.")
@click.option("--efficiency", type=click.FloatRange(min=0, max=1, min_open=True), default=0.5, show_default=True,
              help="Share of the GPU's bf16 peak the matmuls reach.")
@click.option("--stages", "-p", type=click.IntRange(min=1), default=4, show_default=True,
              help="Pipeline stages (devices).")
@click.option("--microbatches", "-m", type=click.IntRange(min=1), default=None,
              help="Microbatches per iteration.  [default: 4 x stages]")
@click.option("--schedule", type=click.Choice(SCHEDULES), default="1f1b", show_default=True)
@click.option("--virtual-stages", type=click.IntRange(min=1), default=1, show_default=True,
              help="Model chunks per device (interleaved schedule).")
@click.option("--memory-gb", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Memory cap per device in GB.  [default: the GPU's memory]")
@click.option("--bytes-per-param", type=click.FloatRange(min=0), default=18.0, show_default=True,
              help="Weights, gradients and optimizer state per parameter: 18 for bf16 + fp32 Adam; "
                   "6 + 12/dp with a distributed optimizer.")
@click.option("--vocab-shards", type=click.IntRange(min=1), default=1, show_default=True,
              help="Let the output layer be cut into this many shards placed on any stage (vocabulary "
                   "parallelism); 1 keeps it whole on the last stage.")
@click.option("--vocab", type=click.IntRange(min=1), default=None, help="Override the vocabulary size.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the problem here instead of stdout.")
@reports_input_errors
def pipeline_profile_command(model, seq, micro_batch, tp, gpu, efficiency, stages, microbatches, schedule,
                             virtual_stages, memory_gb, bytes_per_param, vocab_shards, vocab, output):
    """The help text is PIPELINE_PROFILE_HELP: it lists the built-in profiles, which a docstring cannot."""
    shape = model_shape(model)
    if vocab:
        shape = replace(shape, vocab=vocab)
    options = ProfileOptions(seq=seq, micro_batch=micro_batch, tp=tp, gpu=gpu, efficiency=efficiency, stages=stages,
                             microbatches=microbatches, schedule=schedule, virtual_stages=virtual_stages,
                             memory_gb=memory_gb, bytes_per_param=bytes_per_param, vocab_shards=vocab_shards)
    text = write_pipeline(profile_problem(shape, options))
    if output:
        write_text(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
