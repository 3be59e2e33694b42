"""Static priority dispatching rules, named as users write them: `mwkr`, `mopnr:active`, ...

A rule scores the candidate jobs of a `DispatchSimulator`; the smallest score is dispatched, ties
go to the lower job index. A rule spec is `NAME` (a non-delay schedule, which measured better on
the Taillard sets) or `NAME:active` (Giffler-Thompson active schedule).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import JobShop, Schedule
from cpsched.instances.jobshop.variant import JobShopVariant
from cpsched.learned_pdr.blocking_simulator import BlockingSimulator, RandomShutdowns, simulator_for
from cpsched.learned_pdr.learned import (
    LEARNED,
    LEARNED_SAMPLED,
    DeadlinePassed,
    default_weights_path,
    learned_dispatch,
    planned_rollouts,
)
from cpsched.learned_pdr.simulator import DispatchSimulator

Rule = Callable[[DispatchSimulator | BlockingSimulator, np.ndarray, np.random.Generator], np.ndarray]


def _flow_due_date_per_work(sim: DispatchSimulator, jobs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """FDD/MWKR: the job's work up to the end of this operation over the work it has left."""
    remaining = sim.remaining_work[jobs]
    flow_due = sim.problem.job_work[jobs] - remaining + sim.candidate_duration[jobs]
    return flow_due / np.maximum(remaining, 1)


RULES: dict[str, Rule] = {
    "spt": lambda sim, jobs, rng: sim.candidate_duration[jobs],  # shortest processing time
    "lpt": lambda sim, jobs, rng: -sim.candidate_duration[jobs],  # longest processing time
    "mwkr": lambda sim, jobs, rng: -sim.remaining_work[jobs],  # most work remaining
    "lwkr": lambda sim, jobs, rng: sim.remaining_work[jobs],  # least work remaining
    "mopnr": lambda sim, jobs, rng: sim.next_op[jobs] - sim.job_end[jobs],  # most operations remaining
    "fifo": lambda sim, jobs, rng: sim.job_ready[jobs],  # first in (to the machine's queue), first out
    "fdd/mwkr": _flow_due_date_per_work,
    "random": lambda sim, jobs, rng: rng.random(len(jobs)),
}
RULE_ALIASES = {"fdd-mwkr": "fdd/mwkr", "fdd_mwkr": "fdd/mwkr"}
VARIANTS = ("non-delay", "active")

# Order in which `best_dispatch` tries static rules when time is short: best first on the Taillard sets.
PREFERRED = [rule + ("" if non_delay else ":active") for non_delay in (True, False)
             for rule in ("fdd/mwkr", "mopnr", "mwkr", "spt", "fifo", "lwkr", "lpt")]


@dataclass(frozen=True)
class RuleSpec:
    """A dispatching rule as a user names it, parsed: a static rule (`mwkr`, `spt:active`) or the
    learned one (`pdr` greedy, `pdr-sample:32` the best of 32 rollouts). `str()` gives it back in
    canonical spelling."""

    rule: str  # a key of RULES, or LEARNED
    non_delay: bool = True
    samples: int | None = None  # `pdr-sample:K`: K rollouts of the learned rule; None for greedy `pdr`

    @property
    def learned(self) -> bool:
        """Whether this names the learned rule rather than a static one."""
        return self.rule == LEARNED

    def __str__(self) -> str:
        if self.learned:
            return LEARNED if self.samples is None else f"{LEARNED_SAMPLED}{self.samples}"
        return self.rule + ("" if self.non_delay else ":active")

    @property
    def rollouts(self) -> int:
        """Rollouts the learned rule is asked for (1 for greedy)."""
        return self.samples or 1


def parse_rule_spec(spec: str | RuleSpec, *, learned: bool = True) -> RuleSpec:
    """The one parser of rule specs (case and spaces ignored); an InputError that says what is wrong
    and what is valid. `learned=False` admits only the static rules."""
    if isinstance(spec, RuleSpec):
        return spec
    text = spec.strip().lower()
    if learned and text == LEARNED:
        return RuleSpec(LEARNED)
    if learned and text.startswith(LEARNED_SAMPLED):
        count = text[len(LEARNED_SAMPLED):]
        if not count.isdigit() or int(count) < 1:
            raise InputError(f"'{text}': the number of samples must be a whole number of at least 1, "
                             f"as in {LEARNED_SAMPLED}32")
        return RuleSpec(LEARNED, samples=int(count))
    name, _, variant = text.partition(":")
    name = RULE_ALIASES.get(name, name)
    if name not in RULES:
        raise InputError(f"unknown dispatching rule '{spec}'; choose one of {', '.join(RULES)} "
                         f"(optionally with ':active'), or the learned rule: pdr, pdr-sample:K")
    if variant not in ("", *VARIANTS):
        raise InputError(f"unknown variant '{variant}' in rule '{spec}'; choose {' or '.join(VARIANTS)}")
    return RuleSpec(name, non_delay=variant != "active")


def parse_rule(spec: str) -> tuple[str, bool]:
    """A static rule spec as (name, non_delay): `mwkr` -> ("mwkr", True); `mwkr:active` -> ("mwkr", False)."""
    parsed = parse_rule_spec(spec, learned=False)
    return parsed.rule, parsed.non_delay


CHECK_EVERY = 1024  # dispatch steps between looks at the deadline


def dispatch(problem: JobShop | JobShopVariant, rule: str = "mwkr", non_delay: bool = True, seed: int = 0,
             shutdowns: RandomShutdowns | None = None, deadline: float | None = None) -> Schedule:
    """The schedule the named rule builds (`seed` feeds the `random` rule); a blocking job shop is
    dispatched on its own simulator, meeting `shutdowns` as they happen. Raises `DeadlinePassed` at
    `deadline` (time.monotonic()) if the schedule is not complete."""
    if rule not in RULES:
        raise ValueError(f"unknown rule '{rule}'; choose one of {', '.join(RULES)}")
    score = RULES[rule]
    rng = np.random.default_rng(seed)
    sim = simulator_for(problem, non_delay, shutdowns)
    steps = 0
    while not sim.done:
        jobs = sim.candidates()
        sim.step(int(jobs[np.argmin(score(sim, jobs, rng))]) if len(jobs) > 1 else int(jobs[0]))
        steps += 1
        if deadline is not None and steps % CHECK_EVERY == 0 and time.monotonic() >= deadline:
            raise DeadlinePassed
    return sim.schedule()


@njit(cache=True)
def _in_rank_order(job_starts: np.ndarray, machines: np.ndarray, durations: np.ndarray, n_machines: int
                   ) -> np.ndarray:
    starts = np.zeros(len(machines), np.int64)
    job_free = np.zeros(len(job_starts) - 1, np.int64)
    machine_free = np.zeros(n_machines, np.int64)
    longest = int(np.max(np.diff(job_starts))) if len(job_starts) > 1 else 0
    for rank in range(longest):
        for j in range(len(job_starts) - 1):
            op = job_starts[j] + rank
            if op < job_starts[j + 1]:
                at = max(job_free[j], machine_free[machines[op]])
                starts[op] = at
                job_free[j] = machine_free[machines[op]] = at + durations[op]
    return starts


def rank_order_schedule(problem: JobShop) -> Schedule:
    """Every job's first operations, then every job's second, ..., each as early as its job and
    machine allow: a valid schedule in milliseconds on a million operations, far from the best (what
    `best_dispatch` falls back on when even its first rule cannot finish in time)."""
    return Schedule(_in_rank_order(problem.job_starts, problem.machines, problem.durations, problem.n_machines))


def dispatch_spec(problem: JobShop | JobShopVariant, spec: str | RuleSpec, seed: int = 0,
                  weights: str | Path | None = None, shutdowns: RandomShutdowns | None = None,
                  deadline: float | None = None, stop_sampling_at: float | None = None,
                  on_rollout: Callable[[Schedule, int], None] | None = None) -> Schedule:
    """The schedule of a rule spec as users write it: a static rule (`mwkr`, `spt:active`) or the
    learned one (`pdr`, `pdr-sample:32`; `weights` picks a policy file other than the shipped one).
    The learned greedy rule raises `DeadlinePassed` at `deadline`; `pdr-sample` stops sampling at
    `stop_sampling_at` and tells `on_rollout` of each rollout (see `sample_best`); static rules take
    milliseconds."""
    parsed = parse_rule_spec(spec)
    if parsed.learned:
        return learned_dispatch(problem, parsed.rollouts, seed, weights, shutdowns, deadline, stop_sampling_at,
                                on_rollout)
    return dispatch(problem, parsed.rule, parsed.non_delay, seed, shutdowns, deadline)


@dataclass(frozen=True)
class Dispatched:
    """A rule spec's schedule, how many rollouts it planned (K for `pdr-sample:K`, 2 for `pdr` on a
    classic job shop, else 1) and made (fewer when the time limit or Ctrl-C cut the sampling short),
    and whether Ctrl-C did."""

    schedule: Schedule
    asked: int
    rollouts: int
    interrupted: bool = False

    def metrics(self) -> dict:
        """The rollout counts of the learned rule, for a result's metrics (nothing for one rollout)."""
        return {"rollouts": self.rollouts, "rollouts_asked": self.asked} if self.asked > 1 else {}


def dispatch_within(problem: JobShop | JobShopVariant, spec: str | RuleSpec, seed: int = 0,
                    weights: str | Path | None = None, shutdowns: RandomShutdowns | None = None,
                    stop_sampling_at: float | None = None,
                    on_improvement: Callable[[Schedule, int], None] | None = None,
                    deadline: float | None = None) -> Dispatched:
    """`dispatch_spec` for a solve with a time limit: `pdr-sample` samples until `stop_sampling_at`,
    a rule whose (first) schedule is not done by `deadline` raises `DeadlinePassed`, and Ctrl-C after
    its first schedule returns the best so far instead of losing it (Ctrl-C before then still
    raises). `on_improvement(schedule, makespan)` hears of each new best while it samples."""
    parsed = parse_rule_spec(spec)
    asked = planned_rollouts(problem, parsed.rollouts, shutdowns) if parsed.learned else 1
    best: Schedule | None = None
    best_makespan, rollouts = 0, 0

    def keep(schedule: Schedule, makespan: int) -> None:
        nonlocal best, best_makespan, rollouts
        rollouts += 1
        if best is None or makespan < best_makespan:
            best, best_makespan = schedule, makespan
            if on_improvement is not None:
                on_improvement(schedule, makespan)

    try:
        schedule = dispatch_spec(problem, spec, seed, weights, shutdowns, deadline=deadline,
                                 stop_sampling_at=stop_sampling_at, on_rollout=keep)
    except KeyboardInterrupt:
        if best is None:
            raise
        return Dispatched(best, asked, rollouts, interrupted=True)
    return Dispatched(schedule, asked, max(rollouts, 1))  # a static rule makes no rollout of the network


# A pooled-network greedy rollout costs about 6x a static rule's (docs/notes). The learned
# rule runs when its forward rollout should end in time; its backward one stops at the deadline.
LEARNED_COST = 8


def best_specs(weights: str | Path | None = None) -> list[str]:
    """The rules `best_dispatch` tries, in order. The learned rule (the shipped one where installed,
    or `weights`) comes second: it beats every static rule on every Taillard and Demirkol size group
    (docs/results.md) but takes longer, so the fastest good static rule still gives the first schedule."""
    specs = list(PREFERRED)
    if weights is not None or default_weights_path().exists():
        specs.insert(1, LEARNED)
    return specs


def best_dispatch(
    problem: JobShop, deadline: float | None = None, on_improvement: Callable[[Schedule, int], None] | None = None,
    weights: str | Path | None = None, first_deadline: float | None = None,
) -> Schedule:
    """The shortest schedule of the deterministic rules (`best_specs`), trying the usually best
    first and stopping at `deadline` (time.monotonic()); at least one rule always runs, until
    `first_deadline` if given, past which the rank-order schedule stands in for it. The learned
    rule starts only when its forward rollout should end before the deadline (LEARNED_COST times
    the first rule's time, a floor: an attention network costs more on many jobs); that rollout is
    abandoned at the deadline if not done, its backward one cut short, keeping the forward one.
    `on_improvement(schedule, makespan)` hears of each new best at once (the first schedule comes
    in seconds even on 1000 x 100, while the other rules still run), so a caller interrupted
    meanwhile (Ctrl-C) keeps it."""
    best, best_makespan, first_seconds = None, None, 0.0
    for spec in best_specs(weights):
        now = time.monotonic()
        if best is not None and deadline is not None:
            if now >= deadline:
                break
            if spec == LEARNED and now + LEARNED_COST * first_seconds > deadline:
                continue  # it would overrun; the static rules after it still get their turn
        try:
            schedule = dispatch_spec(problem, spec, weights=weights,
                                     deadline=deadline if best is not None else first_deadline)
        except DeadlinePassed:
            if best is not None:
                continue  # the loop stops at the deadline's check above
            schedule = rank_order_schedule(problem)
        if best is None:
            first_seconds = time.monotonic() - now
        makespan = problem.makespan_of(schedule.starts)
        if best_makespan is None or makespan < best_makespan:
            best, best_makespan = schedule, makespan
            if on_improvement is not None:
                on_improvement(schedule, makespan)
    return best
