"""The learned dispatching rule: a `Policy` choosing among a `DispatchSimulator`'s candidates.

Greedy (the highest score) for one schedule in milliseconds, or sampled from the softmax of the
scores at a temperature. `sample_best` runs greedy on the instance and on its reversal (whose
schedule, mirrored, is one of the instance's: `instances.reversal`), then samples at temperatures
spread from sharp to flat in the direction whose greedy schedule was shorter, and keeps the
shortest schedule. A recorded rollout keeps each real decision's features and choice, for
training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import JobShop, Schedule
from cpsched.instances.jobshop.reversal import mirrored, reversed_jobshop
from cpsched.instances.jobshop.variant import JobShopVariant
from cpsched.learned_pdr.blocking_simulator import BlockingSimulator, RandomShutdowns, simulator_for
from cpsched.learned_pdr.features import FeatureScales, trained_variant
from cpsched.learned_pdr.observation import Batch, Observation
from cpsched.learned_pdr.policy import Policy
from cpsched.learned_pdr.simulator import DispatchSimulator

DEFAULT_WEIGHTS = "default.npz"  # in learned_pdr/weights/, with its provenance beside it
BLOCKING_WEIGHTS = "blocking.npz"  # the rule trained on blocking job shops (`train-pdr --variant blocking`)
SAMPLE_TEMPERATURES = (0.3, 2.0)  # the sharpest and the flattest of `sample_best`'s spread


class DeadlinePassed(Exception):
    """A rollout given a deadline (time.monotonic()) passed it before its schedule was complete."""


@dataclass
class Trajectory:
    """The decisions of one rollout that had a choice: what the policy saw, and which candidate it
    chose (an index into that decision's candidates)."""

    observations: list[Observation] = field(default_factory=list)
    chosen: list[int] = field(default_factory=list)

    def stacked(self) -> Batch:
        """The trajectory's observations as one batch, for a single pass of the network."""
        return Batch.of(self.observations, self.chosen)


def rollout(problem: JobShop | JobShopVariant, policy: Policy, *, temperature: float = 0.0,
            rng: np.random.Generator | None = None, non_delay: bool = False, record: bool = False,
            shutdowns: RandomShutdowns | None = None, deadline: float | None = None,
            ) -> tuple[Schedule, Trajectory | None, int]:
    """One schedule and its makespan: greedy when `temperature` is 0, else sampled with `rng`;
    raises `DeadlinePassed` at `deadline` (time.monotonic()) if the schedule is not complete."""
    sim = simulator_for(problem, non_delay, shutdowns)
    trajectory = run_policy(sim, policy, FeatureScales(sim), temperature=temperature, rng=rng, record=record,
                            deadline=deadline)
    return sim.schedule(), trajectory, sim.makespan


def run_policy(sim: DispatchSimulator | BlockingSimulator, policy: Policy, scales: FeatureScales, *,
               temperature: float = 0.0, rng: np.random.Generator | None = None,
               record: bool = False, on_decision: Callable[[np.ndarray, Observation], None] | None = None,
               deadline: float | None = None) -> Trajectory | None:
    """Let `policy` make every decision left in `sim` (from wherever it stands), greedy when
    `temperature` is 0, else sampled with `rng`; the real decisions, when `record`. Before each
    real decision, `on_decision(candidates, observation)` may look at `sim`. Past `deadline`
    (time.monotonic()) it raises `DeadlinePassed`: a caller with a time budget loses at most one
    decision's time, however large the instance and however slow the network."""
    trajectory = Trajectory() if record else None
    while not sim.done:
        jobs = sim.candidates()
        if len(jobs) == 1:
            sim.step(int(jobs[0]))
            continue
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlinePassed
        observation = policy.observe(sim, jobs, scales)
        if on_decision is not None:
            on_decision(jobs, observation)
        pick = choose(policy.scores(observation), temperature, rng)
        if trajectory is not None:
            trajectory.observations.append(observation)
            trajectory.chosen.append(pick)
        sim.step(int(jobs[pick]))
    return trajectory


def choose(scores: np.ndarray, temperature: float, rng: np.random.Generator | None) -> int:
    """The highest score when `temperature` is 0, else a draw from the softmax of scores / temperature."""
    if temperature <= 0:
        return int(np.argmax(scores))
    logits = scores / temperature
    p = np.exp(logits - logits.max())
    return min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right")), len(scores) - 1)


def rollout_plan(samples: int, temperatures: tuple[float, float], backward: bool) -> tuple[list[bool], list[float]]:
    """What `sample_best` rolls out: the directions of its greedy rollouts (forward, and backward
    when `backward`), then the temperatures of the rest of `samples`, spread geometrically from the
    first of `temperatures` to the second, all in the direction whose greedy schedule was shorter."""
    greedy = [False] + ([True] if backward else [])
    return greedy, np.geomspace(*temperatures, num=max(samples - len(greedy), 0)).tolist()


def reversible(problem: JobShop | JobShopVariant, shutdowns: RandomShutdowns | None = None) -> bool:
    """Whether the learned rule also builds `problem` backward: a classic job shop read backwards is
    again one, a blocking shop is not, and random shutdowns happen in one direction of time."""
    return isinstance(problem, JobShop) and shutdowns is None


def planned_rollouts(problem: JobShop | JobShopVariant, samples: int, shutdowns: RandomShutdowns | None = None) -> int:
    """How many rollouts `learned_dispatch` makes for `samples` when no time limit cuts it short."""
    greedy, sampled = rollout_plan(samples, SAMPLE_TEMPERATURES, reversible(problem, shutdowns))
    return len(greedy) + len(sampled)


def sample_best(problem: JobShop | JobShopVariant, policy: Policy, samples: int = 1, seed: int = 0,
                non_delay: bool = False, temperatures: tuple[float, float] = SAMPLE_TEMPERATURES, *,
                backward: bool = True, deadline: float | None = None, stop_sampling_at: float | None = None,
                shutdowns: RandomShutdowns | None = None,
                on_rollout: Callable[[Schedule, int], None] | None = None) -> Schedule:
    """The shortest schedule of the rollouts of `rollout_plan`: greedy on the instance and, for a
    classic job shop, greedy on its reversal (mirrored back: `instances.reversal`), then sampled
    ones up to `samples` in all, in the direction whose greedy schedule was shorter (ties: forward).
    Against alternating directions this is better on Taillard with all three weights measured and
    worse on Demirkol with two of them: about even, chosen before those measurements
    (docs/notes, `benchmarks/pdr_directions.py`).
    `samples=1` is the greedy pair; `backward=False` keeps to the instance's own direction (the
    only one for blocking shops and under `shutdowns`).

    The forward greedy rollout raises `DeadlinePassed` at `deadline`; the backward greedy one
    stops there too, keeping the forward schedule; the sampled ones stop at `deadline` or at
    `stop_sampling_at` (both time.monotonic()), keeping the best so far, so a time limit bounds K
    rollouts of a large instance while the greedy pair, and so `pdr`, does not depend on it.
    `on_rollout(schedule, makespan)` hears of each finished rollout, so a caller interrupted
    meanwhile (Ctrl-C) still holds the best schedule."""
    reverse = reversed_jobshop(problem) if backward and reversible(problem, shutdowns) else None
    sampling_ends = min((t for t in (deadline, stop_sampling_at) if t is not None), default=None)
    rng = np.random.default_rng(seed)
    greedy, temperatures_sampled = rollout_plan(samples, temperatures, reverse is not None)
    best, best_makespan, best_backward = None, None, False

    def build(is_backward: bool, temperature: float, ends: float | None) -> tuple[Schedule, int]:
        if is_backward:
            mirror = rollout(reverse, policy, temperature=temperature, rng=rng, non_delay=non_delay, deadline=ends)[0]
            schedule = mirrored(problem, mirror.starts)
            return schedule, problem.makespan_of(schedule.starts)
        schedule, _, makespan = rollout(problem, policy, temperature=temperature, rng=rng, non_delay=non_delay,
                                        shutdowns=shutdowns, deadline=ends)
        return schedule, makespan

    # a sampled rollout's direction is None: it follows the shorter greedy schedule, known by then
    plan = [(is_backward, 0.0) for is_backward in greedy] + [(None, float(t)) for t in temperatures_sampled]
    for is_backward, temperature in plan:
        try:
            schedule, makespan = build(best_backward if is_backward is None else is_backward, temperature,
                                       deadline if temperature == 0 else sampling_ends)
        except DeadlinePassed:
            if best is None:
                raise
            break
        if on_rollout is not None:
            on_rollout(schedule, makespan)
        if best_makespan is None or makespan < best_makespan:
            best, best_makespan = schedule, makespan
            if is_backward is not None:
                best_backward = is_backward
    return best


def default_weights_path(variant: str = "classic") -> Path:
    """The shipped weights for job shops (`classic`) or for blocking job shops (`blocking`)."""
    name = BLOCKING_WEIGHTS if variant == "blocking" else DEFAULT_WEIGHTS
    return Path(str(resources.files("cpsched.learned_pdr") / "weights" / name))


def load_policy(path: str | Path | None = None, variant: str = "classic") -> Policy:
    """The shipped policy for `variant`, or the weights at `path` (from `cpsched train-pdr`); weights
    trained for the other variant are refused, since they read other features."""
    if path is None and not default_weights_path(variant).exists():
        flag = "" if variant == "classic" else f" --variant {variant}"
        raise InputError(f"this installation has no trained weights for the learned rule on {variant} job shops; "
                         f"train some with `cpsched train-pdr{flag} --out weights.npz` and pass "
                         "`--weights weights.npz`")
    source = path if path is not None else default_weights_path(variant)
    policy = Policy.load(source)
    trained_for = trained_variant(policy.features)
    if trained_for != variant:
        raise InputError(f"{source}: these weights are for {trained_for} job shops, not {variant} ones; train "
                         f"some with `cpsched train-pdr --variant {variant}`")
    return policy


LEARNED = "pdr"  # the learned rule, greedy (both directions): `--method pdr`, `--warm-start pdr`
LEARNED_SAMPLED = "pdr-sample:"  # `pdr-sample:32`: the best of 32 rollouts


def learned_dispatch(problem: JobShop | JobShopVariant, samples: int = 1, seed: int = 0,
                     weights: str | Path | None = None, shutdowns: RandomShutdowns | None = None,
                     deadline: float | None = None, stop_sampling_at: float | None = None,
                     on_rollout: Callable[[Schedule, int], None] | None = None, backward: bool = True) -> Schedule:
    """The learned rule's schedule: greedy (the shorter of the forward and the backward greedy
    schedules of a classic job shop; `backward=False` builds forward only), or the best of `samples`
    rollouts (not under random shutdowns: keeping the best of several runs would need to know the
    shutdowns in advance, and a backward run would need them in reverse). The first rollout, if
    not done by `deadline`, raises `DeadlinePassed`; the others stop at `deadline`, the sampled
    ones also at `stop_sampling_at`, keeping the best so far (see `sample_best`)."""
    if samples > 1 and shutdowns is not None:
        raise InputError("pdr-sample keeps the best of several runs, which needs the shutdowns known in advance; "
                         "under random shutdowns use the greedy rule, pdr")
    blocking = isinstance(problem, JobShopVariant)
    variant = "blocking" if blocking else "classic"
    policy = load_policy(weights, variant)
    non_delay = blocking or bool(policy.metadata.get("config", {}).get("non_delay", False))
    return sample_best(problem, policy, samples, seed, non_delay, backward=backward, deadline=deadline,
                       stop_sampling_at=stop_sampling_at, shutdowns=shutdowns, on_rollout=on_rollout)
