"""Readers and writers for job shop files: OR-Library/JSPLIB standard, Taillard's original, JSON.

Every reader reports a malformed file as an `InputError` naming the file, the line and the fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import MAX_MACHINES, JobShop, Schedule
from cpsched.instances.serialization import parse_json
from cpsched.instances.validation import integer

FORMATS = ("standard", "taillard", "json")
_TAILLARD_HEADER = re.compile(r"nb\s+of\s+jobs", re.IGNORECASE)


def decode_text(data: bytes, source: str) -> str:
    """Bytes to text, refusing binary and empty files with a clear message."""
    if not data.strip():
        raise InputError("the file is empty", source=source)
    if b"\x00" in data:
        raise InputError("not a text file (it contains binary data)", source=source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError("not a text file (invalid UTF-8)", source=source, line=line) from None


def detect_format(text: str) -> str:
    """'json' if the text is a JSON object, 'taillard' if it has Taillard's header, else 'standard'."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return "json"
    for line in stripped.splitlines()[:3]:
        if _TAILLARD_HEADER.search(line):
            return "taillard"
    return "standard"


def parse_jobshop(text: str, source: str, name: str, fmt: str | None = None) -> JobShop:
    """Parse text in the given format (detected when None)."""
    fmt = fmt or detect_format(text)
    if fmt == "standard":
        return _parse_standard(text, source, name)
    if fmt == "taillard":
        return _parse_taillard(text, source, name)
    if fmt == "json":
        return _parse_json(text, source, name)
    raise InputError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")


def read_jobshop(path: str | Path, fmt: str | None = None, name: str | None = None) -> JobShop:
    """Read a job shop file; the instance name defaults to the file's stem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the file: {error.strerror}", source=str(path)) from None
    return parse_jobshop(decode_text(data, str(path)), str(path), name or path.stem, fmt)


def _numbered_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, tokens) of each non-blank line that is not a '#' comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if tokens and not tokens[0].startswith("#"):
            yield number, tokens


def _machine_count(token: object, source: str, line: int | None = None) -> int:
    """The header's number of machines: refused past MAX_MACHINES before anything is allocated."""
    n_machines = integer(token, "number of machines", source, line, minimum=1)
    if n_machines > MAX_MACHINES:
        raise InputError(f"{n_machines} machines is more than the {MAX_MACHINES:,} cpsched schedules (each machine "
                         "holds state in every method)", source=source, line=line)
    return n_machines


def _check_machine(machine: int, n_machines: int, source: str, line: int) -> None:
    if not 0 <= machine < n_machines:
        raise InputError(
            f"machine {machine} is out of range (this instance has machines 0..{n_machines - 1})",
            source=source,
            line=line,
        )


def _parse_standard(text: str, source: str, name: str) -> JobShop:
    lines = _numbered_lines(text)
    header = next(lines, None)
    if header is None:
        raise InputError("no data: expected a header line 'n_jobs n_machines'", source=source)
    line, tokens = header
    if len(tokens) != 2:
        raise InputError(
            f"expected a header 'n_jobs n_machines' (2 numbers), found {len(tokens)} numbers",
            source=source,
            line=line,
        )
    n_jobs = integer(tokens[0], "number of jobs", source, line, minimum=1)
    n_machines = _machine_count(tokens[1], source, line)
    jobs: list[list[tuple[int, int]]] = []
    for line, tokens in lines:
        if len(jobs) == n_jobs:
            raise InputError(
                f"unexpected extra line: the header says {n_jobs} jobs", source=source, line=line
            )
        if len(tokens) % 2:
            raise InputError(
                f"job {len(jobs)} has {len(tokens)} numbers; expected machine/duration pairs "
                "(an even count): the line may be truncated",
                source=source,
                line=line,
            )
        job = []
        for k in range(0, len(tokens), 2):
            machine = integer(tokens[k], "machine", source, line, minimum=None)
            _check_machine(machine, n_machines, source, line)
            duration = integer(tokens[k + 1], "duration", source, line, minimum=0)
            job.append((machine, duration))
        jobs.append(job)
    if len(jobs) < n_jobs:
        raise InputError(
            f"the file ends after {len(jobs)} of the {n_jobs} jobs its header announces",
            source=source,
            line=text.count("\n") + 1,
        )
    return JobShop.from_jobs(name, n_machines, jobs)


def _parse_taillard(text: str, source: str, name: str) -> JobShop:
    """Taillard's layout: header line, the numbers line, 'Times' block, 'Machines' block (1-indexed).

    A file of several instances (as Taillard published them) yields the first one."""
    lines = _numbered_lines(text)
    for _, tokens in lines:
        if _TAILLARD_HEADER.search(" ".join(tokens)):
            break
    else:
        raise InputError("no Taillard header ('Nb of jobs, Nb of Machines, ...') found", source=source)
    values = next(lines, None)
    if values is None:
        raise InputError("the file ends after the 'Nb of jobs' header", source=source)
    line, tokens = values
    if len(tokens) < 2:
        raise InputError("expected 'n_jobs n_machines ...' after the header", source=source, line=line)
    n_jobs = integer(tokens[0], "number of jobs", source, line, minimum=1)
    n_machines = _machine_count(tokens[1], source, line)
    durations = _taillard_block(lines, "times", n_jobs, n_machines, source, "duration")
    machines = _taillard_block(lines, "machines", n_jobs, n_machines, source, "machine")
    jobs = []
    for j in range(n_jobs):
        job = []
        for k in range(n_machines):
            machine, line = machines[j][k]
            if not 1 <= machine <= n_machines:
                raise InputError(
                    f"machine {machine} is out of range (Taillard's format numbers machines "
                    f"1..{n_machines})",
                    source=source,
                    line=line,
                )
            job.append((machine - 1, durations[j][k][0]))
        jobs.append(job)
    return JobShop.from_jobs(name, n_machines, jobs)


def _taillard_block(
    lines: Iterator[tuple[int, list[str]]], title: str, n_jobs: int, n_machines: int, source: str, what: str
) -> list[list[tuple[int, int]]]:
    entry = next(lines, None)
    if entry is None:
        raise InputError(f"the file ends before the '{title.capitalize()}' block", source=source)
    line, tokens = entry
    if " ".join(tokens).lower() != title:
        raise InputError(
            f"expected the line '{title.capitalize()}', found '{' '.join(tokens)[:40]}'",
            source=source,
            line=line,
        )
    rows = []
    for j in range(n_jobs):
        entry = next(lines, None)
        if entry is None:
            raise InputError(
                f"the file ends after {j} of the {n_jobs} rows of the '{title.capitalize()}' block",
                source=source,
            )
        line, tokens = entry
        if len(tokens) != n_machines:
            raise InputError(
                f"row {j} of '{title.capitalize()}' has {len(tokens)} numbers, expected {n_machines}",
                source=source,
                line=line,
            )
        rows.append([(integer(token, what, source, line, minimum=0), line) for token in tokens])
    return rows


def _parse_json(text: str, source: str, name: str) -> JobShop:
    """{"kind": "jobshop", "name": ..., "machines": M, "jobs": [[[machine, duration], ...], ...]}."""
    document = parse_json(text, source)
    if not isinstance(document, dict):
        raise InputError("expected a JSON object with 'machines' and 'jobs'", source=source)
    kind = document.get("kind", "jobshop")
    if kind != "jobshop":
        raise InputError(f"'kind' is '{kind}', expected 'jobshop'", source=source)
    n_machines = document.get("machines")
    if isinstance(n_machines, bool) or not isinstance(n_machines, int) or n_machines < 1:
        raise InputError("'machines' must be a positive integer (the number of machines)", source=source)
    _machine_count(n_machines, source)
    jobs = document.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise InputError("'jobs' must be a non-empty list of jobs", source=source)
    parsed = []
    for j, job in enumerate(jobs):
        if not isinstance(job, list) or not job:
            raise InputError(f"jobs[{j}] must be a non-empty list of [machine, duration]", source=source)
        pairs = []
        for k, pair in enumerate(job):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
            ):
                raise InputError(
                    f"jobs[{j}][{k}] must be [machine, duration] with two integers", source=source
                )
            machine, duration = pair
            if not 0 <= machine < n_machines:
                raise InputError(
                    f"jobs[{j}][{k}]: machine {machine} is out of range 0..{n_machines - 1}",
                    source=source,
                )
            if duration < 0:
                raise InputError(f"jobs[{j}][{k}]: duration {duration} is negative", source=source)
            integer(duration, f"jobs[{j}][{k}]: duration", source)
            pairs.append((machine, duration))
        parsed.append(pairs)
    document_name = document.get("name")
    return JobShop.from_jobs(document_name if isinstance(document_name, str) else name, n_machines, parsed)


def format_standard(problem: JobShop) -> str:
    rows = [f"{problem.n_jobs} {problem.n_machines}"]
    for j in range(problem.n_jobs):
        rows.append(" ".join(f"{m} {d}" for m, d in problem.job(j)))
    return "\n".join(rows) + "\n"


def format_taillard(problem: JobShop) -> str:
    lengths = set(problem.job_starts[1:] - problem.job_starts[:-1])
    if lengths != {problem.n_machines}:
        raise InputError(
            f"{problem.name}: Taillard's format needs every job to have {problem.n_machines} operations"
        )
    n, m = problem.n_jobs, problem.n_machines
    rows = [
        "Nb of jobs, Nb of Machines, Time seed, Machine seed, Upper bound, Lower bound",
        f"{n:>12}{m:>12}{0:>12}{0:>12}{0:>12}{problem.lower_bound:>12}",
        "Times",
    ]
    durations = problem.durations.reshape(n, m)
    machines = problem.machines.reshape(n, m)
    rows += [" ".join(f"{d:>3}" for d in row) for row in durations]
    rows.append("Machines")
    rows += [" ".join(f"{x + 1:>3}" for x in row) for row in machines]
    return "\n".join(rows) + "\n"


def format_json(problem: JobShop) -> str:
    jobs = [[list(pair) for pair in problem.job(j)] for j in range(problem.n_jobs)]
    document = {"kind": "jobshop", "name": problem.name, "machines": problem.n_machines, "jobs": jobs}
    return json.dumps(document) + "\n"


def format_jobshop(problem: JobShop, fmt: str) -> str:
    writers = {"standard": format_standard, "taillard": format_taillard, "json": format_json}
    if fmt not in writers:
        raise InputError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    return writers[fmt](problem)


def read_json_document(path: str | Path) -> object:
    """A JSON file's content, or an InputError naming the file (and line) when it is unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the file: {error.strerror}", source=str(path)) from None
    return parse_json(decode_text(data, str(path)), str(path))


def read_schedule(path: str | Path, problem: JobShop) -> Schedule:
    """A schedule file for `problem` (see `schedule_from_json` for the two layouts)."""
    return schedule_from_json(problem, read_json_document(path), str(path))


def schedule_from_json(problem: JobShop, document: object, source: str) -> Schedule:
    """A schedule from a JSON document: {"starts": [[start of each operation] per job]}, or
    {"operations": [{"job": j, "operation": k, "start": s}, ...]} as other tools write it."""
    other = document.get("instance") if isinstance(document, dict) else None
    if isinstance(other, str) and problem.name and other != problem.name:
        raise InputError(f"schedule is for instance '{other}', not '{problem.name}'", source=source)
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
            starts[problem.job_starts[j] + k] = integer(value, f"start of job {j} operation {k}", source)
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
        j = integer(entry["job"], "job", source)
        k = integer(entry["operation"], "operation", source)
        if not 0 <= j < problem.n_jobs or not 0 <= k < problem.job_starts[j + 1] - problem.job_starts[j]:
            raise InputError(f"no operation {k} of job {j} in {problem.name}", source=source)
        starts[problem.job_starts[j] + k] = integer(entry["start"], f"start of job {j} operation {k}", source)
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
