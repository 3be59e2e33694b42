"""Job shop variants: blocking (no buffers between machines, with or without swaps), machine
unavailability windows, and frozen operations (those already started when a plan is repaired).

Blocking: a job holds its machine from the start of an operation until the start of its next one
(its last operation releases the machine at its end), so a finished job waits on its machine until
the next machine takes it. With swaps, jobs blocked in a cycle may all move at the same instant;
without, moves at one instant must happen in some order, each into a machine already left.

Unavailability: no operation is processed on a machine during one of its windows (a job may still
wait, finished, on a machine that is down). Frozen operations keep their given start and, having
started before the window was known, are exempt from it. Planned windows must not be crossed; random
shutdowns (`resume`) interrupt whatever runs and it resumes when the machine is back, so an
operation ends once its duration of up-time has passed (`resumed_end`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import Evaluation, JobShop, Schedule, job_order_violations


@dataclass(frozen=True, eq=False)
class JobShopVariant:
    """A job shop with the variant's rules on top."""

    shop: JobShop
    blocking: bool = True
    swaps: bool = True
    unavailable: tuple[tuple[int, int, int], ...] = ()  # (machine, from, to): down during [from, to)
    frozen: tuple[tuple[int, int], ...] = ()  # (operation, start): kept as they are
    now: int = 0  # no operation that is not frozen starts before this
    resume: bool = False  # windows are random shutdowns: processing pauses through them, not planned around
    shutdown_probability: float = 0.0  # machines stop at random (per machine and time unit): a rule reacts as they come

    def __post_init__(self) -> None:
        for machine, start, end in self.unavailable:
            if not 0 <= machine < self.shop.n_machines:
                raise InputError(f"machine {machine} does not exist (the instance has machines 0.."
                                 f"{self.shop.n_machines - 1})", source=self.shop.name)
            if start < 0 or end <= start:
                raise InputError(f"machine {machine}: a window must run forward from time 0 or later, "
                                 f"got [{start}, {end})", source=self.shop.name)
        if not 0 <= self.shutdown_probability < 1:
            raise InputError(f"the shutdown probability must lie in [0, 1), got {self.shutdown_probability}",
                             source=self.shop.name)

    @property
    def name(self) -> str:
        """The underlying job shop's name."""
        return self.shop.name

    @property
    def size(self) -> str:
        """The underlying job shop's size, `JOBSxMACHINES`."""
        return self.shop.size

    @property
    def lower_bound(self) -> int:
        """The job shop's bound: blocking and windows only ever make schedules longer."""
        return self.shop.lower_bound

    @property
    def label(self) -> str:
        """What the variant is, for summaries."""
        parts = ["blocking" + ("+swaps" if self.swaps else ", no swaps")] if self.blocking else ["classic"]
        if self.unavailable:
            parts.append(f"{len(self.unavailable)} {'shutdowns' if self.resume else 'windows'}")
        elif self.shutdown_probability:
            parts.append(f"random shutdowns q={self.shutdown_probability:g}")
        return ", ".join(parts)

    def windows_by_machine(self) -> dict[int, list[tuple[int, int]]]:
        """The machines' windows, each machine's as [from, to) pairs in time order."""
        windows: dict[int, list[tuple[int, int]]] = {}
        for machine, start, end in sorted(self.unavailable):
            windows.setdefault(machine, []).append((start, end))
        return windows

    def processing_ends(self, starts: np.ndarray) -> np.ndarray:
        """When each operation finishes processing: start + duration, stretched through the
        shutdowns it meets when windows are random shutdowns."""
        shop = self.shop
        ends = starts + shop.durations
        if not (self.resume and self.unavailable):
            return ends
        windows = self.windows_by_machine()
        frozen = dict(self.frozen)
        for op in np.flatnonzero(np.isin(shop.machines, list(windows))).tolist():
            if op not in frozen:
                ends[op] = resumed_end(windows[int(shop.machines[op])], int(starts[op]), int(shop.durations[op]))
        return ends

    def occupation_ends(self, starts: np.ndarray) -> np.ndarray:
        """When each operation's machine is released: its job's next start when blocking, else its end."""
        shop = self.shop
        ends = self.processing_ends(starts)
        if self.blocking:
            following = np.flatnonzero(~shop.is_last)
            ends = ends.copy()
            ends[following] = starts[following + 1]
        return ends


def resumed_end(windows: list[tuple[int, int]], start: int, duration: int) -> int:
    """When `duration` units of work begun at `start` end on a machine that stops during `windows`
    ([down, up) pairs sorted by down; the work pauses while the machine is down). An empty
    operation ends where it starts."""
    time, left = start, duration
    for down, up in windows:
        if left == 0:
            break
        if up <= time:
            continue
        if down > time:
            work = min(left, down - time)
            time, left = time + work, left - work
            if left == 0:
                break
        time = max(time, up)
    return time + left


def evaluate_variant(problem: JobShopVariant, schedule: Schedule) -> Evaluation:
    """Check a schedule against the variant's rules, independently of any solver: the job shop's
    precedences, no two occupations overlapping on a machine, no cycle of simultaneous moves without
    swaps, no processing in a planned window (shutdowns pause it instead), frozen starts kept."""
    shop = problem.shop
    starts = np.asarray(schedule.starts)
    if starts.shape != (shop.n_operations,):
        return Evaluation(0, [f"expected {shop.n_operations} start times, got {starts.size}"])
    starts = starts.astype(np.int64)
    ends = problem.processing_ends(starts)
    violations = job_order_violations(shop, starts, ends)
    where = shop.where
    released = problem.occupation_ends(starts)
    held = np.flatnonzero(released > starts)  # an empty occupation holds nothing
    latest = -1  # the operation holding its machine the longest so far, per machine in turn
    for op in held[np.lexsort((starts[held], shop.machines[held]))].tolist():
        if latest >= 0 and shop.machines[latest] == shop.machines[op] and starts[op] < released[latest]:
            violations.append(f"machine {shop.machines[op]}: {where(latest)} holds it over [{starts[latest]}, "
                              f"{released[latest]}), {where(op)} starts at {starts[op]}")
        if latest < 0 or shop.machines[latest] != shop.machines[op] or released[op] > released[latest]:
            latest = op
    if problem.blocking and not problem.swaps:
        violations += _swap_cycles(problem, starts, released)
    frozen = dict(problem.frozen)
    for machine, start, end in () if problem.resume else problem.unavailable:
        for op in np.flatnonzero(shop.machines == machine).tolist():
            if op not in frozen and shop.durations[op] > 0 and starts[op] < end and ends[op] > start:
                violations.append(f"machine {machine} is down over [{start}, {end}), {where(op)} runs "
                                  f"[{starts[op]}, {ends[op]})")
    for op, start in problem.frozen:
        if starts[op] != start:
            violations.append(f"{where(op)} started at {start} and must stay there, not {starts[op]}")
    for op in np.flatnonzero(starts < problem.now).tolist():
        if op not in frozen:
            violations.append(f"{where(op)} starts at {starts[op]}, in the past of time {problem.now}")
    return Evaluation(int(ends.max()), violations)


def _swap_cycles(problem: JobShopVariant, starts: np.ndarray, released: np.ndarray) -> list[str]:
    """Moves at one instant that only work as a swap: job A enters a machine at t that job B leaves at
    t, B enters one that ... leaves at t, back to A."""
    shop = problem.shop
    moves = nx.DiGraph()  # an edge from the move that must happen first
    arrivals = {}
    for op in np.flatnonzero(~shop.is_first).tolist():
        arrivals.setdefault((int(shop.machines[op]), int(starts[op])), []).append(op)
    for op in np.flatnonzero(~shop.is_last).tolist():  # op's job leaves its machine at released[op]
        for entering in arrivals.get((int(shop.machines[op]), int(released[op])), []):
            if entering != op + 1:
                moves.add_edge(op + 1, entering)  # leaving (the job's next start) before entering
    return [f"jobs {sorted({int(shop.job_of[op]) for op in cycle})} swap machines at time {int(starts[cycle[0]])}, "
            "and swaps are not allowed" for cycle in nx.simple_cycles(moves)][:10]


def sequential_schedule(problem: JobShopVariant) -> Schedule:
    """A feasible schedule when nothing is frozen: one job at a time, each operation as early as its
    machine's windows allow (no job ever waits on another, so nothing blocks). Its makespan is a
    horizon for the model."""
    if problem.frozen:
        raise ValueError("sequential_schedule is for problems with no frozen operations")
    shop = problem.shop
    windows = problem.windows_by_machine()
    starts = np.zeros(shop.n_operations, dtype=np.int64)
    time = 0
    for op in range(shop.n_operations):
        duration = int(shop.durations[op])
        for start, end in windows.get(int(shop.machines[op]), []):
            if duration > 0 and time < end and time + duration > start:
                time = end
        starts[op] = time
        time += duration
    return Schedule(starts)


def variant_from_json(document: dict, shop: JobShop, source: str) -> JobShopVariant:
    """The variant fields of a job shop JSON file: "blocking": true (swaps allowed) or
    {"swaps": false}, and "unavailable": [[machine, from, to], ...]."""
    blocking = document.get("blocking", False)
    swaps = True
    if isinstance(blocking, dict):
        unknown = set(blocking) - {"swaps"}
        if unknown or not isinstance(blocking.get("swaps", True), bool):
            raise InputError("'blocking' must be true, false or {\"swaps\": true|false}", source=source)
        swaps, blocking = blocking.get("swaps", True), True
    elif not isinstance(blocking, bool):
        raise InputError("'blocking' must be true, false or {\"swaps\": true|false}", source=source)
    parsed = windows_from_json(document.get("unavailable", []), "unavailable", source)
    try:
        return JobShopVariant(shop, blocking=blocking, swaps=swaps, unavailable=parsed)
    except InputError as error:
        raise InputError(error.message, source=source) from None


def windows_from_json(windows: object, field: str, source: str) -> tuple[tuple[int, int, int], ...]:
    """[[machine, from, to], ...] as windows: planned ones ("unavailable" in an instance) or the
    shutdowns a schedule met ("shutdowns" in a schedule file)."""
    if not isinstance(windows, list):
        raise InputError(f"'{field}' must be a list of [machine, from, to]", source=source)
    parsed = []
    for i, window in enumerate(windows):
        if (not isinstance(window, list) or len(window) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in window)):
            raise InputError(f"{field}[{i}] must be [machine, from, to] with three integers", source=source)
        parsed.append(tuple(window))
    return tuple(parsed)


def with_shutdowns_met(problem: JobShop | JobShopVariant, document: object, source: str) -> JobShop | JobShopVariant:
    """The problem a schedule file is judged by: with the random shutdowns it lists ("shutdowns", as
    `cpsched solve --shutdown -o` writes them) as windows that pause work; `problem` itself when it
    lists none."""
    if not (isinstance(document, dict) and "shutdowns" in document):
        return problem
    if not (isinstance(problem, JobShopVariant) and problem.blocking):
        raise InputError("the schedule met random shutdowns on a blocking shop: add --blocking", source=source)
    if problem.unavailable:
        raise InputError("the schedule met random shutdowns, which pause work; planned windows (--unavailable "
                         "or the instance's) forbid it: check one kind at a time", source=source)
    met = windows_from_json(document["shutdowns"], "shutdowns", source)
    return replace(problem, unavailable=met, resume=True)
