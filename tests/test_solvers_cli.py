import json
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cpsched.solvers.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_solve_prints_one_summary_line_and_writes_a_checkable_schedule(tmp_path):
    out = tmp_path / "ft06.json"
    result = run("solve", "ft06", "--time-limit", 10, "--quiet", "--output", out)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "instance=ft06  size=6x6  makespan=55  bound=55  gap_to_bound=0.00%  best_known=55  "
        "gap_to_best_known=0.00%  status=optimal  seconds=" + result.output.split("seconds=")[1].strip()
    ]
    document = json.loads(out.read_text())
    assert document["instance"] == "ft06" and document["makespan"] == 55
    checked = run("check", "ft06", out)
    assert checked.exit_code == 0 and checked.output == "feasible  instance=ft06  makespan=55\n"


def test_solve_json_output_is_parseable():
    result = run("solve", "ft06", "-t", 10, "--quiet", "--json", "--method", "cpsat-plain")
    summary = json.loads(result.output)
    assert summary["objective"] == 55 and summary["status"] == "optimal"
    assert summary["method"] == "cpsat-plain" and summary["instance"] == "ft06"


def test_solve_json_holds_the_schedule_that_check_accepts(tmp_path):
    """--json carries the start times (the same document -o writes), so a script needs no second file."""
    summary = json.loads(run("solve", "ft06", "-t", 10, "--quiet", "--json", "--method", "cpsat-plain").output)
    path = tmp_path / "from_json.json"
    path.write_text(json.dumps(summary["schedule"]))
    assert len(summary["schedule"]["starts"]) == 6
    checked = run("check", "ft06", path)
    assert checked.exit_code == 0 and "makespan=55" in checked.output


def test_check_lists_every_violation_and_exits_1(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"starts": [[0] * 6 for _ in range(6)]}))
    result = run("check", "ft06", path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("infeasible  instance=ft06  violations=")
    assert "  job 0 operation 1 starts at 0 before its predecessor ends at 1" in lines


def test_check_refuses_a_schedule_for_another_instance(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"instance": "ft10", "starts": [[0] * 10] * 10}))
    result = run("check", "ft06", path)
    assert result.exit_code == 2
    assert result.output == f"error: {path}: schedule is for instance 'ft10', not 'ft06'\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["solve", "nope"], "error: 'nope' is neither a file nor a bundled instance name "
                            "(`cpsched instances` lists the bundled ones)\n"),
        (["check", "ft06", "missing.json"], "error: missing.json: cannot read the file: No such file or directory\n"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message):
    result = run(*args)
    assert result.exit_code == 2 and result.output == message


def test_a_malformed_instance_file_names_file_and_line(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text("2 2\n0 5 1\n")
    result = run("solve", path, "--quiet")
    assert result.exit_code == 2
    assert result.output == (f"error: {path}:2: job 0 has 3 numbers; expected machine/duration pairs "
                             "(an even count): the line may be truncated\n")


def test_instances_lists_a_family_with_sizes_and_bounds():
    result = run("instances", "--family", "ft")
    assert result.exit_code == 0
    assert result.output.splitlines()[1:] == [
        "ft06    ft      6x6            55      55  optimal",
        "ft10    ft      10x10         930     930  optimal",
        "ft20    ft      20x5         1165    1165  optimal",
    ]
    listed = json.loads(run("instances", "--json").output)
    assert len(listed) == 242 and listed[0]["name"] == "abz5"


def test_gantt_chart_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "chart.png"
    result = run("solve", "ft06", "-t", 5, "--quiet", "--gantt", chart)
    assert result.exit_code == 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("method", ["cpsat", "cpsat-plain"])  # in the tabu phase, in CP-SAT's search
def test_ctrl_c_returns_the_best_schedule_so_far(tmp_path, method):
    out = tmp_path / "ta41.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "cpsched", "solve", "ta41", "-t", "60", "-m", method, "--output", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    first_progress = process.stderr.readline()  # wait for a progress line with an incumbent: the search is on
    while first_progress and first_progress.split("incumbent")[-1].split()[0] == "-":
        first_progress = process.stderr.readline()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, first_progress + stderr  # interrupted, with the best kept
    assert "status=feasible  interrupted=yes" in stdout
    assert "incumbent" in first_progress
    assert run("check", "ta41", out).exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["solve", "ft06", "--seed", "-1"],
         "error: Invalid value for '--seed': -1 is not in the range 0<=x<=2147483647."),
        (["solve", "ft06", "-t", "0"], "error: Invalid value for '--time-limit' / '-t': 0.0 is not in the range x>0."),
        (["solve", "ft06", "-t", "nan"], "error: --time-limit must be a finite number of seconds, got nan"),
        (["solve", "ft06", "--method", "magic"],
         "error: unknown method 'magic' for job shops; choose one of auto, cpsat-plain, cpsat, lns, pdr, pdr-sample:K, "
         "pdr:spt, pdr:lpt, pdr:mwkr, pdr:lwkr, pdr:mopnr, pdr:fifo, pdr:fdd/mwkr, pdr:random"),
        (["solve", "ft06", "--method", "pdr:magic"],
         "error: unknown dispatching rule 'magic'; choose one of spt, lpt, mwkr, lwkr, mopnr, fifo, fdd/mwkr, "
         "random (optionally with ':active'), or the learned rule: pdr, pdr-sample:K"),
        (["solve", "ft06", "--warm-start", "mwkr:late"],
         "error: unknown variant 'late' in rule 'mwkr:late'; choose non-delay or active; "
         "--warm-start also takes 'best' (the shortest of them)"),
        (["solve", "ft06", "--method", "pdr:spt", "--warm-start", "mwkr"],
         "error: --warm-start applies to the search methods, not to 'pdr:spt'"),
        (["generate", "--jobs", "0", "--machines", "5", "-o", "x.txt"],
         "error: Invalid value for '--jobs' / '-n': 0 is not in the range x>=1."),
        (["solve", "ft06", "-o", "/no/such/folder/x.json"],
         "error: /no/such/folder/x.json: --output: cannot write into /no/such/folder"),
        (["frobnicate"], "error: No such command 'frobnicate'."),
    ],
)
def test_option_errors_are_one_line_with_exit_code_2(args, message):
    process = subprocess.run([sys.executable, "-m", "cpsched", *args], capture_output=True, text=True)
    assert process.returncode == 2
    assert process.stderr == message + "\n" and process.stdout == ""


def test_help_explains_the_commands():
    process = subprocess.run([sys.executable, "-m", "cpsched", "solve", "--help"], capture_output=True, text=True)
    assert process.returncode == 0
    assert "--time-limit" in process.stdout and "Ctrl-C stops the search" in process.stdout


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_a_description_and_an_example(command):
    # A help text assembled by string concatenation is not a docstring, and click then shows none.
    text = run(command, "--help").output
    description = text.split("\n\n")[1]
    assert not description.startswith("Options:") and "Example" in text, text


def test_gantt_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run("solve", "ft06", "-t", 5, "--quiet", "--gantt", "chart.png")
    assert result.exit_code == 2
    assert result.output == "error: --gantt/--plot needs matplotlib: pip install matplotlib (cpsched's 'plot' extra)\n"


def test_generate_writes_a_reproducible_instance_that_solve_reads(tmp_path):
    path = tmp_path / "big.txt"
    result = run("generate", "--jobs", 40, "--machines", 10, "--seed", 3, "-o", path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {path}  instance=big  size=40x10  operations=400  lower_bound=")
    again = tmp_path / "again.txt"
    run("generate", "--jobs", 40, "--machines", 10, "--seed", 3, "-o", again)
    assert path.read_text() == again.read_text()
    solved = run("solve", path, "--method", "pdr:mopnr", "--quiet")
    assert solved.exit_code == 0 and "size=40x10" in solved.output
    assert "method=pdr:mopnr  found_by=dispatch" in solved.output


def test_warm_start_from_the_command_line():
    result = run("solve", "ft06", "-m", "cpsat-plain", "--warm-start", "mwkr:active", "-t", 10, "-q", "--json")
    summary = json.loads(result.output)
    assert summary["objective"] == 55 and summary["method"] == "cpsat-plain"


def test_generate_refuses_sizes_it_cannot_make():
    result = run("generate", "--jobs", 100000, "--machines", 100, "-o", "never.txt")
    assert result.exit_code == 2
    assert result.output == "error: 100000 x 100 is 10,000,000 operations; generate at most 5,000,000\n"


def test_train_pdr_writes_weights_with_provenance_that_solve_can_use(tmp_path):
    weights = tmp_path / "w.npz"
    trained = run("train-pdr", "--updates", 2, "--seed", 3, "--out", weights, "--quiet")
    assert trained.exit_code == 0, trained.output
    assert trained.output.startswith(f"wrote {weights}  updates=2  best_update=")
    provenance = json.loads((tmp_path / "w.json").read_text())
    assert provenance["seed"] == 3 and provenance["updates"] == 2
    assert [point["update"] for point in provenance["validation_curve"]] == [0, 2]
    assert (tmp_path / "w.ckpt.npz").exists()
    for method in ("pdr", "pdr-sample:4"):
        solved = run("solve", "ft06", "--method", method, "--weights", weights, "--quiet")
        assert solved.exit_code == 0 and f"method={method}  found_by=dispatch" in solved.output
    warm = run("solve", "ft06", "--warm-start", "pdr", "--weights", weights, "-t", 5, "--quiet")
    assert warm.exit_code == 0 and "makespan=55" in warm.output


def test_train_pdr_refuses_a_weights_file_without_npz():
    result = run("train-pdr", "--out", "weights.txt")
    assert result.exit_code == 2
    assert result.output == "error: weights.txt: --out: the weights file must end in .npz\n"


@pytest.mark.parametrize("args, message", [
    (["solve", "ft06", "--gantt", "{tmp}/x.xyz"], "error: {tmp}/x.xyz: --gantt/--plot: cannot draw a '.xyz' file; use "
                                                 ".png, .pdf, .svg or another image type\n"),
    (["solve", ""], "error: the instance is an empty name: give a file or a bundled instance name (see `cpsched "
                    "instances`)\n"),
    (["solve", "ft06", "--unavailable", "1@5"], "error: --unavailable '1@5': expected MACHINE@TIME+DURATION, e.g. "
                                                "3@120+40\n"),
    (["solve", "{tmp}/nokind.json"], 'error: {tmp}/nokind.json: no "kind": a pipeline problem file says "kind": '
                                     '"pipeline"\n'),
])
def test_small_mistakes_get_one_line_naming_the_right_flag_before_any_solve(tmp_path, args, message):
    (tmp_path / "nokind.json").write_text('{"layers": [], "pipeline": {}}')
    outcome = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert outcome.exit_code == 2 and outcome.output == message.format(tmp=tmp_path)


def test_the_progress_line_says_when_the_kernel_is_being_prepared():
    import io

    from cpsched.solvers.cpsat import Progress
    from cpsched.solvers.jobshop.recipes import KERNEL_NOTE
    from cpsched.solvers.progress import ProgressLine

    stream = io.StringIO()
    line = ProgressLine(stream)
    line(Progress(0.0, None, None, note=KERNEL_NOTE))
    line._write()
    line(Progress(1.0, 930, 900))
    line._write()
    first, second = stream.getvalue().splitlines()
    assert first.endswith(f"incumbent         -  bound         -  {KERNEL_NOTE}") and KERNEL_NOTE not in second
    from cpsched import load, solve

    reports = []
    solve(load("ft06"), "auto", time_limit=2, progress=reports.append)
    assert reports[0].note == KERNEL_NOTE and reports[-1].note is None
