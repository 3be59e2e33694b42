import json

from benchmarks.sweep import expand, gap_table, reference_makespans, run_cells
from cpsched.instances import load
from cpsched.solvers import solve


def test_groups_expand_ranges_and_steps():
    assert expand("ta71-73") == ["ta71", "ta72", "ta73"]
    assert expand("dmu41-80/10") == ["dmu41", "dmu51", "dmu61", "dmu71"]
    assert expand("ft06") == ["ft06"]


def test_cells_resume_and_generated_instances_are_measured_against_the_best_found(tmp_path):
    out = tmp_path / "cells.jsonl"
    cells = [("ft06", "pdr:spt"), ("ft06", "pdr:mwkr")]
    context = {"time_limit": 1}

    def solve_cell(problem, method):
        return solve(problem, method, time_limit=1)

    done = run_cells(cells, solve_cell, out, context, load_problem=load, upper_bound=lambda name: None)
    assert len(out.read_text().splitlines()) == 2
    again = run_cells(cells, lambda *_: (_ for _ in ()).throw(AssertionError("reran a finished cell")), out,
                      context, load_problem=load, upper_bound=lambda name: None)
    assert again == {key: json.loads(json.dumps(value)) for key, value in done.items()}
    best = min(r["makespan"] for r in done.values())
    assert reference_makespans(done) == {"ft06": best}
    table = gap_table({"ft06": ["ft06"]}, ["pdr:spt", "pdr:mwkr"], done).splitlines()
    assert table[0] == "| group | pdr:spt | pdr:mwkr | pdr:mwkr / pdr:spt | instances |"
    assert table[2].startswith("| ft06 | ") and table[2].endswith(" | 1/1 |")
    partial = gap_table({"two": ["ft06", "la01"]}, ["pdr:spt", "pdr:mwkr"], done).splitlines()
    assert partial[2].endswith(" | 1/2 |")


def test_pdr_benchmark_groups_instances_by_family_and_size():
    from benchmarks.pdr import size_groups

    groups = size_groups("ta09-12,dmu04-06,dmu41-42")
    assert groups == {"ta 15x15": ["ta09", "ta10"], "ta 20x15": ["ta11", "ta12"],
                      "dmu 20x15": ["dmu04", "dmu05", "dmu41", "dmu42"], "dmu 20x20": ["dmu06"]}
