import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from cpsched.instances import InputError, evaluate, load
from cpsched.instances.jobshop.problem import Schedule
from cpsched.learned_pdr import RuleSpec
from cpsched.solvers.bench.datasets import instance_names
from cpsched.solvers.bench.report import gap_over_time, markdown, summarize, write_csv
from cpsched.solvers.bench.store import CellRecord, ResultsDatabase
from cpsched.solvers.bench.sweep import Cell, cross_product, sweep
from cpsched.solvers.cli import main
from cpsched.solvers.family import MethodSpec
from cpsched.solvers.jobshop.family import JOBSHOP


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_datasets_name_families_size_groups_ranges_and_instances():
    assert instance_names("ta:30x20") == [f"ta{k}" for k in range(41, 51)]
    assert len(instance_names("la")) == 40 and instance_names("la")[0] == "la01"
    assert instance_names("dmu41-80/10,ft10,dmu41") == ["dmu41", "dmu51", "dmu61", "dmu71", "ft10"]


@pytest.mark.parametrize("datasets, message", [
    ("tai", "unknown dataset or instance 'tai'; give a family (abz, dmu, ft, la, orb, swv, ta, yn), a size group "
            "such as ta:30x20, a range such as ta01-10, or a bundled instance name (`cpsched instances`)"),
    ("ta:30x30", "unknown dataset 'ta:30x30': ta has no 30x30 instances; its sizes: 15x15, 20x15, 20x20, 30x15, "
                 "30x20, 50x15, 50x20, 100x20"),
    ("la38-42", "unknown dataset or instance 'la41' (in 'la38-42'); give a family (abz, dmu, ft, la, orb, swv, ta, "
                "yn), a size group such as ta:30x20, a range such as ta01-10, or a bundled instance name "
                "(`cpsched instances`)"),
])
def test_an_unknown_dataset_is_refused_with_the_valid_forms(datasets, message):
    with pytest.raises(InputError) as error:
        instance_names(datasets)
    assert str(error.value) == message


def test_methods_are_checked_before_anything_runs():
    assert JOBSHOP.parse_method("pdr:mwkr:active").label == "pdr:mwkr:active"
    assert JOBSHOP.parse_method("pdr-sample:8") == MethodSpec("pdr-sample:8", rule=RuleSpec("pdr", samples=8))
    with pytest.raises(InputError, match=r"^unknown method 'cpsat-fast' for job shops; choose one of auto, "):
        JOBSHOP.parse_method("cpsat-fast")
    result = run("bench", "--datasets", "ft06", "--methods", "auto,cpsat-fast", "--db", "unused.sqlite")
    assert result.exit_code == 2
    assert result.output.startswith("error: unknown method 'cpsat-fast' for job shops; choose one of")
    assert not os.path.exists("unused.sqlite")


def _record(instance, method, makespan, best_known, status="feasible", seed=0, time_limit=10.0, trace=None):
    return CellRecord(instance=instance, method=method, time_limit=time_limit, seed=seed, workers=2,
                      makespan=makespan, bound=None, status=status, wall_time=1.0, best_known=best_known,
                      version="0", commit="abc", ortools="9", machine="x86_64", finished_at="2026-01-01T00:00:00",
                      trace=trace if trace is not None else [])


def test_a_sweep_commits_every_cell_with_its_schedule_and_skips_them_when_run_again(tmp_path):
    cells = cross_product(["ft06", "la01"], ["pdr:mwkr", "cpsat-plain"], [5.0], [0], 1)
    with ResultsDatabase(tmp_path / "r.sqlite") as database:
        assert sweep(database, cells) == (4, True)
        assert sweep(database, cells) == (0, True)
        records = {(r.instance, r.method): r for r in database.records()}
    assert set(records) == {(c.instance, c.method) for c in cells}
    for record in records.values():
        problem = load(record.instance)
        assert evaluate(problem, Schedule(record.schedule)).makespan == record.makespan
        assert record.trace and record.commit and record.version
    assert records[("ft06", "cpsat-plain")].makespan == 55 and records[("ft06", "cpsat-plain")].status == "optimal"


def test_a_database_of_another_schema_or_another_kind_is_refused_and_left_alone(tmp_path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        connection.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    before = other.read_bytes()
    with pytest.raises(InputError) as error:
        ResultsDatabase(other)
    assert str(error.value) == (f"{other}: a results database of schema version 99; this cpsched reads version 1 "
                                f"only and leaves the file as it is: use another --db")
    assert other.read_bytes() == before
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, just text that is long enough to have a header\n" * 5)
    with pytest.raises(InputError, match="not a cpsched results database"):
        ResultsDatabase(text)
    missing = tmp_path / "missing.sqlite"
    result = run("report", missing)
    assert result.exit_code == 2 and result.output == f"error: {missing}: no such results database\n"


def test_report_numbers_match_hand_computed_ones(tmp_path):
    records = [
        # ta01 (15x15) best known 1231; ta41 (30x20) best known 2006
        _record("ta01", "cpsat-plain", 1354, 1231),  # 10.0%
        _record("ta01", "auto", 1231, 1231, status="optimal"),  # 0%
        _record("ta41", "cpsat-plain", 2206, 2006),  # 9.97...%
        _record("ta41", "auto", 2056, 2006),  # 2.49...%
        _record("ta42", "cpsat-plain", 2000, 1937),  # only one method: left out of the means
    ]
    rows = {(r.group, r.method): r for r in summarize(records)}
    ta_auto = rows[("ta", "auto")]
    assert ta_auto.instances == 2 and ta_auto.of == 3 and ta_auto.optimal == 1 and ta_auto.matched_best_known == 1
    assert ta_auto.mean_gap == pytest.approx((0 + 100 * 50 / 2006) / 2)
    plain = rows[("ta", "cpsat-plain")].mean_gap
    assert plain == pytest.approx((100 * 123 / 1231 + 100 * 200 / 2006) / 2)
    assert ta_auto.ratio_to_baseline == pytest.approx(ta_auto.mean_gap / plain)
    assert rows[("ta 30x20", "auto")].mean_gap == pytest.approx(100 * 50 / 2006)
    assert rows[("ta 30x20", "auto")].of == 2
    text = markdown(summarize(records))
    assert "| group | cpsat-plain | auto | auto / cpsat-plain | instances |" in text
    assert "| ta 15x15 | 9.99% (0/0) | 0.00% (1/1) | 0.00 | 1/1 |" in text
    write_csv(summarize(records), tmp_path / "summary.csv")
    with (tmp_path / "summary.csv").open() as stream:
        first = next(csv.DictReader(stream))
    assert first["group"] == "ta" and first["method"] == "cpsat-plain" and first["instances"] == "2"


def test_gap_over_time_follows_the_incumbent_of_each_trace():
    records = [_record("ta01", "auto", 1231, 1231, trace=[[0.0, 1354, None], [5.0, 1231, 1200]]),
               _record("ta41", "auto", 2006, 2006, trace=[[2.0, 2206, None], [8.0, 2006, None]])]
    times, gaps = gap_over_time(records, 10.0, points=11)["auto"]
    assert times.tolist() == [float(t) for t in range(11)]
    assert gaps[0] != gaps[0]  # NaN: ta41 has no schedule yet
    assert gaps[2] == pytest.approx((100 * 123 / 1231 + 100 * 200 / 2006) / 2)
    assert gaps[5] == pytest.approx(100 * 200 / 2006 / 2) and gaps[9] == 0


def test_bench_and_report_from_the_command_line(tmp_path):
    db = tmp_path / "la.sqlite"
    result = run("bench", "--datasets", "la01-02", "--methods", "pdr:mwkr,pdr:spt", "-t", 5, "--db", db)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"cells=4  ran=4  skipped=0  remaining=0  db={db}"
    again = run("bench", "--datasets", "la01-02", "--methods", "pdr:mwkr,pdr:spt", "-t", 5, "--db", db, "--quiet")
    assert again.output == f"cells=4  ran=0  skipped=4  remaining=0  db={db}\n"
    report = run("report", db, "--out", tmp_path / "report")
    assert report.exit_code == 0, report.output
    assert "| la 10x5 |" in report.output
    assert {p.name for p in (tmp_path / "report").iterdir()} == {
        "report.md", "summary.csv", "gap_by_group.png", "gap_over_time.png"}


def test_a_sweep_killed_with_sigkill_resumes_without_losing_or_repeating_a_cell(tmp_path):
    db = tmp_path / "kill.sqlite"
    command = [sys.executable, "-m", "cpsched", "bench", "--datasets", "la21-26", "--methods", "cpsat-plain",
               "-t", "1", "-w", "1", "--db", str(db), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _count(db) < 2:
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    with ResultsDatabase(db) as database:
        survived = len(database.records())
    assert 2 <= survived < 6
    resumed = subprocess.run(command, capture_output=True, text=True, check=True)
    assert resumed.stdout == f"cells=6  ran={6 - survived}  skipped={survived}  remaining=0  db={db}\n"
    with ResultsDatabase(db) as database:
        records = database.records()
    assert sorted(r.instance for r in records) == [f"la{k}" for k in range(21, 27)]
    assert all(r.makespan is not None for r in records)


def test_a_small_sweep_runs_on_a_local_ray_instance(tmp_path):
    cells = [Cell(name, "pdr:mwkr", 5.0, 0, 1) for name in ("ft06", "la01", "la02")]
    with ResultsDatabase(tmp_path / "ray.sqlite") as database:
        assert sweep(database, cells, backend="ray") == (3, True)
        assert sorted(r.instance for r in database.records()) == ["ft06", "la01", "la02"]


def test_ctrl_c_stops_the_sweep_keeps_the_finished_cells_and_drops_the_interrupted_one(tmp_path):
    db = tmp_path / "int.sqlite"
    command = [sys.executable, "-m", "cpsched", "bench", "--datasets", "la21-26", "--methods", "cpsat-plain",
               "-t", "2", "-w", "1", "--db", str(db), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _count(db):
        time.sleep(0.1)
    time.sleep(0.5)  # well inside the second solve
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate()
    with ResultsDatabase(db) as database:
        records = database.records()
    assert process.returncode == 130
    assert out == (f"cells=6  ran={len(records)}  skipped=0  remaining={6 - len(records)}  db={db}  "
                   f"(interrupted: the same command resumes)\n")
    assert all(abs(r.wall_time - 2) < 0.5 for r in records)  # none cut short


def _count(db) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        if not connection.execute("SELECT name FROM sqlite_master WHERE name='cells'").fetchall():
            return 0
        return connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
