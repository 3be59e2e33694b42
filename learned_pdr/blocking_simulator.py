"""The dispatch simulator of the blocking job shop with swaps, under random machine shutdowns.

No buffers: a job that has finished an operation stays on its machine, blocking it, until its next
machine is free and takes it. Jobs blocked in a cycle (each waiting for the machine the next one
holds) can never move one at a time: that is a deadlock, and the simulator resolves it at once by
swapping them all, as the variant allows. A machine that shuts down pauses the operation on it,
which resumes when the machine is back (`instances.jobshop_variant.resumed_end`).

Time moves from event to event (an operation finishing). At each instant, a free machine with jobs
waiting for it is a decision: its candidates are those jobs; the rule (static or learned) picks one,
which enters at once (non-delay: a machine never idles while a job could enter it). The state
vectors carry the names of the classic `DispatchSimulator`'s, so every static rule and the learned
rule's features read both alike.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import JobShop, Schedule
from cpsched.instances.jobshop.variant import JobShopVariant, resumed_end
from cpsched.learned_pdr.simulator import DispatchSimulator

_NEVER = np.int64(2**62)


class RandomShutdowns:
    """Each machine, while up, stops with probability `probability` per time unit, for a whole number
    of time units drawn uniformly from 1..`max_repair`. Each machine draws from its own stream seeded by
    (seed, machine) and windows are drawn lazily in time order, so every rule run against the same
    object (or one with the same seed) meets the same shutdowns whatever it dispatches."""

    def __init__(self, n_machines: int, probability: float, max_repair: int, seed: int = 0):
        if not 0 <= probability < 1:
            raise InputError(f"the shutdown probability must lie in [0, 1), got {probability}")
        if max_repair < 1:
            raise InputError(f"the longest repair must be at least 1 time unit, got {max_repair}")
        self.probability = probability
        self.max_repair = max_repair
        self._streams = [np.random.default_rng([seed, machine]) for machine in range(n_machines)]
        self.windows: list[list[tuple[int, int]]] = [[] for _ in range(n_machines)]
        self._drawn_until = [0] * n_machines  # every window starting before this is drawn

    @classmethod
    def for_shop(cls, shop: JobShop, probability: float, seed: int = 0) -> RandomShutdowns:
        """Repairs of up to one mean operation duration (at least 1): long enough to matter, short
        enough that a shop at q = 0.01 stays up most of the time."""
        mean = float(shop.durations.sum()) / max(shop.n_operations, 1)
        return cls(shop.n_machines, probability, max(1, round(mean)), seed)

    def _draw(self, machine: int) -> None:
        stream = self._streams[machine]
        down = self._drawn_until[machine] + int(stream.geometric(self.probability)) - 1
        up = down + int(stream.integers(1, self.max_repair + 1))
        self.windows[machine].append((down, up))
        self._drawn_until[machine] = up

    def finish(self, machine: int, start: int, duration: int) -> int:
        """When an operation begun at `start` ends, pausing through the machine's shutdowns."""
        if self.probability == 0 or duration == 0:
            return start + duration
        while True:
            end = resumed_end(self.windows[machine], start, duration)
            if end <= self._drawn_until[machine]:  # no window yet to be drawn can start before `end`
                return end
            self._draw(machine)

    def realized(self, until: int | None = None) -> tuple[tuple[int, int, int], ...]:
        """The (machine, down, up) windows drawn so far that began before `until` (all when None)."""
        return tuple((machine, down, up) for machine, spans in enumerate(self.windows)
                     for down, up in spans if until is None or down < until)

    def applied_to(self, problem: JobShopVariant, until: int | None = None) -> JobShopVariant:
        """`problem` with the shutdowns that happened before `until` as windows that pause processing:
        the problem a simulated schedule is checked against."""
        return replace(problem, unavailable=problem.unavailable + self.realized(until), resume=True,
                       shutdown_probability=self.probability)


class BlockingSimulator:
    """Schedules a blocking job shop with swaps one entry at a time: `candidates()` then `step(job)`
    until `done`; `makespan` is when the last operation ends, shutdowns included."""

    non_delay = True

    def __init__(self, problem: JobShop, shutdowns: RandomShutdowns | None = None):
        self.problem = problem
        self.shutdowns = shutdowns
        self._machines = problem.machines.astype(np.int64)
        self._durations = problem.durations.astype(np.int64)
        self.job_end = problem.job_starts[1:]
        self.next_op = problem.job_starts[:-1].copy()
        self.job_ready = np.zeros(problem.n_jobs, dtype=np.int64)  # when its current operation ends: free to move
        # start + duration: when the job's operation ends as far as a rule can know (no future shutdowns)
        self.expected_ready = np.zeros(problem.n_jobs, dtype=np.int64)
        self.machine_ready = np.zeros(problem.n_machines, dtype=np.int64)  # when it was last left
        self.remaining_work = problem.job_work.astype(np.int64)
        self.machine_remaining_work = np.bincount(
            self._machines, weights=self._durations, minlength=problem.n_machines).astype(np.int64)
        self.starts = np.full(problem.n_operations, -1, dtype=np.int64)
        self.candidate_machine = self._machines[self.next_op]
        self.candidate_duration = self._durations[self.next_op].copy()
        self.earliest = np.zeros(problem.n_jobs, dtype=np.int64)
        self.holding = np.full(problem.n_jobs, -1, dtype=np.int64)  # the machine each job is on
        self.holder = np.full(problem.n_machines, -1, dtype=np.int64)  # the job on each machine
        self.now = 0
        self.makespan = 0
        self.scheduled = 0
        self.swapped = 0  # operations started by swaps (deadlocks resolved)
        self._conflict: np.ndarray | None = None
        self._settle()

    @property
    def done(self) -> bool:
        return self.scheduled == self.problem.n_operations

    def candidates(self) -> np.ndarray:
        """The jobs (ascending) waiting for the lowest-numbered free machine that has any, now
        (none once done)."""
        return self._conflict if self._conflict is not None else np.empty(0, dtype=np.int64)

    def _settle(self) -> None:
        """Let time run, jobs leave and deadlocks swap until the next decision (or the end): what
        happens without a choice happens here, so `done` is exact after every step."""
        while self._conflict is None and not self.done:
            self._let_finished_jobs_leave()
            waiting = (self.candidate_machine >= 0) & (self.job_ready <= self.now)
            movable = waiting & (self.holder[np.maximum(self.candidate_machine, 0)] < 0)
            if movable.any():
                jobs = np.flatnonzero(movable)
                machines = self.candidate_machine[jobs]
                self._conflict = jobs[machines == machines.min()]
                self.earliest = np.where(self.candidate_machine >= 0, np.maximum(self.expected_ready, self.now), _NEVER)
            elif not self._swap_deadlocks(np.flatnonzero(waiting & (self.holding >= 0))):
                self._advance()

    def step(self, job: int) -> None:
        """Move `job` (one of `candidates()`) onto its next machine now."""
        conflict = self.candidates()
        if not np.any(conflict == job):
            raise ValueError(f"job {job} is not a candidate now; candidates: {conflict.tolist()}")
        self._leave(job)
        self._enter(job)
        self._conflict = None
        self._settle()

    def schedule(self) -> Schedule:
        if not self.done:
            raise ValueError(f"only {self.scheduled} of {self.problem.n_operations} operations are scheduled")
        return Schedule(self.starts.copy())

    def _leave(self, job: int) -> None:
        machine = int(self.holding[job])
        if machine >= 0:
            self.holder[machine] = -1
            self.machine_ready[machine] = self.now
            self.holding[job] = -1

    def _enter(self, job: int) -> None:
        op = int(self.next_op[job])
        machine = int(self.candidate_machine[job])
        duration = int(self.candidate_duration[job])
        self.starts[op] = self.now
        self.holder[machine] = job
        self.holding[job] = machine
        end = self.now + duration if self.shutdowns is None else self.shutdowns.finish(machine, self.now, duration)
        self.job_ready[job] = end
        self.expected_ready[job] = self.now + duration
        self.makespan = max(self.makespan, end)
        self.remaining_work[job] -= duration
        self.machine_remaining_work[machine] -= duration
        self.scheduled += 1
        self.next_op[job] = op + 1
        more = op + 1 < self.job_end[job]
        self.candidate_machine[job] = self._machines[op + 1] if more else -1
        self.candidate_duration[job] = self._durations[op + 1] if more else 0

    def _let_finished_jobs_leave(self) -> None:
        """A job whose last operation has ended leaves the shop (its machine is free)."""
        for job in np.flatnonzero((self.candidate_machine < 0) & (self.holding >= 0)
                                  & (self.job_ready <= self.now)).tolist():
            self._leave(job)

    def _swap_deadlocks(self, blocked: np.ndarray) -> bool:
        """Swap every cycle of blocked jobs, each waiting for the machine the next one holds; False
        when there is none. Each blocked job waits for exactly one other, so cycles are found by
        walking the chains."""
        waits_for = {job: int(self.holder[self.candidate_machine[job]]) for job in blocked.tolist()}
        state: dict[int, int] = {}  # 1: on the current walk, 2: done
        cycles = []
        for first in waits_for:
            walk, job = [], first
            while job in waits_for and job not in state:
                state[job] = 1
                walk.append(job)
                job = waits_for[job]
            if state.get(job) == 1:
                cycles.append(walk[walk.index(job):])
            for visited in walk:
                state[visited] = 2
        for cycle in cycles:
            for job in cycle:
                self._leave(job)
            for job in cycle:
                self._enter(job)
            self.swapped += len(cycle)
        return bool(cycles)

    def _advance(self) -> None:
        """On to the next time an operation ends."""
        running = (self.holding >= 0) & (self.job_ready > self.now)
        if not running.any():
            raise RuntimeError(f"the blocking simulator is stuck at time {self.now} with nothing running")
        self.now = int(self.job_ready[running].min())


def dispatchable(problem: JobShopVariant) -> bool:
    """Whether the blocking simulator runs this variant: blocking with swaps, no planned windows,
    nothing frozen."""
    return problem.blocking and problem.swaps and not problem.unavailable and not problem.frozen


def simulator_for(problem: JobShop | JobShopVariant, non_delay: bool,
                  shutdowns: RandomShutdowns | None = None) -> DispatchSimulator | BlockingSimulator:
    """The simulator a dispatching rule runs on: the classic one for a job shop, the blocking one
    for a blocking job shop with swaps (the variants dispatching handles)."""
    if isinstance(problem, JobShop):
        if shutdowns is not None:
            raise InputError("random shutdowns apply to blocking job shops (add --blocking)")
        return DispatchSimulator(problem, non_delay)
    if not dispatchable(problem):
        raise InputError(f"{problem.name} ({problem.label}): dispatching rules handle blocking job shops with swaps "
                         "and random shutdowns; solve this variant with --method cpsat")
    if not non_delay:
        raise InputError("blocking dispatch is non-delay (a free machine takes a waiting job at once); drop ':active'")
    return BlockingSimulator(problem.shop, shutdowns)
