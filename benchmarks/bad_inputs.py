"""Benchmark: bad and extreme problem files in every family, each run through `cpsched solve` (and
some through `cpsched check`) as a user would. Every run must end with exit 0, 1 or 2, print no
traceback, stay within the time limit plus 15 s of wall time and under 4 GB of memory.

    python -m benchmarks.bad_inputs --time-limit 3 --out results/bad_inputs.json

The files are made here, from a small valid problem of each family (what `generate`,
`pipeline-profile`, `experts-generate` and `offload-profile` write): every scalar field set in turn
to values a file can hold and a reader must judge (NaN, infinities, 2^63, negative, huge, a string,
null, a list), lists emptied, plus shapes that cost time or memory (deep nesting, millions of
microbatches, huge machine counts) and broken files (empty, binary, UTF-16, a directory).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ALLOWANCE_S = 15.0
MEMORY_LIMIT_KB = 4 * 1024 * 1024
# values a reader must judge; NaN and the infinities are the literals Python's json writes
VALUES = [float("nan"), float("inf"), float("-inf"), -1, 0, 2**63, 1e308, 1e30, 2.5, "x", None, [], {}, True]


def _run(args: list[str], limit: float) -> dict:
    """One cpsched command: exit code, wall time, peak memory (KB) and whether it printed a traceback."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([sys.executable, "-m", "cpsched", *args], stdout=out, stderr=err)
        watchdog = threading.Timer(limit + 60, process.kill)
        watchdog.start()
        _, status, usage = os.wait4(process.pid, 0)  # the child's own peak memory, not the sum
        watchdog.cancel()
        wall = time.monotonic() - started
        code = process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return {"exit": code, "wall_s": round(wall, 2), "peak_kb": usage.ru_maxrss, "traceback": "Traceback" in stderr,
            "last_line": stderr.strip().splitlines()[-1][:200] if stderr.strip() else ""}


def _leaves(document, path=()):
    """Paths to the scalar fields of a JSON document (the first item of each list only)."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(document, list) and document:
        yield from _leaves(document[0], (*path, 0))
        if not isinstance(document[0], (dict, list)):
            yield path  # the list itself, to empty it
    else:
        yield path


def replaced(document, path: tuple, value: object):
    """A copy of `document` with `value` at `path` (keys and list indices)."""
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def _mutations(document: dict, per_field: int) -> list[tuple[str, dict]]:
    """Each scalar field set to `per_field` of VALUES (rotating, so every value meets many fields),
    and each list of scalars emptied."""
    found = []
    rotation = itertools.cycle(range(len(VALUES)))
    for path in _leaves(document):
        if not path or path[0] in ("kind", "model"):
            continue
        for _ in range(per_field):
            value = VALUES[next(rotation)]
            found.append((f"{'.'.join(map(str, path))}={value!r}", replaced(document, path, value)))
    return found


def _broken_files(folder: Path) -> list[tuple[str, Path]]:
    files = []
    broken = [("empty", b""), ("binary", bytes(range(256)) * 4), ("utf16", '{"kind": "pipeline"}'.encode("utf-16")),
              ("deep-list", b"[" * 100_000 + b"]" * 100_000),
              ("deep-object", b'{"a":' * 20_000 + b"1" + b"}" * 20_000), ("null", b"null"),
              ("number", b"1e999999"), ("string", b'"jobshop"'), ("huge-int", b"9" * 100_000),
              ("bom-json", b'\xef\xbb\xbf{"kind": "offload"}'), ("no-kind", b'{"layers": []}'),
              ("unknown-kind", b'{"kind": "flowshop"}')]
    for name, data in broken:
        path = folder / f"{name}.json"
        path.write_bytes(data)
        files.append((name, path))
    (folder / "a-directory.json").mkdir(exist_ok=True)
    files.append(("directory", folder / "a-directory.json"))
    files.append(("missing", folder / "missing.json"))
    return files


def _jobshop_texts() -> list[tuple[str, str]]:
    good = "2 2\n0 3 1 2\n1 4 0 1\n"
    return [("valid", good), ("negative duration", "2 2\n0 -3 1 2\n1 4 0 1\n"),
            ("machine out of range", "2 2\n0 3 5 2\n1 4 0 1\n"), ("missing tokens", "2 2\n0 3 1\n1 4 0 1\n"),
            ("fractional", "2 2\n0 3.5 1 2\n1 4 0 1\n"), ("huge duration", f"2 2\n0 {2**62} 1 2\n1 4 0 1\n"),
            ("duration 2^63", f"2 2\n0 {2**63} 1 2\n1 4 0 1\n"), ("billion jobs", "1000000000 2\n0 3 1 2\n"),
            ("billion machines", "1 1000000000\n0 3\n"), ("zero jobs", "0 2\n"), ("header only", "2 2\n"),
            ("letters", "2 2\n0 a 1 2\n1 4 0 1\n"), ("nan", "2 2\n0 nan 1 2\n1 4 0 1\n"),
            ("extra tokens", "2 2\n0 3 1 2 7\n1 4 0 1\n"), ("taillard bad", "Nb of jobs, Nb of Machines\n2 2 x\n"),
            ("repeated machine", "2 2\n0 3 0 2\n1 4 0 1\n"), ("tabs and CRLF", "2\t2\r\n0\t3\t1\t2\r\n1\t4\t0\t1\r\n")]


def _documents(workdir: Path) -> dict[str, dict]:
    """A small valid problem of each ML family, as its writer makes it."""
    made = {}
    for family, args in [("pipeline", ["pipeline-profile", "gpt2-small", "-p", "2", "-m", "4"]),
                         ("offload", ["offload-profile", "gpt2-small"]),
                         ("experts", ["experts-generate", "mixtral", "--nodes", "2", "--gpus-per-node", "2",
                                      "--redundant", "4", "--layers", "2", "--tokens", "256",
                                      "--current", "contiguous"])]:
        path = workdir / f"{family}.json"
        if family == "experts":
            args = [*args, "-o", str(path)]
        done = subprocess.run([sys.executable, "-m", "cpsched", *args], capture_output=True, text=True, check=True)
        if family != "experts":
            path.write_text(done.stdout)
        made[family] = json.loads(path.read_text())
    return made


def _extremes(documents: dict[str, dict]) -> list[tuple[str, str, dict]]:
    """Valid or nearly valid shapes that cost time or memory."""
    pipeline, experts, offload = documents["pipeline"], documents["experts"], documents["offload"]
    found = [("pipeline", f"microbatches={m}", replaced(pipeline, ("pipeline", "microbatches"), m))
             for m in (10_000, 100_000, 250_000, 10**7)]
    found += [("pipeline", "stages=100000", replaced(pipeline, ("pipeline", "stages"), 100_000)),
              ("pipeline", "20000 layers", replaced(pipeline, ("layers",), pipeline["layers"][:1]
                                                 + [pipeline["layers"][1]] * 20_000 + pipeline["layers"][-1:]))]
    for key in ("gpus_per_node", "nodes", "slots_per_gpu"):
        for value in (10**5, 10**7):
            if key in experts.get("topology", {}):
                found.append(("experts", f"topology.{key}={value}", replaced(experts, ("topology", key), value)))
    found += [("offload", f"{n} subgroups", replaced(offload, ("subgroups",), offload["subgroups"][:1] * n))
              for n in (10_000, 1_000_000)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=3.0)
    parser.add_argument("--per-field", type=int, default=2, help="values tried per scalar field")
    parser.add_argument("--only", choices=("generic", "jobshop", "pipeline", "experts", "offload"))
    parser.add_argument("--out", type=Path, default=None, help="write every run as JSON here")
    options = parser.parse_args()
    limit = options.time_limit
    workdir = Path(tempfile.mkdtemp(prefix="cpsched-bad-"))
    cases: list[tuple[str, str, list[str]]] = []
    for name, path in _broken_files(workdir):
        cases.append(("generic", name, ["solve", str(path), "-t", str(limit)]))
    for number, (name, text) in enumerate(_jobshop_texts()):
        path = workdir / f"jobshop{number}.txt"
        path.write_text(text)
        cases.append(("jobshop", name, ["solve", str(path), "-t", str(limit)]))
    big = workdir / "jobshop-2000x500.txt"
    subprocess.run([sys.executable, "-m", "cpsched", "generate", "-n", "2000", "-m", "500", "-o", str(big)],
                   check=True, capture_output=True)
    cases.append(("jobshop", "2000x500 auto", ["solve", str(big), "-t", str(max(limit, 20))]))
    cases.append(("jobshop", "2000x500 cpsat", ["solve", str(big), "--method", "cpsat", "-t", str(limit)]))
    documents = _documents(workdir)
    mutated = [(family, name, doc) for family, base in documents.items()
               for name, doc in _mutations(base, options.per_field)]
    for number, (family, name, document) in enumerate(mutated + _extremes(documents)):
        path = workdir / f"{family}{number}.json"
        path.write_text(json.dumps(document))
        cases.append((family, name, ["solve", str(path), "-t", str(limit)]))
    schedule = workdir / "schedule.json"
    schedule.write_text(json.dumps({"kind": "jobshop-schedule", "starts": [[0, float("nan")]]}))
    cases.append(("jobshop", "check NaN start", ["check", "ft06", str(schedule)]))
    if options.only:
        cases = [case for case in cases if case[0] == options.only]
    runs, failures = [], 0
    for family, name, args in cases:
        allowed = float(args[args.index("-t") + 1]) + ALLOWANCE_S if "-t" in args else ALLOWANCE_S
        run = {"family": family, "case": name, "allowed_s": allowed, **_run(args, allowed)}
        problems = [why for why, bad in [("exit code", run["exit"] not in (0, 1, 2)), ("traceback", run["traceback"]),
                                         ("time", run["wall_s"] > allowed),
                                         ("memory", run["peak_kb"] > MEMORY_LIMIT_KB)] if bad]
        run["failed"] = problems
        failures += bool(problems)
        runs.append(run)
        mark = "FAIL " + ",".join(problems) if problems else "ok"
        print(f"{mark:>6}  {family:8} exit={run['exit']} {run['wall_s']:6.1f}s {run['peak_kb'] // 1024:5d}MB  "
              f"{name[:60]:60}  {run['last_line'][:90]}", flush=True)
    closest = min(runs, key=lambda run: run["allowed_s"] - run["wall_s"])
    print(f"{len(runs)} files, {failures} failed; peak memory {max(r['peak_kb'] for r in runs) // 1024} MB; "
          f"closest to its allowance: {closest['family']} {closest['case']} ({closest['wall_s']:.1f} s of "
          f"{closest['allowed_s']:.0f})")
    if options.out:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(runs, indent=1))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
