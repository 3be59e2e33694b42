"""The benchmark sweep: every (instance, method, time limit, seed) cell, run through the public API
(`instances.load`, `solvers.solve`) and committed to a `ResultsDatabase` the moment it finishes.

Cells run in this process (`jobs=1`), in local worker processes (`jobs>1`), or on a Ray cluster;
whichever runs them, only this process writes the database. A cell whose solve was interrupted
(Ctrl-C) is not recorded: its time limit was not honoured, so a resumed sweep runs it again.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import multiprocessing
import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata

import ortools

from cpsched.instances import best_known, load
from cpsched.instances.errors import InputError
from cpsched.solvers.bench.store import CellKey, CellRecord, ResultsDatabase
from cpsched.solvers.provenance import source_commit
from cpsched.solvers.registry import solve


@dataclass(frozen=True)
class Cell:
    instance: str
    method: str
    time_limit: float
    seed: int
    workers: int

    @property
    def key(self) -> CellKey:
        return (self.instance, self.method, float(self.time_limit), int(self.seed), int(self.workers))


def cross_product(instances: list[str], methods: list[str], time_limits: list[float], seeds: list[int],
                  workers: int) -> list[Cell]:
    """Every cell, instance by instance (so a partial sweep has whole instances to compare)."""
    return [Cell(name, method, limit, seed, workers)
            for name in instances for limit in time_limits for seed in seeds for method in methods]


def _package_version() -> str:
    try:
        return metadata.version("cpsched")
    except metadata.PackageNotFoundError:
        return "unknown"


def run_cell(cell: Cell) -> CellRecord | None:
    """Solve one cell; None when the solve was interrupted. A method that refuses the instance (a
    model too big for memory, ...) gives a record with status `refused` and the reason."""
    problem = load(cell.instance)
    known = best_known(cell.instance)
    common = dict(instance=cell.instance, method=cell.method, time_limit=cell.time_limit, seed=cell.seed,
                  workers=cell.workers, best_known=None if known is None else known.upper_bound,
                  version=_package_version(), commit=source_commit() or "unknown", ortools=ortools.__version__,
                  machine=platform.machine())
    try:
        result = solve(problem, cell.method, time_limit=cell.time_limit, workers=cell.workers, seed=cell.seed)
    except InputError as refused:
        return CellRecord(**common, makespan=None, bound=None, status="refused", wall_time=0.0,
                          finished_at=_now(), trace=[], error=str(refused))
    if result.metrics.get("interrupted"):
        return None
    return CellRecord(**common, makespan=None if result.objective is None else int(result.objective),
                      bound=result.bound, status=str(result.status), wall_time=round(result.wall_time, 3),
                      finished_at=_now(), trace=[[round(t, 3), o, b] for t, o, b in result.trace],
                      schedule=None if result.solution is None else result.solution.starts.tolist())


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_in_process(cells: Iterable[Cell], on_record: Callable[[CellRecord], None]) -> bool:
    """Run cells one after another here; False if a solve was interrupted (the sweep stops)."""
    for cell in cells:
        record = run_cell(cell)
        if record is None:
            return False
        on_record(record)
    return True


def run_in_processes(cells: list[Cell], jobs: int, on_record: Callable[[CellRecord], None]) -> bool:
    """Run cells on `jobs` local processes (spawned: CP-SAT's threads and fork do not mix); results
    come back here in the order they finish."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        pending = {pool.submit(run_cell, cell) for cell in cells}
        try:
            for future in concurrent.futures.as_completed(pending):
                record = future.result()
                if record is None:
                    raise KeyboardInterrupt
                on_record(record)
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            return False
    return True


def run_on_ray(cells: list[Cell], address: str | None, on_record: Callable[[CellRecord], None]) -> bool:
    """Run cells on a Ray cluster (`address`), or on a Ray instance started here when None; each
    cell asks Ray for as many CPUs as it has CP-SAT workers."""
    try:
        import ray
    except ImportError:
        raise InputError("--backend ray needs Ray: pip install 'cpsched[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="error")
    try:
        remote = ray.remote(run_cell)
        pending = {remote.options(num_cpus=cell.workers).remote(cell): cell for cell in cells}
        try:
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1)
                pending.pop(finished[0])
                record = ray.get(finished[0])
                if record is None:
                    raise KeyboardInterrupt
                on_record(record)
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            return False
    finally:
        if started_here:
            ray.shutdown()
    return True


def sweep(
    database: ResultsDatabase,
    cells: list[Cell],
    *,
    jobs: int = 1,
    backend: str = "local",
    address: str | None = None,
    on_record: Callable[[CellRecord], None] | None = None,
) -> tuple[int, bool]:
    """Run the cells `database` has not finished, committing each as it comes. Returns how many
    ran and whether the sweep completed (False: interrupted; the same call resumes)."""
    finished = database.finished()
    todo = [cell for cell in cells if cell.key not in finished]
    ran = 0

    def record(result: CellRecord) -> None:
        nonlocal ran
        database.add(result)
        ran += 1
        if on_record is not None:
            on_record(result)

    if not todo:
        return 0, True
    if backend == "ray":
        complete = run_on_ray(todo, address, record)
    elif jobs > 1:
        complete = run_in_processes(todo, jobs, record)
    else:
        try:
            complete = run_in_process(todo, record)
        except KeyboardInterrupt:
            complete = False
    return ran, complete
