"""The job shop: problem data, schedules, and the independent checker `evaluate`.

Operations are stored flat, job after job, in numpy arrays, so that a 1000 x 100 instance costs
a few arrays rather than 100,000 Python objects. `job_starts[j]` is the index of job j's first
operation; jobs may have different numbers of operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Integral
from typing import ClassVar

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.serialization import JsonSolution
from cpsched.instances.validation import LARGEST, integer

MAX_MACHINES = 1_000_000  # a billion would allocate 16 GB before any operation is read


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
        if self.n_machines > MAX_MACHINES:
            raise InputError(f"{self.name}: {self.n_machines} machines is more than the {MAX_MACHINES:,} cpsched "
                             "schedules (each machine holds state in every method)")
        if self.n_jobs < 1 or np.any(np.diff(self.job_starts) < 1):
            raise InputError(f"{self.name}: every job needs at least one operation")
        if self.machines.min() < 0 or self.machines.max() >= self.n_machines:
            raise InputError(f"{self.name}: machine numbers must lie in 0..{self.n_machines - 1}")
        if self.durations.min() < 0:
            raise InputError(f"{self.name}: durations must not be negative")

    @classmethod
    def from_jobs(cls, name: str, n_machines: int, jobs: list[list[tuple[int, int]]]) -> JobShop:
        """Build from one list of (machine, duration) pairs per job, in processing order."""
        lengths = [len(job) for job in jobs]
        job_starts = np.zeros(len(jobs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=job_starts[1:])
        flat = [value for job in jobs for pair in job for value in pair]
        if all(type(value) is int for value in flat) and all(abs(value) <= LARGEST for value in flat):
            pairs = np.array(flat, dtype=np.int64).reshape(-1, 2)  # exact: no trip through floats
        else:  # numpy integers, whole floats, or something wrong, which the message names
            for value in flat:
                value = value.item() if isinstance(value, np.generic) else value
                if type(value) is not int or abs(value) > LARGEST:
                    if not (isinstance(value, float) and math.isfinite(value) and value == round(value)):
                        raise InputError(f"machines and durations must be whole numbers, got {value!r:.40} "
                                         "(JobShop.from_lists validates everything)", source="JobShop.from_jobs")
                    integer(value, "a machine or duration", "JobShop.from_jobs")  # at most 2^53
            pairs = np.array(flat, dtype=np.float64).astype(np.int64).reshape(-1, 2)
        return cls(
            name=name,
            n_machines=int(n_machines),
            machines=pairs[:, 0].astype(np.int32),
            durations=pairs[:, 1].copy(),
            job_starts=job_starts,
        )

    @classmethod
    def from_lists(cls, jobs: object, *, name: str = "jobshop", n_machines: int | None = None) -> JobShop:
        """Build from plain Python data, validated as the file readers validate: one list per job of
        (machine, duration) pairs in processing order; jobs may have any length and visit any subset
        of the machines (0-based). `n_machines` defaults to the highest machine number plus one."""
        where = "JobShop.from_lists"
        if isinstance(jobs, (str, bytes)) or not hasattr(jobs, "__len__") or len(jobs) == 0:
            raise InputError("jobs must be a non-empty list of jobs, each a list of (machine, duration) pairs",
                             source=where)
        rows = []
        for j, job in enumerate(jobs):
            if isinstance(job, (str, bytes)) or not hasattr(job, "__len__") or len(job) == 0:
                raise InputError(f"jobs[{j}] must be a non-empty list of (machine, duration) pairs", source=where)
            for k, pair in enumerate(job):
                if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
                    raise InputError(f"jobs[{j}][{k}] must be a (machine, duration) pair, got {pair!r}", source=where)
                for value, what in zip(pair, ("machine", "duration")):
                    if isinstance(value, bool) or not isinstance(value, Integral):
                        raise InputError(f"jobs[{j}][{k}] {what} {value!r} is not a whole number", source=where)
                rows.append((integer(int(pair[0]), f"jobs[{j}][{k}] machine", where, minimum=0),
                             integer(int(pair[1]), f"jobs[{j}][{k}] duration", where, minimum=0)))
        highest = max(machine for machine, _ in rows)
        if n_machines is None:
            n_machines = highest + 1
        n_machines = integer(n_machines, "n_machines", where, minimum=1)
        if highest >= n_machines:
            raise InputError(f"machine {highest} does not exist with n_machines={n_machines}", source=where)
        pairs = iter(rows)
        return cls.from_jobs(name, n_machines, [[next(pairs) for _ in job] for job in jobs])

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
        """Number of jobs."""
        return len(self.job_starts) - 1

    @property
    def n_operations(self) -> int:
        """Number of operations, all jobs together."""
        return len(self.durations)

    @property
    def size(self) -> str:
        """`JOBSxMACHINES`."""
        return f"{self.n_jobs}x{self.n_machines}"

    @cached_property
    def job_of(self) -> np.ndarray:
        """Job index of each operation."""
        return np.repeat(np.arange(self.n_jobs), np.diff(self.job_starts))

    @cached_property
    def is_first(self) -> np.ndarray:
        """True for the first operation of each job."""
        first = np.zeros(self.n_operations, dtype=bool)
        first[self.job_starts[:-1]] = True
        return first

    @cached_property
    def is_last(self) -> np.ndarray:
        """True for the last operation of each job."""
        last = np.zeros(self.n_operations, dtype=bool)
        last[self.job_starts[1:] - 1] = True
        return last

    @cached_property
    def heads(self) -> np.ndarray:
        """Total duration of the operations before each one in its job (its earliest start)."""
        cumulative = np.cumsum(self.durations) - self.durations
        return cumulative - cumulative[self.job_starts[:-1]].repeat(np.diff(self.job_starts))

    @cached_property
    def job_work(self) -> np.ndarray:
        """Total duration of each job."""
        return np.add.reduceat(self.durations, self.job_starts[:-1])

    @cached_property
    def tails(self) -> np.ndarray:
        """Total duration of the operations after each one in its job."""
        return np.repeat(self.job_work, np.diff(self.job_starts)) - self.heads - self.durations

    def where(self, op: int) -> str:
        """An operation as people name it: job j operation k."""
        job = int(self.job_of[op])
        return f"job {job} operation {op - int(self.job_starts[job])}"

    def job(self, j: int) -> list[tuple[int, int]]:
        """The (machine, duration) pairs of job j."""
        ops = range(self.job_starts[j], self.job_starts[j + 1])
        return [(int(self.machines[o]), int(self.durations[o])) for o in ops]

    @cached_property
    def lower_bound(self) -> int:
        """max(job bound, machine bound): the longest job, and each machine's load plus the
        smallest head and smallest tail of the operations it runs."""
        load = np.bincount(self.machines, weights=self.durations, minlength=self.n_machines)
        big = np.iinfo(np.int64).max
        min_head = np.full(self.n_machines, big)
        np.minimum.at(min_head, self.machines, self.heads)
        min_tail = np.full(self.n_machines, big)
        np.minimum.at(min_tail, self.machines, self.tails)
        used = min_head < big
        machine_bound = (load[used].astype(np.int64) + min_head[used] + min_tail[used]).max()
        return int(max(self.job_work.max(), machine_bound))

    def sum_of_durations(self) -> int:
        """Total processing time of all operations: the makespan of running them one after another."""
        return int(self.durations.sum())

    def makespan_of(self, starts: np.ndarray) -> int:
        """The makespan of start times (not checked: see `evaluate`)."""
        return int((np.asarray(starts, dtype=np.int64) + self.durations).max())


@dataclass
class Schedule(JsonSolution):
    """A start time for every operation (flat, in the problem's operation order)."""

    FIELDS: ClassVar[dict[str, str]] = {"starts": "ints"}
    starts: np.ndarray

    def to_document(self, problem: JobShop, makespan: int | None = None) -> dict:
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
        """True when no constraint is violated."""
        return not self.violations

    @property
    def objective(self) -> int:
        """The makespan: what every method minimises, and what its Result reports."""
        return self.makespan


def job_order_violations(problem: JobShop, starts: np.ndarray, ends: np.ndarray | None = None) -> list[str]:
    """What every job shop variant checks first: starts >= 0, and each operation after its job
    predecessor's end (start + duration unless `ends` says otherwise, as when shutdowns pause it)."""
    violations = [f"{problem.where(op)} starts at {starts[op]} < 0" for op in np.flatnonzero(starts < 0)]
    ends = starts + problem.durations if ends is None else ends
    not_last = np.flatnonzero(~problem.is_last)
    for op in not_last[starts[not_last + 1] < ends[not_last]]:
        violations.append(f"{problem.where(op + 1)} starts at {starts[op + 1]} before its predecessor ends at "
                          f"{ends[op]}")
    return violations


def evaluate(problem: JobShop, schedule: Schedule) -> Evaluation:
    """Check a schedule against the instance, independently of any solver.

    Checks that there is one integer start >= 0 per operation, that each operation starts after its
    job predecessor ends, and that no two operations of positive duration overlap on a machine
    (each overlapping operation is reported once, against the one it collides with). A
    zero-duration operation occupies no machine time.
    """
    starts = np.asarray(schedule.starts)
    if starts.shape != (problem.n_operations,):
        return Evaluation(0, [f"expected {problem.n_operations} start times, got {starts.size}"])
    starts = starts.astype(np.int64)
    violations = job_order_violations(problem, starts)
    where = problem.where
    ends = starts + problem.durations

    busy = np.flatnonzero(problem.durations > 0)
    order = busy[np.lexsort((starts[busy], problem.machines[busy]))].tolist()
    machine_of, start_of, end_of = problem.machines.tolist(), starts.tolist(), ends.tolist()
    latest = -1  # the operation with the latest end so far on the current machine
    for op in order:
        if latest >= 0 and machine_of[latest] == machine_of[op] and start_of[op] < end_of[latest]:
            violations.append(
                f"machine {machine_of[op]}: {where(latest)} [{start_of[latest]}, {end_of[latest]}) overlaps "
                f"{where(op)} [{start_of[op]}, {end_of[op]})"
            )
        if latest < 0 or machine_of[latest] != machine_of[op] or end_of[op] > end_of[latest]:
            latest = op
    return Evaluation(int(ends.max()), violations)
