"""Optimizer-offload scheduling: optimizer-state subgroups, the PCIe links, the CPU and GPU Adam,
the GPU memory free during the update; a plan (where each subgroup updates and when each step runs);
`evaluate`, the independent check; and `list_schedule`, the event simulator that times any choice of
devices.

Each subgroup takes one of three paths. Every step holds one resource, one thing at a time:

    cpu:       gradient down (D2H)  ->  CPU Adam  ->  updated parameters up (H2D)
    gpu:       fp32 state up (H2D)  ->  GPU Adam  ->  fp32 state down (D2H)
    resident:                           GPU Adam                  (the state never leaves the GPU)

A cpu subgroup's download waits for its gradient; an update waits for its gradient and for
`update_after_ms` (when the global gradient norm is known, unless clipping is speculative). A gpu
subgroup's state may be prefetched before its gradient is ready; it holds GPU memory from the start
of its upload to the end of its download. A resident state holds GPU memory all along, so it must
fit under the lowest free memory of the timeline. The update phase ends when every updated
parameter is on the GPU and every state that went up is back in host memory.

All arithmetic is on integer tables (microseconds, bytes), the same ones the CP-SAT model uses, so
the model's objective and this module's phase time agree exactly, and a state that fits the free
memory to the byte is allowed.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.serialization import FromDocument, JsonSolution, plain
from cpsched.instances.units import GB, TICKS_PER_MS
from cpsched.instances.validation import LARGEST, integer
from cpsched.instances.validation import number as _number

EXACT = 1e-6  # a byte count within this of a whole number is that number (float noise, not a byte)

MODES = ("cpu", "gpu", "resident")
RESOURCES = ("d2h", "h2d", "cpu", "gpu")


@dataclass(frozen=True, eq=False)
class OffloadProblem(FromDocument):
    """Subgroup sizes and gradient-ready times, and the hardware.

    Bandwidths in GB/s (1e9 bytes), Adam throughputs in parameters per second, free memory as steps
    ((from_ms, GB), ...) starting at 0 ms; bytes per parameter of the fp32 optimizer state (parameter,
    momentum, variance), of the gradient sent down, and of the updated parameter sent up."""

    name: str
    params: np.ndarray
    ready_ms: np.ndarray
    h2d_gbps: float
    d2h_gbps: float
    cpu_adam_params_per_s: float
    gpu_adam_params_per_s: float
    free_memory: tuple[tuple[float, float], ...]
    state_bytes: float = 12.0
    grad_bytes: float = 2.0
    param_bytes: float = 2.0
    update_after_ms: float = 0.0
    allow_resident: bool = True
    model: dict = field(default_factory=dict)
    tables: OffloadTables = field(init=False, repr=False)

    def __post_init__(self) -> None:
        params, ready = np.asarray(self.params), np.asarray(self.ready_ms)
        if params.ndim != 1 or ready.ndim != 1:
            raise InputError("subgroups must be a non-empty list", source=self.name)
        if params.dtype.kind not in "iu" or (params.size and params.max() > LARGEST):
            # one by one, as the reader checks them: no 2.5 taken for 2, no overflow
            params = np.array([integer(plain(x), f"subgroups[{i}].params", self.name, minimum=1)
                               for i, x in enumerate(params)], dtype=np.int64)
        if ready.dtype.kind not in "iuf":
            ready = np.array([_number(plain(x), f"subgroups[{i}].ready_ms", self.name, minimum=0)
                              for i, x in enumerate(ready)])
        object.__setattr__(self, "params", params.astype(np.int64))
        object.__setattr__(self, "ready_ms", ready.astype(np.float64))
        _check(self)
        object.__setattr__(self, "tables", OffloadTables.of(self))


    @property
    def subgroups(self) -> int:
        """Number of optimizer-state subgroups."""
        return len(self.params)

    @property
    def size(self) -> str:
        """Subgroups and parameters, as the summary line prints them."""
        return f"{self.subgroups} subgroups, {self.params.sum() / 1e9:.2f}B params"


SLOWEST_ADAM = 1e5  # parameters per second: a thousand times slower than one CPU core runs Adam


def _check(problem: OffloadProblem) -> None:
    where = problem.name
    if problem.params.ndim != 1 or len(problem.params) == 0:
        raise InputError("subgroups must be a non-empty list", source=where)
    if problem.ready_ms.shape != problem.params.shape:
        raise InputError("every subgroup needs a ready_ms", source=where)
    bad = np.flatnonzero(problem.params < 1)
    if len(bad):
        raise InputError(f"subgroups[{bad[0]}].params must be at least 1", source=where)
    bad = np.flatnonzero(~np.isfinite(problem.ready_ms) | (problem.ready_ms < 0))
    if len(bad):
        raise InputError(f"subgroups[{bad[0]}].ready_ms must be a time >= 0", source=where)
    for what, value in (("h2d_gbps", problem.h2d_gbps), ("d2h_gbps", problem.d2h_gbps),
                        ("cpu_adam_gparams", problem.cpu_adam_params_per_s),
                        ("gpu_adam_gparams", problem.gpu_adam_params_per_s)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"hardware.{what} must be positive, got {value:g}", source=where)
    for what, value in (("cpu_adam_params_per_s", problem.cpu_adam_params_per_s),
                        ("gpu_adam_params_per_s", problem.gpu_adam_params_per_s)):
        if value < SLOWEST_ADAM:  # parameters per second here, billions per second in the file
            raise InputError(f"{what} is in parameters per second: {value:g} is far below any Adam (the file's "
                             f"*_adam_gparams is in billions per second, so {value:g} there is {value:g}e9 here)",
                             source=where)
    if not (math.isfinite(problem.state_bytes) and problem.state_bytes > 0):
        raise InputError(f"bytes_per_param.state must be positive, got {problem.state_bytes:g}", source=where)
    for what, value in (("gradient", problem.grad_bytes), ("parameter", problem.param_bytes)):
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"bytes_per_param.{what} must be >= 0, got {value:g}", source=where)
    if not (math.isfinite(problem.update_after_ms) and problem.update_after_ms >= 0):
        raise InputError(f"update_after_ms must be a time >= 0, got {problem.update_after_ms:g}", source=where)
    steps = problem.free_memory
    if not steps or steps[0][0] != 0:
        raise InputError("hardware.free_memory_gb must start at 0 ms", source=where)
    if any(b[0] <= a[0] for a, b in itertools.pairwise(steps)):
        raise InputError("hardware.free_memory_gb times must increase", source=where)
    if any(not math.isfinite(gb) or gb < 0 for _, gb in steps):
        raise InputError("hardware.free_memory_gb values must be >= 0 GB", source=where)


@dataclass(frozen=True)
class OffloadTables:
    """Every duration in microseconds (at least 1), release times, and memory in bytes."""

    grad_down: np.ndarray
    cpu_update: np.ndarray
    param_up: np.ndarray
    state_up: np.ndarray
    gpu_update: np.ndarray
    state_down: np.ndarray
    release: np.ndarray  # gradient ready
    update_release: np.ndarray  # an update may start: gradient ready and update_after
    state_size: np.ndarray
    capacity_times: np.ndarray  # the free memory's steps: from this tick on...
    capacity_bytes: np.ndarray  # ...this many bytes are free

    @staticmethod
    @np.errstate(over="ignore", invalid="ignore")  # out-of-range values are reported, not warned about
    def of(problem: OffloadProblem) -> OffloadTables:
        """The integer tables (microseconds, bytes) of `problem`."""
        params = problem.params.astype(np.float64)

        def whole(values: np.ndarray, what: str) -> np.ndarray:
            if not np.all(np.abs(values) <= LARGEST):  # also catches inf and nan
                raise InputError(f"{what} is out of range (at most 2^53 microseconds or bytes): check the units",
                                 source=problem.name)
            return values.astype(np.int64)

        def ticks(seconds: np.ndarray, what: str) -> np.ndarray:
            return np.maximum(1, whole(np.ceil(seconds * 1e6 - 1e-9), what))

        release = whole(np.round(problem.ready_ms * TICKS_PER_MS), "a subgroup's ready_ms")
        steps = np.array(problem.free_memory, dtype=np.float64)
        times = whole(np.round(steps[:, 0] * TICKS_PER_MS), "a free_memory_gb time")
        free = whole(np.floor(steps[:, 1] * GB + EXACT), "a free_memory_gb value")
        capacity = dict(zip(times.tolist(), free.tolist()))
        return OffloadTables(
            grad_down=ticks(params * problem.grad_bytes / (problem.d2h_gbps * GB), "a gradient download"),
            cpu_update=ticks(params / problem.cpu_adam_params_per_s, "a CPU Adam update"),
            param_up=ticks(params * problem.param_bytes / (problem.h2d_gbps * GB), "a parameter upload"),
            state_up=ticks(params * problem.state_bytes / (problem.h2d_gbps * GB), "a state upload"),
            gpu_update=ticks(params / problem.gpu_adam_params_per_s, "a GPU Adam update"),
            state_down=ticks(params * problem.state_bytes / (problem.d2h_gbps * GB), "a state download"),
            release=release,
            update_release=np.maximum(release, whole(np.round(np.array([problem.update_after_ms * TICKS_PER_MS])),
                                                     "update_after_ms")[0]),
            state_size=whole(np.ceil(params * problem.state_bytes - EXACT), "a subgroup's state"),
            capacity_times=np.array(list(capacity), dtype=np.int64),  # steps closer than a tick: the last wins
            capacity_bytes=np.array(list(capacity.values()), dtype=np.int64),
        )

    def path(self, mode: str, g: int) -> tuple[tuple[str, int] | None, tuple[str, int], tuple[str, int] | None]:
        """(resource, duration) of the three steps of subgroup g on `mode`'s path (None: no step)."""
        if mode == "cpu":
            return ("d2h", int(self.grad_down[g])), ("cpu", int(self.cpu_update[g])), ("h2d", int(self.param_up[g]))
        if mode == "gpu":
            return ("h2d", int(self.state_up[g])), ("gpu", int(self.gpu_update[g])), ("d2h", int(self.state_down[g]))
        return None, ("gpu", int(self.gpu_update[g])), None

    def lowest_free_bytes(self) -> int:
        """The least GPU memory free at any time of the phase, in bytes."""
        return int(self.capacity_bytes.min())

    def highest_free_bytes(self) -> int:
        """The most GPU memory free at any time of the phase, in bytes."""
        return int(self.capacity_bytes.max())


@dataclass
class OffloadPlan(JsonSolution):
    """Where each subgroup updates, and the start (microseconds) of its three steps: starts[g] =
    [first transfer, update, second transfer], -1 where the path has no such step."""

    FIELDS: ClassVar[dict[str, str]] = {"modes": "strs", "starts": "ints2"}
    modes: tuple[str, ...]
    starts: np.ndarray

    def to_document(self, problem: OffloadProblem) -> dict:
        """The plan file: each subgroup's path and step starts in milliseconds."""
        rows = []
        for g, mode in enumerate(self.modes):
            first, update, last = (int(x) for x in self.starts[g])
            rows.append({"subgroup": g, "mode": mode, "first_transfer_ms": None if first < 0 else first / TICKS_PER_MS,
                         "update_ms": update / TICKS_PER_MS,
                         "second_transfer_ms": None if last < 0 else last / TICKS_PER_MS})
        return plain({"kind": "offload-plan", "problem": problem.name, "subgroups": rows})


@dataclass
class OffloadEvaluation:
    """The independent verdict on a plan: phase time, peak GPU memory of optimizer state, violations."""

    feasible: bool
    phase: int  # ticks
    peak_bytes: int
    violations: list[str]
    busy: dict[str, int]  # ticks each resource works

    @property
    def phase_ms(self) -> float:
        """The update phase in milliseconds."""
        return self.phase / TICKS_PER_MS

    @property
    def objective(self) -> float:
        """The update phase in milliseconds: what the planner minimises."""
        return self.phase_ms

    @property
    def peak_gb(self) -> float:
        """The peak GPU memory of optimizer state, in GB."""
        return self.peak_bytes / GB


def memory_intervals(problem: OffloadProblem, plan: OffloadPlan, phase: int) -> list[tuple[int, int, int]]:
    """(from, to, bytes) of every state on the GPU: a gpu subgroup from its upload to its download, a
    resident one from 0 to the end of the phase (and beyond: it stays)."""
    tables = problem.tables
    intervals = []
    for g, mode in enumerate(plan.modes):
        if mode == "gpu":
            intervals.append((int(plan.starts[g, 0]), int(plan.starts[g, 2]) + int(tables.state_down[g]),
                              int(tables.state_size[g])))
        elif mode == "resident":
            intervals.append((0, max(phase, int(tables.capacity_times[-1]) + 1), int(tables.state_size[g])))
    return intervals


def memory_curve(problem: OffloadProblem, plan: OffloadPlan, phase: int) -> tuple[np.ndarray, np.ndarray]:
    """The optimizer state on the GPU as steps: (ticks, bytes from that tick on)."""
    intervals = memory_intervals(problem, plan, phase)
    events: dict[int, int] = {0: 0}
    for start, end, size in intervals:
        events[start] = events.get(start, 0) + size
        events[end] = events.get(end, 0) - size
    times = np.array(sorted(events), dtype=np.int64)
    return times, np.cumsum([events[t] for t in times])


def evaluate(problem: OffloadProblem, plan: OffloadPlan) -> OffloadEvaluation:
    """Check every rule of the problem against the plan, from its start times alone."""
    tables = problem.tables
    violations: list[str] = []
    if len(plan.modes) != problem.subgroups or np.shape(plan.starts) != (problem.subgroups, 3):
        return OffloadEvaluation(False, 0, 0, [f"the plan has {len(plan.modes)} subgroups, the problem "
                                               f"{problem.subgroups}"], {})
    jobs: dict[str, list[tuple[int, int, int]]] = {resource: [] for resource in RESOURCES}
    phase = 0
    for g, mode in enumerate(plan.modes):
        if mode not in MODES:
            violations.append(f"subgroup {g}: unknown mode '{mode}'")
            continue
        if mode == "resident" and not problem.allow_resident:
            violations.append(f"subgroup {g}: resident state is not allowed")
        end = None
        for k, step in enumerate(tables.path(mode, g)):
            start = int(plan.starts[g, k])
            if step is None:
                continue
            if start < 0:
                violations.append(f"subgroup {g}: step {k} has no start")
                continue
            resource, duration = step
            jobs[resource].append((start, start + duration, g))
            if end is not None and start < end:
                violations.append(f"subgroup {g}: step {k} starts at {start} before the previous step ends at {end}")
            end = start + duration
            phase = max(phase, end)
        first = int(plan.starts[g, 0])
        if mode == "cpu" and 0 <= first < tables.release[g]:
            violations.append(f"subgroup {g}: gradient sent at {first} before it is ready at {tables.release[g]}")
        if int(plan.starts[g, 1]) < tables.update_release[g]:
            violations.append(f"subgroup {g}: update at {plan.starts[g, 1]} before {tables.update_release[g]}")
    for resource, items in jobs.items():
        items.sort()
        for (_s1, e1, g1), (s2, _, g2) in itertools.pairwise(items):
            if s2 < e1:
                violations.append(f"{resource}: subgroups {g1} and {g2} overlap at {s2}")
    times, used = memory_curve(problem, plan, phase)
    change_times, step_times = times.tolist(), tables.capacity_times.tolist()
    peak = 0
    for tick in sorted(set(change_times) | set(step_times)):
        in_use = int(used[bisect.bisect_right(change_times, tick) - 1])
        free = int(tables.capacity_bytes[bisect.bisect_right(step_times, tick) - 1])
        if tick < phase or tick == 0:
            peak = max(peak, in_use)
        if in_use > free:
            violations.append(f"GPU memory: {in_use / GB:.9g} GB of state at {tick / TICKS_PER_MS:g} ms, "
                              f"{free / GB:.9g} GB free")
            break
    busy = {resource: sum(e - s for s, e, _ in items) for resource, items in jobs.items()}
    return OffloadEvaluation(not violations, phase, peak, violations, busy)


# --- the event simulator ----------------------------------------------------------------------------

class _Calendar:
    """A resource's busy intervals, sorted, for earliest-gap insertion."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def earliest(self, ready: int, duration: int) -> int:
        """The earliest start >= ready of a gap that holds `duration`."""
        i = bisect.bisect_right(self.ends, ready)
        start = ready
        while i < len(self.starts):
            if start + duration <= self.starts[i]:
                return start
            start = max(start, self.ends[i])
            i += 1
        return start

    def book(self, start: int, duration: int) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, start + duration)


class _Memory:
    """Booked state on the GPU against the free-memory steps."""

    def __init__(self, tables: OffloadTables, resident_bytes: int) -> None:
        self.times = tables.capacity_times.tolist()
        self.free = [int(c) - resident_bytes for c in tables.capacity_bytes]
        self.booked: list[tuple[int, int, int]] = []

    def first_conflict(self, start: int, end: int, size: int) -> int | None:
        """None if [start, end) holds `size` bytes more everywhere, else the next time memory frees up
        (-1 if it never does)."""
        overlapping = [(s, e, m) for s, e, m in self.booked if s < end and e > start]
        first = bisect.bisect_right(self.times, start) - 1
        points = sorted({start, *(s for s, _, _ in overlapping if s > start),
                         *(t for t in self.times[first + 1:] if t < end)})
        for tick in points:
            used = sum(m for s, e, m in overlapping if s <= tick < e)
            if used + size > self.free[bisect.bisect_right(self.times, tick) - 1]:
                later = [e for s, e, _ in overlapping if s <= tick < e]
                later += self.times[bisect.bisect_right(self.times, tick):][:1]
                return min(later) if later else -1
        return None

    def book(self, start: int, end: int, size: int) -> None:
        self.booked.append((start, end, size))


def list_schedule(problem: OffloadProblem, modes: tuple[str, ...] | list[str],
                  order: list[int] | None = None, updates_from: int = 0) -> OffloadPlan:
    """Time `modes` greedily: subgroups in `order` (default: by gradient-ready time, then index)
    each get the earliest gaps on their path's resources, and a gpu subgroup's upload waits until
    its state fits in memory until its download ends. A gpu upload aims to end when its gradient
    is ready (just-in-time prefetch) rather than hold memory early. `updates_from` (ticks) holds
    every update back until then, which can pay where greedy early updates crowd the links. Raises an
    InputError when a state can never fit."""
    tables = problem.tables
    modes = tuple(modes)
    if len(modes) != problem.subgroups:
        raise InputError(f"{len(modes)} modes for {problem.subgroups} subgroups", source=problem.name)
    resident_bytes = sum(int(tables.state_size[g]) for g, mode in enumerate(modes) if mode == "resident")
    if resident_bytes > tables.lowest_free_bytes():
        raise InputError(f"resident optimizer state needs {resident_bytes / GB:.1f} GB but as little as "
                         f"{tables.lowest_free_bytes() / GB:.1f} GB is free on the GPU", source=problem.name)
    calendars = {resource: _Calendar() for resource in RESOURCES}
    memory = _Memory(tables, resident_bytes)
    if order is None:
        order = sorted(range(problem.subgroups), key=lambda g: (int(tables.release[g]), g))
    starts = np.full((problem.subgroups, 3), -1, dtype=np.int64)
    most_free = max(memory.free)
    update_release = np.maximum(tables.update_release, updates_from)
    for g in order:
        mode = modes[g]
        if mode not in MODES:
            raise InputError(f"subgroup {g}: unknown mode '{mode}'; choose one of {', '.join(MODES)}",
                             source=problem.name)
        first, update, last = tables.path(mode, g)
        if mode == "cpu":
            starts[g] = _place_chain(calendars, (first, update, last), int(tables.release[g]),
                                     int(update_release[g]))
        elif mode == "resident":
            start = calendars["gpu"].earliest(int(update_release[g]), update[1])
            calendars["gpu"].book(start, update[1])
            starts[g, 1] = start
        else:
            need = int(tables.state_size[g])
            if need > most_free:
                raise InputError(f"subgroup {g} needs {need / GB:.2f} GB of state on the GPU but at most "
                                 f"{most_free / GB:.2f} GB is ever free", source=problem.name)
            ready = max(0, int(update_release[g]) - first[1])
            while True:
                chain = _place_chain(calendars, (first, update, last), ready, int(update_release[g]),
                                     book=False)
                end = int(chain[2]) + last[1]
                retry = memory.first_conflict(int(chain[0]), end, need)
                if retry is None:
                    break
                if retry < 0:
                    raise InputError(f"the simulator found no time when subgroup {g}'s state ({need / GB:.2f} "
                                     "GB) fits in the GPU memory left free", source=problem.name)
                ready = max(retry, ready + 1)
            for (resource, duration), start in zip((first, update, last), chain):
                calendars[resource].book(int(start), duration)
            memory.book(int(chain[0]), end, need)
            starts[g] = chain
    return OffloadPlan(modes, starts)


def best_timing(problem: OffloadProblem, modes: list[str] | tuple[str, ...]) -> tuple[int, OffloadPlan] | None:
    """The best of the simulator's plans for `modes` (phase ticks, plan): subgroups taken by
    gradient-ready time, or the GPU path's first (they free the links for the CPU path's uploads
    later); updates as early as allowed, or, where updates may start before the backward pass ends,
    held back until it ends. None if no variant fits in memory."""
    tables = problem.tables
    last_gradient = int(tables.release.max())
    holds = [0] if int(tables.update_release.min()) >= last_gradient else [0, last_gradient]
    plans = []
    for key in (lambda g: (int(tables.release[g]), g), lambda g: (modes[g] == "cpu", int(tables.release[g]), g)):
        order = sorted(range(problem.subgroups), key=key)
        for hold in holds:
            try:
                plan = list_schedule(problem, modes, order, updates_from=hold)
            except InputError:
                continue
            plans.append((evaluate(problem, plan).phase, plan))
    return min(plans, key=lambda c: c[0]) if plans else None


def _place_chain(calendars: dict[str, _Calendar], steps: tuple, ready: int, update_ready: int,
                 book: bool = True) -> np.ndarray:
    """Earliest gaps for a three-step chain: the first step from `ready`, the update from
    `update_ready` and the first step's end, the last step after the update."""
    starts = np.full(3, -1, dtype=np.int64)
    time = ready
    for k, (resource, duration) in enumerate(steps):
        if k == 1:
            time = max(time, update_ready)
        start = calendars[resource].earliest(time, duration)
        if book:
            calendars[resource].book(start, duration)
        starts[k] = start
        time = start + duration
    return starts


# --- JSON -----------------------------------------------------------------------------------------

def _positive(value: object, what: str, source: str) -> float:
    found = _number(value, what, source)
    if found <= 0:
        raise InputError(f"{what} must be positive, got {found:g}", source=source)
    return found


def _free_memory(value: object, source: str) -> tuple[tuple[float, float], ...]:
    what = "hardware.free_memory_gb"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ((0.0, _number(value, what, source)),)
    if not isinstance(value, list) or not value:
        raise InputError(f"{what} must be a number of GB or a list of [from_ms, GB] steps", source=source)
    steps = []
    for i, step in enumerate(value):
        if not isinstance(step, list) or len(step) != 2:
            raise InputError(f"{what}[{i}] must be [from_ms, GB]", source=source)
        steps.append((_number(step[0], f"{what}[{i}][0]", source), _number(step[1], f"{what}[{i}][1]", source)))
    return tuple(steps)


SUBGROUP_FIELDS = {"params", "ready_ms"}
DOCUMENT_FIELDS = {"kind", "name", "model", "subgroups", "hardware", "bytes_per_param", "update_after_ms",
                   "allow_resident"}
HARDWARE_FIELDS = {"h2d_gbps", "d2h_gbps", "cpu_adam_gparams", "gpu_adam_gparams", "free_memory_gb"}


def offload_from_json(document: dict, source: str, name: str) -> OffloadProblem:
    """A problem from its JSON document (the README lists the fields)."""
    subgroups = document.get("subgroups")
    if not isinstance(subgroups, list) or not subgroups:
        raise InputError("'subgroups' must be a non-empty list of {\"params\": .., \"ready_ms\": ..}", source=source)
    params, ready = [], []
    for i, entry in enumerate(subgroups):
        if not isinstance(entry, dict) or "params" not in entry:
            raise InputError(f"subgroups[{i}] must be an object with 'params'", source=source)
        unknown = set(entry) - SUBGROUP_FIELDS
        if unknown:
            raise InputError(f"subgroups[{i}] has unknown field(s) {', '.join(sorted(unknown))}", source=source)
        count = _number(entry["params"], f"subgroups[{i}].params", source)
        if count < 1 or count != int(count) or count > LARGEST:
            raise InputError(f"subgroups[{i}].params must be a whole number from 1 to 2^53, got {count:g}",
                             source=source)
        params.append(int(count))
        ready.append(_number(entry.get("ready_ms", 0), f"subgroups[{i}].ready_ms", source))
    hardware = document.get("hardware")
    if not isinstance(hardware, dict):
        raise InputError("'hardware' must be an object with " + ", ".join(sorted(HARDWARE_FIELDS)), source=source)
    missing = HARDWARE_FIELDS - set(hardware)
    if missing:
        raise InputError(f"hardware lacks {', '.join(sorted(missing))}", source=source)
    unknown = set(hardware) - HARDWARE_FIELDS
    if unknown:
        raise InputError(f"hardware has unknown field(s) {', '.join(sorted(unknown))}", source=source)
    sizes = document.get("bytes_per_param", {})
    if not isinstance(sizes, dict) or set(sizes) - {"state", "gradient", "parameter"}:
        raise InputError("bytes_per_param must be an object with state, gradient and parameter", source=source)
    unknown = set(document) - DOCUMENT_FIELDS
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(sorted(unknown))}; expected "
                         f"{', '.join(sorted(DOCUMENT_FIELDS))}", source=source)
    allow_resident = document.get("allow_resident", True)
    if not isinstance(allow_resident, bool):
        raise InputError(f"allow_resident must be true or false, got {allow_resident!r}", source=source)
    problem_name = document.get("name")
    try:
        return OffloadProblem(
            name=problem_name if isinstance(problem_name, str) else name,
            params=np.array(params, dtype=np.int64),
            ready_ms=np.array(ready),
            h2d_gbps=_positive(hardware["h2d_gbps"], "hardware.h2d_gbps", source),
            d2h_gbps=_positive(hardware["d2h_gbps"], "hardware.d2h_gbps", source),
            cpu_adam_params_per_s=_positive(hardware["cpu_adam_gparams"], "hardware.cpu_adam_gparams", source) * 1e9,
            gpu_adam_params_per_s=_positive(hardware["gpu_adam_gparams"], "hardware.gpu_adam_gparams", source) * 1e9,
            free_memory=_free_memory(hardware["free_memory_gb"], source),
            state_bytes=_number(sizes.get("state", 12), "bytes_per_param.state", source),
            grad_bytes=_number(sizes.get("gradient", 2), "bytes_per_param.gradient", source),
            param_bytes=_number(sizes.get("parameter", 2), "bytes_per_param.parameter", source),
            update_after_ms=_number(document.get("update_after_ms", 0), "update_after_ms", source),
            allow_resident=allow_resident,
            model=document.get("model", {}) if isinstance(document.get("model"), dict) else {},
        )
    except InputError as error:
        raise InputError(error.message, source=source) from None


def offload_to_json(problem: OffloadProblem) -> dict:
    """The problem's JSON document, as `offload_from_json` reads it."""
    memory = problem.free_memory
    return {
        "kind": "offload",
        "name": problem.name,
        "model": problem.model,
        "hardware": {"h2d_gbps": problem.h2d_gbps, "d2h_gbps": problem.d2h_gbps,
                     "cpu_adam_gparams": problem.cpu_adam_params_per_s / 1e9,
                     "gpu_adam_gparams": problem.gpu_adam_params_per_s / 1e9,
                     "free_memory_gb": memory[0][1] if len(memory) == 1 else [list(step) for step in memory]},
        "bytes_per_param": {"state": problem.state_bytes, "gradient": problem.grad_bytes,
                            "parameter": problem.param_bytes},
        "update_after_ms": problem.update_after_ms,
        "allow_resident": problem.allow_resident,
        "subgroups": [{"params": int(p), "ready_ms": round(float(r), 3)}
                      for p, r in zip(problem.params, problem.ready_ms)],
    }


def write_offload(problem: OffloadProblem) -> str:
    """The problem's JSON file text (what `cpsched offload-profile` writes)."""
    return json.dumps(offload_to_json(problem), indent=1) + "\n"
