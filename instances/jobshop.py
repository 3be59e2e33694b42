"""The job shop: problem data, schedules, and the independent checker `evaluate`.

Operations are stored flat, job after job, in numpy arrays, so that a 1000 x 100 instance costs
a few arrays rather than 100,000 Python objects. `job_starts[j]` is the index of job j's first
operation; jobs may have different numbers of operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from instances.errors import InputError


@dataclass(frozen=True, eq=False)
class JobShop:
    """A job shop instance: each job is a chain of operations, each on one machine."""

    name: str
    n_machines: int
    machines: np.ndarray  # int32, machine of each operation (flat, job after job)
    durations: np.ndarray  # int64, duration of each operation (zero is allowed)
    job_starts: np.ndarray  # int64, length n_jobs + 1: operations of job j are [job_starts[j], job_starts[j+1])

    def __post_init__(self) -> None:
        for array in (self.machines, self.durations, self.job_starts):
            array.setflags(write=False)

    @classmethod
    def from_jobs(cls, name: str, n_machines: int, jobs: list[list[tuple[int, int]]]) -> JobShop:
        """Build from one list of (machine, duration) pairs per job, in processing order."""
        lengths = [len(job) for job in jobs]
        job_starts = np.zeros(len(jobs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=job_starts[1:])
        pairs = np.array([pair for job in jobs for pair in job], dtype=np.int64).reshape(-1, 2)
        return cls(
            name=name,
            n_machines=int(n_machines),
            machines=pairs[:, 0].astype(np.int32),
            durations=pairs[:, 1].copy(),
            job_starts=job_starts,
        )

    @classmethod
    def from_matrices(cls, name: str, machines: np.ndarray, durations: np.ndarray) -> JobShop:
        """Build a rectangular instance from n_jobs x n_ops matrices of machines and durations."""
        machines = np.asarray(machines)
        n_jobs, n_ops = machines.shape
        return cls(
            name=name,
            n_machines=int(machines.max()) + 1 if machines.size else 0,
            machines=machines.reshape(-1).astype(np.int32),
            durations=np.asarray(durations, dtype=np.int64).reshape(-1).copy(),
            job_starts=np.arange(n_jobs + 1, dtype=np.int64) * n_ops,
        )

    @property
    def n_jobs(self) -> int:
        return len(self.job_starts) - 1

    @property
    def n_operations(self) -> int:
        return len(self.durations)

    @property
    def size(self) -> str:
        return f"{self.n_jobs}x{self.n_machines}"

    @cached_property
    def job_of(self) -> np.ndarray:
        """Job index of each operation."""
        return np.repeat(np.arange(self.n_jobs), np.diff(self.job_starts))

    @cached_property
    def is_last(self) -> np.ndarray:
        """True for the last operation of each job."""
        last = np.zeros(self.n_operations, dtype=bool)
        ends = self.job_starts[1:][np.diff(self.job_starts) > 0] - 1
        last[ends] = True
        return last

    @cached_property
    def heads(self) -> np.ndarray:
        """Total duration of the operations before each one in its job (its earliest start)."""
        cumulative = np.cumsum(self.durations) - self.durations
        return cumulative - cumulative[self.job_starts[:-1]].repeat(np.diff(self.job_starts))

    @cached_property
    def tails(self) -> np.ndarray:
        """Total duration of the operations after each one in its job."""
        job_totals = np.add.reduceat(self.durations, self.job_starts[:-1]) if self.n_operations else []
        totals = np.repeat(np.asarray(job_totals, dtype=np.int64), np.diff(self.job_starts))
        return totals - self.heads - self.durations

    def job(self, j: int) -> list[tuple[int, int]]:
        """The (machine, duration) pairs of job j."""
        ops = range(self.job_starts[j], self.job_starts[j + 1])
        return [(int(self.machines[o]), int(self.durations[o])) for o in ops]

    def lower_bound(self) -> int:
        """max(job bound, machine bound): the longest job, and each machine's load plus the
        smallest head and smallest tail of the operations it runs."""
        if self.n_operations == 0:
            return 0
        bound = int((self.heads + self.durations + self.tails).max())
        for m in range(self.n_machines):
            on_m = self.machines == m
            if on_m.any():
                load = int(self.durations[on_m].sum())
                bound = max(bound, int(self.heads[on_m].min()) + load + int(self.tails[on_m].min()))
        return bound

    def sum_of_durations(self) -> int:
        return int(self.durations.sum())


@dataclass
class Schedule:
    """A start time for every operation (flat, in the problem's operation order)."""

    starts: np.ndarray

    def to_json(self, problem: JobShop, makespan: int | None = None) -> dict:
        """The schedule file: the start of each operation, one list per job, plus context."""
        starts = [
            [int(s) for s in self.starts[problem.job_starts[j] : problem.job_starts[j + 1]]]
            for j in range(problem.n_jobs)
        ]
        document: dict = {"kind": "jobshop-schedule", "instance": problem.name}
        if makespan is not None:
            document["makespan"] = int(makespan)
        document["starts"] = starts
        return document


@dataclass
class Evaluation:
    """What `evaluate` found: the makespan and every violated constraint (empty if feasible)."""

    makespan: int
    violations: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return not self.violations


def evaluate(problem: JobShop, schedule: Schedule) -> Evaluation:
    """Check a schedule against the instance, independently of any solver.

    Checks that there is one integer start >= 0 per operation, that each operation starts after its
    job predecessor ends, and that no two operations of positive duration overlap on a machine.
    Zero-duration operations occupy no machine time (as in CP-SAT's NoOverlap).
    """
    starts = np.asarray(schedule.starts)
    if starts.shape != (problem.n_operations,):
        return Evaluation(0, [f"expected {problem.n_operations} start times, got {starts.size}"])
    starts = starts.astype(np.int64)
    violations: list[str] = []

    def where(op: int) -> str:
        job = int(problem.job_of[op])
        return f"job {job} operation {op - int(problem.job_starts[job])}"

    for op in np.flatnonzero(starts < 0):
        violations.append(f"{where(op)} starts at {starts[op]} < 0")

    ends = starts + problem.durations
    not_last = np.flatnonzero(~problem.is_last)
    for op in not_last[starts[not_last + 1] < ends[not_last]]:
        violations.append(
            f"{where(op + 1)} starts at {starts[op + 1]} before its predecessor ends at {ends[op]}"
        )

    busy = np.flatnonzero(problem.durations > 0)
    order = busy[np.lexsort((starts[busy], problem.machines[busy]))]
    for k, op in enumerate(order):
        for other in order[k + 1 :]:
            if problem.machines[other] != problem.machines[op] or starts[other] >= ends[op]:
                break
            violations.append(
                f"machine {problem.machines[op]}: {where(op)} [{starts[op]}, {ends[op]}) overlaps "
                f"{where(other)} [{starts[other]}, {ends[other]})"
            )
    makespan = int(ends.max()) if problem.n_operations else 0
    return Evaluation(makespan, violations)


def schedule_from_json(problem: JobShop, document: object, source: str) -> Schedule:
    """Read a schedule document: {"starts": [[start of each operation] per job]}, or
    {"operations": [{"job": j, "operation": k, "start": s}, ...]} as other tools write it."""
    if isinstance(document, dict) and "instance" in document and document["instance"] != problem.name:
        if isinstance(document["instance"], str) and problem.name:
            raise InputError(
                f"schedule is for instance '{document['instance']}', not '{problem.name}'",
                source=source,
            )
    if isinstance(document, dict) and "starts" in document:
        return _schedule_from_start_lists(problem, document["starts"], source)
    if isinstance(document, dict) and "operations" in document:
        return _schedule_from_operation_list(problem, document["operations"], source)
    raise InputError(
        'expected a JSON object with "starts" (one list per job) or "operations"', source=source
    )


def _schedule_from_start_lists(problem: JobShop, lists: object, source: str) -> Schedule:
    if not isinstance(lists, list) or len(lists) != problem.n_jobs:
        count = len(lists) if isinstance(lists, list) else "no"
        raise InputError(
            f'"starts" has {count} job lists, but {problem.name} has {problem.n_jobs} jobs',
            source=source,
        )
    starts = np.zeros(problem.n_operations, dtype=np.int64)
    for j, job_starts in enumerate(lists):
        expected = int(problem.job_starts[j + 1] - problem.job_starts[j])
        if not isinstance(job_starts, list) or len(job_starts) != expected:
            raise InputError(
                f'"starts" for job {j} must list {expected} start times', source=source
            )
        for k, value in enumerate(job_starts):
            starts[problem.job_starts[j] + k] = _integer(value, f"job {j} operation {k}", source)
    return Schedule(starts)


def _schedule_from_operation_list(problem: JobShop, operations: object, source: str) -> Schedule:
    if not isinstance(operations, list):
        raise InputError('"operations" must be a list', source=source)
    starts = np.zeros(problem.n_operations, dtype=np.int64)
    given = np.zeros(problem.n_operations, dtype=bool)
    for entry in operations:
        if not isinstance(entry, dict) or not {"job", "operation", "start"} <= entry.keys():
            raise InputError(
                'each entry of "operations" needs "job", "operation" and "start"', source=source
            )
        j = _integer(entry["job"], "job", source)
        k = _integer(entry["operation"], "operation", source)
        if not 0 <= j < problem.n_jobs or not 0 <= k < problem.job_starts[j + 1] - problem.job_starts[j]:
            raise InputError(f"no operation {k} of job {j} in {problem.name}", source=source)
        starts[problem.job_starts[j] + k] = _integer(entry["start"], f"job {j} operation {k}", source)
        given[problem.job_starts[j] + k] = True
    missing = np.flatnonzero(~given)
    if missing.size:
        op = int(missing[0])
        job = int(problem.job_of[op])
        raise InputError(
            f"{missing.size} operations have no start, the first: job {job} operation "
            f"{op - int(problem.job_starts[job])}",
            source=source,
        )
    return Schedule(starts)


def _integer(value: object, what: str, source: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise InputError(f"{what}: start {value!r} is not an integer", source=source)
    return int(value)
