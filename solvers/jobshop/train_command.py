"""`cpsched train-pdr`: train the learned dispatching rule, with progress, checkpoints and provenance."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from pathlib import Path

import click
import numpy as np
import ortools

from cpsched.instances.errors import InputError
from cpsched.learned_pdr.features import FEATURE_SETS
from cpsched.learned_pdr.policy import NETWORKS
from cpsched.learned_pdr.training import (
    OBJECTIVES,
    TrainingConfig,
    TrainingState,
    load_checkpoint,
    train,
    trained_policy,
)
from cpsched.solvers.cli_errors import EXIT_INTERRUPTED, reports_input_errors
from cpsched.solvers.provenance import source_commit


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".npz") + ".ckpt.npz")


def provenance_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".npz") + ".json")


DEFAULT_SHUTDOWNS = (0.0, 0.01, 0.05)  # the probabilities the blocking benchmark compares rules under


def parse_probabilities(text: str | None, variant: str) -> tuple[float, ...]:
    """'0,0.01,0.05' as probabilities; None gives the default of the variant."""
    if text is None:
        return DEFAULT_SHUTDOWNS if variant == "blocking" else ()
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"--shutdowns '{text}': expected probabilities separated by commas, "
                         "e.g. 0,0.01,0.05") from None


@click.command("train-pdr")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True,
              help="Weights file to write (.npz); its provenance goes beside it (.json), checkpoints to .ckpt.npz.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Stop after this much training time (earlier sessions of a resumed run count).")
@click.option("--updates", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Stop after this many updates; with the seed this fixes the weights exactly.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of everything.")
@click.option("--instances-per-update", type=click.IntRange(min=1), default=TrainingConfig.instances_per_update,
              show_default=True, help="Random instances (6x6 to 30x20) per update.")
@click.option("--rollouts", type=click.IntRange(min=2), default=TrainingConfig.rollouts, show_default=True,
              help="Sampled schedules per instance (reinforce: their mean is the baseline; self-label: the best "
                   "is imitated).")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True),
              default=TrainingConfig.learning_rate, show_default=True, help="Adam's step size.")
@click.option("--non-delay", is_flag=True, help="Decide among non-delay candidates instead of active ones "
              "(blocking dispatch always is).")
@click.option("--variant", type=click.Choice(["classic", "blocking"]), default="classic", show_default=True,
              help="Train on job shops, or on blocking job shops with swaps (their own simulator, two more features).")
@click.option("--shutdowns", default=None, metavar="Q,Q,...",
              help="Blocking: each training instance meets random shutdowns with one of these probabilities per "
                   "machine and time unit, so the rule learns to react to them.  [default: 0,0.01,0.05 for "
                   "blocking]")
@click.option("--objective", type=click.Choice(OBJECTIVES), default=TrainingConfig.objective, show_default=True,
              help="reinforce: push up rollouts better than their mean; self-label: imitate the best rollout "
                   "of each instance (Corsini et al. 2024); rollout-label: at a few decisions try every "
                   "candidate, complete each schedule greedily, and imitate the best (classic only).")
@click.option("--labelled-decisions", type=click.IntRange(min=1), default=TrainingConfig.labelled_decisions,
              show_default=True, help="rollout-label: decisions per instance whose candidates are all tried.")
@click.option("--hidden", type=click.IntRange(min=1), default=TrainingConfig.hidden, show_default=True,
              help="Units in each of the network's two hidden layers.")
@click.option("--features", "feature_set", type=click.Choice(list(FEATURE_SETS)), default=TrainingConfig.feature_set,
              show_default=True, help="What the network reads of each candidate: standard (12 features), or "
              "lookahead (6 more about the job's following operation, bottleneck machines and slack; classic only).")
@click.option("--network", type=click.Choice(list(NETWORKS)), default=TrainingConfig.network, show_default=True,
              help="pooled: score each candidate from its features and their mean and maximum over the "
              "candidates; attention: each candidate also attends over every unfinished job.")
@click.option("--averaging", type=click.FloatRange(min=0, max=1, max_open=True), default=TrainingConfig.averaging,
              show_default=True, help="Validate and keep a moving average of the weights with this decay "
              "(e.g. 0.99; 0: the weights themselves).")
@click.option("--leader-weight", type=click.FloatRange(min=1), default=TrainingConfig.leader_weight,
              show_default=True, help="reinforce: multiply the best rollout's advantage by this, so training aims "
              "at the best of several schedules, as pdr-sample keeps, rather than their mean (after Leader "
              "Reward, Wang et al. 2024).")
@click.option("--validation-samples", type=click.IntRange(min=1), default=TrainingConfig.validation_samples,
              show_default=True, help="Keep the weights whose best of this many rollouts (as pdr-sample:K) is "
              "shortest on the validation instances; 1: their greedy schedules.")
@click.option("--validate-every", type=click.IntRange(min=1), default=TrainingConfig.validate_every,
              show_default=True, help="Updates between validations (and checkpoints).")
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Compute each update's instances on this many processes (2 uses both cores of a 2-core "
              "machine); the weights are the same for any number.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@reports_input_errors
def train_pdr_command(out, minutes, updates, seed, instances_per_update, rollouts, learning_rate, non_delay, variant,
                      shutdowns, objective, labelled_decisions, hidden, feature_set, network, averaging, leader_weight,
                      validation_samples, validate_every, processes, quiet):
    """Train the learned dispatching rule by reinforcement learning (REINFORCE, self-labeling or
    rollout labels; Adam) on random job shops from the seeded generator, never on benchmark instances.

    Every few updates the rule is scored on fixed validation instances (greedy, or the best of
    --validation-samples rollouts) and a checkpoint is written; the same command resumes an
    interrupted run, and the same seed and number of updates give the same weights. The weights
    kept are the best validated ones. Prints one summary line.

    \b
    Examples:
      cpsched train-pdr --minutes 60 --seed 0 --out weights.npz
      cpsched solve ta41 --method pdr --weights weights.npz
      cpsched train-pdr --variant blocking --minutes 30 --out blocking.npz
      cpsched solve la21 --blocking --method pdr --shutdown 0.01 --weights blocking.npz
    """
    out = Path(out)
    if not out.name.endswith(".npz"):
        raise InputError("--out: the weights file must end in .npz", source=str(out))
    if not out.resolve().parent.is_dir():
        raise InputError(f"--out: no folder {out.resolve().parent}", source=str(out))
    config = TrainingConfig(seed=seed, instances_per_update=instances_per_update, rollouts=rollouts,
                            learning_rate=learning_rate, non_delay=non_delay or variant == "blocking", variant=variant,
                            shutdowns=parse_probabilities(shutdowns, variant), objective=objective, hidden=hidden,
                            feature_set=feature_set, labelled_decisions=labelled_decisions, network=network,
                            averaging=averaging, leader_weight=leader_weight,
                            validation_samples=validation_samples, validate_every=validate_every)
    checkpoint = checkpoint_path(out)
    commit = source_commit()  # of the code that trains, taken before: commits made meanwhile do not count
    if checkpoint.exists() and not quiet:
        click.echo(f"resuming from {checkpoint}", err=True)
    bar = None if quiet else click.progressbar(length=1000, label="training", file=sys.stderr,
                                               item_show_func=lambda text: text)
    shown = 0

    def on_progress(state: TrainingState) -> None:
        nonlocal shown
        if bar is None:
            return
        done = int(1000 * min(1.0, max(state.update / updates, state.seconds / (60 * minutes))))
        best = f"{100 * state.best_gap:.1f}%" if state.curve else "-"
        latest = f"{100 * state.curve[-1]['gap']:.1f}%" if state.curve else "-"
        bar.update(done - shown, f"update {state.update}  validation gap {latest} (best {best})")
        shown = done

    interrupted = False
    with bar if bar is not None else contextlib.nullcontext():
        try:
            state = train(config, updates=updates, minutes=minutes, checkpoint=checkpoint, on_progress=on_progress,
                          processes=processes)
        except KeyboardInterrupt:  # keep what the last checkpoint holds
            if not checkpoint.exists():
                raise
            interrupted, state = True, load_checkpoint(checkpoint, config)
    best = min(state.curve, key=lambda point: point["gap"])
    provenance = {
        "command": "cpsched " + " ".join(sys.argv[1:]) if sys.argv else None,
        "seed": seed,
        "commit": commit,
        "config": dataclasses.asdict(config),
        "updates": state.curve[-1]["update"],  # reproduce exactly with --updates this (and the same seed)
        "best_update": best["update"],
        "validation_gap": best["gap"],
        "training_seconds": state.seconds,
        "validation_curve": state.curve,
        "versions": {"numpy": np.__version__, "ortools": ortools.__version__},
    }
    trained_policy(state, provenance).save(out)
    provenance_path(out).write_text(json.dumps(provenance, indent=1) + "\n")
    click.echo(f"wrote {out}  updates={provenance['updates']}  best_update={best['update']}  "
               f"validation_gap={100 * best['gap']:.2f}%  seconds={state.seconds:.0f}"
               + ("  (interrupted: the same command resumes)" if interrupted else ""))
    if best["update"] == 0 and provenance["updates"] > 0:
        click.echo(f"note: {out} holds the initial weights: {provenance['updates']} updates did not beat them on "
                   "the validation set; train longer (the same command resumes)", err=True)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
