"""Solving job shop variants (blocking, down windows) with CP-SAT, and repairing a schedule when a
machine goes down: what has started stays, the rest is re-solved from the old schedule, for the
makespan and then for the fewest changed starts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from cpsched.cpmodels.jobshop_variant import build
from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import Schedule
from cpsched.instances.jobshop.variant import JobShopVariant, evaluate_variant, sequential_schedule
from cpsched.learned_pdr.blocking_simulator import RandomShutdowns, dispatchable
from cpsched.learned_pdr.learned import LEARNED, default_weights_path
from cpsched.learned_pdr.rules import RuleSpec, dispatch_spec, dispatch_within
from cpsched.solvers.cpsat import ProgressCallback, Tracker, run_cpsat
from cpsched.solvers.result import Result, checked_makespan

# Rules whose schedules start CP-SAT on a blocking shop (the best of them is its hint): the best
# static rules of the blocking benchmark, and the learned rule where its weights are installed.
STARTING_RULES = ("lwkr", "mwkr", "spt")


def variant_result(problem: JobShopVariant, schedule: Schedule | None, status: str, bound: float | None,
                   method: str, tracker: Tracker, interrupted: bool = False) -> Result:
    """Check the schedule with the variant's own checker and wrap it up."""
    objective = None if schedule is None else checked_makespan(evaluate_variant(problem, schedule), method)
    metrics: dict = {"instance": problem.name, "size": problem.size, "variant": problem.label}
    if bound is not None and objective is not None:
        metrics["gap_to_bound"] = (objective - bound) / bound if bound else 0.0
        if bound >= objective:
            status = "optimal"
    if interrupted:
        metrics["interrupted"] = True
    return Result(status, objective, bound, schedule, method, time.monotonic() - tracker.started, tracker.trace,
                  metrics)


def solve_dispatch(problem: JobShopVariant, spec: str | RuleSpec, method: str, *, time_limit: float, seed: int = 0,
                   progress: ProgressCallback | None = None, weights: str | None = None) -> Result:
    """One dispatching rule on the blocking simulator; with a shutdown probability, machines stop at
    random (seeded by `seed`) as the rule goes, and the schedule is checked against the shutdowns that
    happened, which the metrics list."""
    tracker = Tracker(time.monotonic(), progress)
    tracker.report(bound=problem.lower_bound)
    shutdowns = None
    if problem.shutdown_probability:
        shutdowns = RandomShutdowns.for_shop(problem.shop, problem.shutdown_probability, seed)
    done = dispatch_within(problem, spec, seed, weights, shutdowns, stop_sampling_at=tracker.started + time_limit,
                           on_improvement=lambda _, makespan: tracker.report(objective=makespan))
    schedule = done.schedule
    happened = problem
    if shutdowns is not None:  # keep the shutdowns that began before the last operation ended
        end = int(shutdowns.applied_to(problem).processing_ends(schedule.starts).max())
        happened = shutdowns.applied_to(problem, end)
    result = variant_result(happened, schedule, "feasible", problem.lower_bound, method, tracker, done.interrupted)
    result.metrics.update(done.metrics())
    tracker.report(objective=result.objective)
    if shutdowns is not None:
        result.metrics["shutdowns"] = [list(window) for window in happened.unavailable]
        result.metrics["down_time"] = sum(min(up, result.objective) - down for _, down, up in happened.unavailable)
    return result


def starting_schedule(problem: JobShopVariant,
                      on_improvement: Callable[[Schedule, int], None] | None = None) -> tuple[Schedule, int]:
    """The shortest of the one-job-at-a-time schedule and the starting rules' (milliseconds each),
    with its makespan; `on_improvement` hears of each new best as it comes, so a caller
    interrupted meanwhile (Ctrl-C) keeps it."""
    best = sequential_schedule(problem)
    best_makespan = evaluate_variant(problem, best).makespan
    if on_improvement is not None:
        on_improvement(best, best_makespan)
    if not dispatchable(problem):
        return best, best_makespan
    learned = (LEARNED,) if default_weights_path("blocking").exists() else ()
    for spec in (*STARTING_RULES, *learned):
        schedule = dispatch_spec(problem, spec)
        makespan = checked_makespan(evaluate_variant(problem, schedule), spec)
        if makespan < best_makespan:
            best, best_makespan = schedule, makespan
            if on_improvement is not None:
                on_improvement(best, best_makespan)
    return best, best_makespan


def solve_cpsat(problem: JobShopVariant, *, time_limit: float = 60.0, workers: int = 2, seed: int = 0,
                progress: ProgressCallback | None = None, **_options) -> Result:
    """CP-SAT from the best of the one-job-at-a-time schedule (feasible for every variant, so never
    worse) and, where the blocking simulator runs the variant, the starting rules' schedules."""
    if problem.shutdown_probability:
        raise InputError("CP-SAT plans ahead and cannot react to random shutdowns; use a dispatching rule "
                         "(--method pdr or pdr:RULE)")
    started = time.monotonic()
    tracker = Tracker(started, progress)
    tracker.report(bound=problem.shop.lower_bound)
    best_start: Schedule | None = None

    def keep(schedule: Schedule, makespan: int) -> None:
        nonlocal best_start
        best_start = schedule
        tracker.report(objective=makespan)

    try:
        first, horizon = starting_schedule(problem, keep)
        built = build(problem, horizon, hint=first)
    except KeyboardInterrupt:  # Ctrl-C before CP-SAT started: the best starting schedule stands
        if best_start is None:
            raise
        return variant_result(problem, best_start, "feasible", problem.shop.lower_bound, "cpsat", tracker,
                              interrupted=True)
    outcome = run_cpsat(built.model, deadline=started + time_limit, tracker=tracker, workers=workers, seed=seed)
    schedule = first if outcome.values is None else built.decode(outcome.values)
    if outcome.values is not None and evaluate_variant(problem, schedule).makespan > horizon:
        schedule = first
    bound = max(problem.shop.lower_bound, int(outcome.bound or 0))
    return variant_result(problem, schedule, "feasible", bound, "cpsat", tracker, outcome.interrupted)


@dataclass(frozen=True)
class Breakdown:
    """Machine `machine` is down over [at, at + duration)."""

    machine: int
    at: int
    duration: int


def parse_breakdown(text: str, option: str = "--down") -> Breakdown:
    """MACHINE@TIME+DURATION, as `--down 3@120+40` (or `--unavailable`) writes it."""
    try:
        machine, rest = text.split("@")
        at, duration = rest.split("+")
        event = Breakdown(int(machine), int(at), int(duration))
    except ValueError:
        raise InputError(f"{option} '{text}': expected MACHINE@TIME+DURATION, e.g. 3@120+40") from None
    if event.duration <= 0:
        raise InputError(f"{option} '{text}': the duration must be positive")
    return event


@dataclass
class Repair:
    result: Result
    changed: list[tuple[int, int, int]]  # (operation, old start, new start)
    frozen: int


def reschedule(problem: JobShopVariant, old: Schedule, events: list[Breakdown], *, time_limit: float = 60.0,
               workers: int = 2, seed: int = 0) -> Repair:
    """Operations started before the first breakdown stay, except one a breakdown interrupts (it
    runs on that machine across the breakdown's start): that one starts again once its machine is
    back, like the rest, which is re-solved with the machines down, hinted with the old schedule:
    first the makespan, then (keeping it) the fewest changed starts."""
    check = evaluate_variant(problem, old)
    if not check.feasible:
        raise InputError(f"the schedule is not feasible for {problem.name} ({problem.label}): {check.violations[0]}")
    shop = problem.shop
    for event in events:
        if not 0 <= event.machine < shop.n_machines:
            raise InputError(f"--down {event.machine}@{event.at}+{event.duration}: machine {event.machine} does not "
                             f"exist (the instance has machines 0..{shop.n_machines - 1})")
        if event.at < 0 or event.at >= check.makespan:
            raise InputError(f"--down {event.machine}@{event.at}+{event.duration}: time {event.at} is outside the "
                             f"schedule, which runs from 0 to {check.makespan}")
    now = min(event.at for event in events)
    downs = [(e.machine, e.at, e.at + e.duration) for e in events]

    def interrupted(op: int, start: int) -> bool:
        end = start + int(shop.durations[op])
        return any(machine == shop.machines[op] and start < up and end > down for machine, down, up in downs)

    frozen = tuple((op, int(s)) for op, s in enumerate(old.starts.tolist()) if s < now and not interrupted(op, s))
    repaired = replace(problem, unavailable=problem.unavailable + tuple(
        (e.machine, e.at, e.at + e.duration) for e in events), frozen=frozen, now=now)
    started = time.monotonic()
    tracker = Tracker(started)
    horizon = check.makespan + sum(e.duration for e in events) + int(shop.durations.sum())
    built = build(repaired, horizon, hint=old)
    first = run_cpsat(built.model, deadline=started + time_limit / 2, tracker=tracker, workers=workers, seed=seed)
    if first.values is None:
        result = variant_result(repaired, None, first.status, None, "reschedule", tracker, first.interrupted)
        return Repair(result, [], len(frozen))
    best = built.decode(first.values)
    makespan = evaluate_variant(repaired, best).makespan
    built = build(repaired, horizon, hint=best)
    built.model.add(built.makespan <= makespan)
    kept = []
    for op, var in enumerate(built.starts):
        if op not in dict(frozen):
            same = built.model.new_bool_var("")
            built.model.add(var == int(old.starts[op])).only_enforce_if(same)
            kept.append(same)
    built.model.maximize(sum(kept))
    second = run_cpsat(built.model, deadline=started + time_limit, tracker=Tracker(started), workers=workers,
                       seed=seed)
    if second.values is not None and evaluate_variant(repaired, built.decode(second.values)).feasible:
        best = built.decode(second.values)
    bound = first.bound if first.status != "optimal" else makespan
    result = variant_result(repaired, best, "feasible", bound, "reschedule", tracker,
                            first.interrupted or second.interrupted)
    changed = [(op, int(a), int(b)) for op, (a, b) in enumerate(zip(old.starts.tolist(), best.starts.tolist()))
               if a != b]
    return Repair(result, changed, len(frozen))
