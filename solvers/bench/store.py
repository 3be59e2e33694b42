"""The results database of `cpsched bench`: one SQLite row per finished cell, committed at once.

SQLite makes each insert atomic: a sweep killed at any moment (Ctrl-C, kill -9, a power cut)
leaves every committed cell intact and no half-written one, so the same command resumes by skipping
the cells already there. WAL mode lets `cpsched report` read while a sweep writes.

A file written with another schema version is refused with a message, never altered.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from cpsched.instances.errors import InputError

SCHEMA_VERSION = 1

CellKey = tuple[str, str, float, int, int]  # instance, method, time limit, seed, workers


@dataclass
class CellRecord:
    """One finished (instance, method, time limit, seed, workers) run of a sweep."""

    instance: str
    method: str
    time_limit: float
    seed: int
    workers: int
    makespan: int | None
    bound: float | None
    status: str
    wall_time: float
    best_known: int | None
    version: str
    commit: str
    ortools: str
    machine: str
    finished_at: str
    trace: list | None = None  # [[seconds, objective, bound], ...] each time the incumbent or the bound moved
    schedule: list | None = None  # start time of every operation, in the instance's order
    error: str | None = None  # why the cell has no result (a model too big for memory, ...)

    @property
    def key(self) -> CellKey:
        return (self.instance, self.method, float(self.time_limit), int(self.seed), int(self.workers))


_COLUMNS = [f.name for f in fields(CellRecord)]
_JSON_COLUMNS = ("trace", "schedule")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    instance TEXT NOT NULL, method TEXT NOT NULL, time_limit REAL NOT NULL, seed INTEGER NOT NULL,
    workers INTEGER NOT NULL, makespan INTEGER, bound REAL, status TEXT NOT NULL, wall_time REAL NOT NULL,
    best_known INTEGER, version TEXT NOT NULL, commit_id TEXT NOT NULL, ortools TEXT NOT NULL,
    machine TEXT NOT NULL, finished_at TEXT NOT NULL, trace TEXT, schedule TEXT, error TEXT,
    PRIMARY KEY (instance, method, time_limit, seed, workers)
);
"""
# `commit` is an SQL keyword: the column is commit_id, the field `commit`
_SQL_COLUMNS = ["commit_id" if name == "commit" else name for name in _COLUMNS]


class ResultsDatabase:
    """Open (or create) a sweep's results file; `add` commits each cell the moment it is given."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise InputError(f"{self.path}: no such results database")
        if self.path.exists() and self.path.is_dir():
            raise InputError(f"{self.path}: a folder, not a results database")
        try:
            self._connection = sqlite3.connect(self.path)
            tables = {row[0] for row in self._connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as error:
            raise InputError(f"{self.path}: not a cpsched results database ({error})") from None
        if tables and "meta" not in tables:
            raise InputError(f"{self.path}: an SQLite file, but not a cpsched results database")
        if "meta" in tables:
            self._check_schema()
        else:
            self._connection.executescript(_SCHEMA)
            self._connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._connection.commit()
        self._connection.execute("PRAGMA journal_mode=WAL")

    def _check_schema(self) -> None:
        row = self._connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        found = row[0] if row else "none"
        if found != str(SCHEMA_VERSION):
            raise InputError(f"{self.path}: a results database of schema version {found}; this cpsched reads "
                             f"version {SCHEMA_VERSION} only and leaves the file as it is: use another --db")

    def add(self, record: CellRecord) -> None:
        values = asdict(record)
        row = [json.dumps(values[name]) if name in _JSON_COLUMNS and values[name] is not None else values[name]
               for name in _COLUMNS]
        placeholders = ", ".join("?" * len(_COLUMNS))
        with self._connection:  # one transaction: committed on return, rolled back on error
            self._connection.execute(f"INSERT OR REPLACE INTO cells ({', '.join(_SQL_COLUMNS)}) "
                                     f"VALUES ({placeholders})", row)

    def records(self) -> list[CellRecord]:
        rows = self._connection.execute(f"SELECT {', '.join(_SQL_COLUMNS)} FROM cells ORDER BY rowid")
        records = []
        for row in rows:
            values = dict(zip(_COLUMNS, row))
            for name in _JSON_COLUMNS:
                if values[name] is not None:
                    values[name] = json.loads(values[name])
            records.append(CellRecord(**values))
        return records

    def finished(self) -> set[CellKey]:
        rows = self._connection.execute("SELECT instance, method, time_limit, seed, workers FROM cells")
        return {(i, m, float(t), int(s), int(w)) for i, m, t, s, w in rows}

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> ResultsDatabase:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
