"""What `cpsched solve problem.json` prints for a pipeline plan: the stage table, the summary line,
the baselines, the Megatron-LM arguments that reproduce the plan, and the timeline plot."""

from __future__ import annotations

import itertools
from pathlib import Path

from cpsched.instances.pipeline.problem import TICKS_PER_MS, PipelineProblem, Placement
from cpsched.instances.pipeline.schedule import VOCAB_PASSES, evaluate
from cpsched.solvers.result import Result

LAYOUT_LETTERS = {"embedding": "E", "output": "L", "loss": "L", "final_norm": "", "mtp": "m"}


def stage_table(result: Result) -> str:
    rows = result.metrics.get("stages", [])
    lines = [f"{'stage':>5} {'device':>6}  {'layers':<28} {'recomp':>6} {'time ms':>9} {'vocab ms':>8} "
             f"{'shards':>6} {'memory GB':>9} {'% cap':>6}"]
    for row in rows:
        lines.append(f"{row['stage']:>5} {row['device']:>6}  {row['layers']:<28} {row['recomputed']:>6} "
                     f"{row['time_ms']:>9.2f} {row['vocab_ms']:>8.2f} {row['shards']:>6} "
                     f"{row['memory_gb']:>9.2f} {row['percent_of_cap']:>5.1f}%")
    return "\n".join(lines)


def baseline_line(result: Result) -> str:
    """Each baseline's iteration time and how much slower than the plan it is."""
    parts = []
    for name, entry in result.metrics.get("baselines", {}).items():
        if entry is None:
            parts.append(f"{name}=none")
        elif not entry["fits"]:
            parts.append(f"{name}=out-of-memory")
        else:
            ratio = f" ({entry['iteration_ms'] / result.objective:.3f}x)" if result.objective else ""
            parts.append(f"{name}={entry['iteration_ms']:.2f}ms{ratio}")
        if entry is not None and entry.get("cut"):
            parts[-1] += "(cut)"
    line = "baselines: " + "  ".join(parts)
    if any(entry is not None and entry.get("cut") for entry in result.metrics.get("baselines", {}).values()):
        line += "  [(cut): the sweep stopped at its share of the time limit; a longer limit tries every split]"
    return line


def summary_line(result: Result) -> str:
    m = result.metrics
    ms = "-" if result.objective is None else f"{result.objective:.3f}"
    bound = "-" if result.bound is None else f"{result.bound:.3f}"
    fields = [f"instance={m.get('instance', '-')}", f"iteration_ms={ms}", f"bound_ms={bound}",
              f"status={result.status}" + ("  interrupted=yes" if m.get("interrupted") else "")]
    if "bubble" in m:
        fields.append(f"bubble={100 * m['bubble']:.1f}%")
    if "speedup_vs_best_baseline" in m:  # against the strongest baseline only: the others' ratios follow
        fields.append(f"speedup_vs_best_baseline={m['speedup_vs_best_baseline']:.3f}")
        fields.append(f"best_baseline={m['best_baseline']}")
    fields += [f"seconds={result.wall_time:.2f}", f"method={result.method}"]
    return "  ".join(fields)


def _run_length(letters: list[str]) -> str:
    """'tttt' as 't*4', as Megatron's layout strings allow."""
    out = []
    for letter, group in itertools.groupby(letters):
        count = len(list(group))
        out.append(letter if count == 1 else f"{letter}*{count}")
    return "".join(out)


def megatron_arguments(problem: PipelineProblem, placement: Placement) -> str:
    """Megatron-LM arguments for `placement`: first/last-stage layer counts where they suffice,
    else a --pipeline-model-parallel-layout string; recompute and shards as notes where Megatron
    has no exact flag."""
    p, v = problem.stages, problem.virtual_stages
    lines = [f"--pipeline-model-parallel-size {p}"]
    letters_per_stage = []
    decoder_counts = []
    for s in range(problem.virtual_count):
        layers = [problem.layers[i] for i in placement.stage_layers(problem, s)]
        letters_per_stage.append([LAYOUT_LETTERS.get(x.kind, "t") for x in layers])
        decoder_counts.append(sum(LAYOUT_LETTERS.get(x.kind, "t") == "t" for x in layers))
    last = (problem.virtual_count - 1) % p
    if problem.head and all(row[last] == sum(row) for row in placement.shards):  # the head unsplit, last
        letters_per_stage[-1] += [LAYOUT_LETTERS.get(x.kind, "t") for x in problem.head]
    lines.append(f"--num-layers {sum(decoder_counts)}")
    if v == 1 and p > 1 and len(set(decoder_counts[1:-1])) <= 1 and min(decoder_counts) >= 1:
        if len(set(decoder_counts)) > 1:  # Megatron puts the embedding first and the output last itself
            lines.append(f"--decoder-first-pipeline-num-layers {decoder_counts[0]}")
            lines.append(f"--decoder-last-pipeline-num-layers {decoder_counts[-1]}")
    else:
        if v > 1:
            lines.append(f"--num-virtual-stages-per-pipeline-rank {v}")
        layout = "|".join(_run_length([x for x in letters if x]) for letters in letters_per_stage)
        lines.append(f'--pipeline-model-parallel-layout "{layout}"')
    recomputed = [sum(placement.recompute[i] for i in placement.stage_layers(problem, s))
                  for s in range(problem.virtual_count)]
    if any(recomputed):
        lines.append(f"--recompute-granularity full --recompute-method block --recompute-num-layers {max(recomputed)}")
        if len(set(recomputed)) > 1:
            lines.append(f"# the plan recomputes {recomputed} layers per stage; Megatron's block method takes one "
                         "count for every stage (the largest is given above)")
    if problem.head and any(sum(1 for d in row if d) > 1 for row in placement.shards):
        spread = {x.name: row for x, row in zip(problem.head, placement.shards)}
        lines.append(f"# vocabulary shards per device {spread}: Megatron-LM has no flag for this; the "
                     "vocabulary-parallel fork (sail-sg/VocabularyParallelism) runs it")
    return "\n".join(lines)


def draw_timeline(problem: PipelineProblem, placement: Placement, path: str | Path) -> None:
    """One row per device, a bar per forward (light), backward (dark) and vocabulary pass S and T (grey),
    labelled by microbatch."""
    from cpsched.solvers.plotting import require_matplotlib

    plt = require_matplotlib("--plot")
    result = evaluate(problem, placement)
    figure, axes = plt.subplots(figsize=(14, 0.5 * problem.stages + 1.5))
    colours = {"F": "#7fb3e6", "B": "#1f5f99", "S": "#bbbbbb", "T": "#777777"}
    for op, start in result.starts.items():
        kind, index, micro = op
        device = index if kind in VOCAB_PASSES else index % problem.stages
        width = result.durations[op] / TICKS_PER_MS
        axes.broken_barh([(start / TICKS_PER_MS, width)], (device - 0.4, 0.8), facecolors=colours[kind],
                         edgecolor="white", linewidth=0.3)
        if problem.microbatches <= 32 and width > result.iteration_ms / 150:
            axes.text(start / TICKS_PER_MS + width / 2, device, str(micro), ha="center", va="center", fontsize=6,
                      color="white" if kind == "B" else "black")
    axes.set_yticks(range(problem.stages), [f"device {d}" for d in range(problem.stages)])
    axes.invert_yaxis()
    axes.set_xlabel("ms")
    axes.set_title(f"{problem.name}: {problem.schedule}, iteration {result.iteration_ms:.1f} ms, "
                   f"bubble {100 * result.bubble:.1f}%")
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)
