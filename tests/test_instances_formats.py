import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpsched.instances import InputError, JobShop, load
from cpsched.instances.jobshop.formats import detect_format, format_jobshop, parse_jobshop, read_jobshop

TAILLARD_TEXT = """Nb of jobs, Nb of Machines, Time seed, Machine seed, Upper bound, Lower bound
           2           2   840612802   398197754          10           7
Times
  3  2
  4  3
Machines
  1  2
  2  1
"""


def write(tmp_path, text, name="bad.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("fmt", ["standard", "taillard", "json"])
def test_every_format_round_trips(tmp_path, fmt):
    original = load("la01")
    path = write(tmp_path, format_jobshop(original, fmt), f"la01.{fmt}")
    again = read_jobshop(path)
    assert detect_format(path.read_text()) == fmt
    assert np.array_equal(again.machines, original.machines)
    assert np.array_equal(again.durations, original.durations)
    assert again.n_machines == original.n_machines


def test_taillard_original_format_is_read_with_one_indexed_machines(tmp_path):
    problem = load(write(tmp_path, TAILLARD_TEXT, "tai.txt"))
    assert [problem.job(0), problem.job(1)] == [[(0, 3), (1, 2)], [(1, 4), (0, 3)]]


def test_format_can_be_forced(tmp_path):
    path = write(tmp_path, TAILLARD_TEXT, "tai.txt")
    with pytest.raises(InputError, match="header 'n_jobs n_machines'"):
        load(path, "standard")


def test_ragged_jobs_round_trip_through_standard_and_json(tmp_path):
    problem = JobShop.from_jobs("ragged", 3, [[(0, 2)], [(1, 1), (2, 0), (0, 1)]])
    for fmt in ("standard", "json"):
        again = read_jobshop(write(tmp_path, format_jobshop(problem, fmt), f"r.{fmt}"))
        assert [again.job(0), again.job(1)] == [problem.job(0), problem.job(1)]
    with pytest.raises(InputError, match="every job to have 3 operations"):
        format_jobshop(problem, "taillard")


BAD_FILES = [
    ("", "bad.txt: the file is empty"),
    (b"\x00\x01\x02 binary", "bad.txt: not a text file (it contains binary data)"),
    (b"2 2\n0 1 1 \xff\n", "bad.txt:2: not a text file (invalid UTF-8)"),
    ("# only a comment\n", "bad.txt: no data: expected a header line 'n_jobs n_machines'"),
    ("2 2 5\n0 1 1 1\n", "bad.txt:1: expected a header 'n_jobs n_machines' (2 numbers), found 3 numbers"),
    ("two 2\n", "bad.txt:1: number of jobs 'two' is not an integer"),
    ("0 2\n", "bad.txt:1: number of jobs 0 is below 1"),
    ("2 2\n0 1 1 1\n0 1 1\n",
     "bad.txt:3: job 1 has 3 numbers; expected machine/duration pairs (an even count): the line may be truncated"),
    ("2 2\n0 1 1 1\n", "bad.txt:3: the file ends after 1 of the 2 jobs its header announces"),
    ("1 2\n0 1 1 1\n0 1 1 1\n", "bad.txt:3: unexpected extra line: the header says 1 jobs"),
    ("1 2\n0 1 2 1\n", "bad.txt:2: machine 2 is out of range (this instance has machines 0..1)"),
    ("1 2\n0 1 -1 1\n", "bad.txt:2: machine -1 is out of range (this instance has machines 0..1)"),
    ("1 2\n0 1 1 -4\n", "bad.txt:2: duration -4 is below 0"),
    ("1 2\n0 1 1 2.5\n", "bad.txt:2: duration '2.5' is not an integer"),
    ("{\"jobs\": [", "bad.txt:1: invalid JSON: Expecting value"),
    ("[1, 2]", "bad.txt: expected a JSON object with 'machines' and 'jobs'"),
    ('{"machines": 2}', "bad.txt: 'jobs' must be a non-empty list of jobs"),
    ('{"machines": 0, "jobs": [[[0, 1]]]}',
     "bad.txt: 'machines' must be a positive integer (the number of machines)"),
    ('{"machines": 2, "jobs": [[[0, 1], [1]]]}',
     "bad.txt: jobs[0][1] must be [machine, duration] with two integers"),
    ('{"machines": 2, "jobs": [[[0, 1], [3, 1]]]}', "bad.txt: jobs[0][1]: machine 3 is out of range 0..1"),
    ('{"machines": 2, "jobs": [[[0, -1]]]}', "bad.txt: jobs[0][0]: duration -1 is negative"),
    ('{"kind": "pipeline", "machines": 2, "jobs": []}', "bad.txt: 'layers' must be a non-empty list"),
    (TAILLARD_TEXT.replace("Machines", "Machine"), "bad.txt:6: expected the line 'Machines', found 'Machine'"),
    (TAILLARD_TEXT.replace("  2  1\n", "  2  3\n"),
     "bad.txt:8: machine 3 is out of range (Taillard's format numbers machines 1..2)"),
    (TAILLARD_TEXT.replace("  4  3\n", "  4\n"), "bad.txt:5: row 1 of 'Times' has 1 numbers, expected 2"),
    (TAILLARD_TEXT[: TAILLARD_TEXT.index("  2  1")],
     "bad.txt: the file ends after 1 of the 2 rows of the 'Machines' block"),
]


@pytest.mark.parametrize("content, message", BAD_FILES)
def test_each_malformed_file_gets_one_clear_line(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value).replace(str(tmp_path) + "/", "") == message
    assert "\n" not in str(error.value)


def assert_round_trips(problem: JobShop) -> None:
    """What a reader accepted, every writer writes and the reader reads back unchanged: a reader that
    mis-parsed a mutant (a job split, a number dropped) would not survive this."""
    rectangular = set(np.diff(problem.job_starts)) == {problem.n_machines}  # Taillard's format: no other shape
    for fmt in ("standard", "json", *(("taillard",) if rectangular else ())):
        again = parse_jobshop(format_jobshop(problem, fmt), "again", problem.name, fmt)
        assert again.n_machines == problem.n_machines
        assert np.array_equal(again.job_starts, problem.job_starts)
        assert np.array_equal(again.machines, problem.machines) and np.array_equal(again.durations, problem.durations)


VALID = "3 3\n0 5 1 3 2 2\n1 4 0 1 2 7\n2 1 1 2 0 3\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    position=st.integers(min_value=0, max_value=len(VALID)),
    cut=st.integers(min_value=0, max_value=4),
    insert=st.text(alphabet="0123456789 -.\nx#{", max_size=4),
)
def test_random_mutations_give_an_instance_or_a_clean_error(tmp_path, position, cut, insert):
    text = VALID[:position] + insert + VALID[position + cut :]
    path = write(tmp_path, text, "mutant.txt")
    try:
        problem = load(path)
    except InputError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)
    else:
        assert_round_trips(problem)


def test_schedule_documents_from_other_tools_are_read(tiny):
    from cpsched.instances.jobshop.formats import schedule_from_json

    document = {"operations": [{"job": j, "operation": k, "start": s}
                               for j, k, s in [(0, 0, 0), (0, 1, 4), (1, 0, 0), (1, 1, 4)]]}
    assert schedule_from_json(tiny, document, "x.json").starts.tolist() == [0, 4, 0, 4]
    with pytest.raises(InputError, match=r"x\.json: schedule is for instance 'ft06', not 'tiny'"):
        schedule_from_json(tiny, {"instance": "ft06", "starts": [[0, 3], [0, 4]]}, "x.json")
    with pytest.raises(InputError, match='"starts" for job 1 must list 2 start times'):
        schedule_from_json(tiny, {"starts": [[0, 3], [0]]}, "x.json")
    with pytest.raises(InputError, match="start of job 0 operation 1 'a' is not an integer"):
        schedule_from_json(tiny, json.loads('{"starts": [[0, "a"], [0, 4]]}'), "x.json")


MORE_BAD_FILES = [
    ("1 1\n0 99999999999999999999\n", "bad.txt:2: duration 99999999999999999999 is too large (at most 2^53)"),
    ('{"machines": 1, "jobs": [[[0, 99999999999999999999]]]}',
     "bad.txt: jobs[0][0]: duration 99999999999999999999 is too large (at most 2^53)"),
]


@pytest.mark.parametrize("content, message", MORE_BAD_FILES)
def test_absurdly_large_numbers_are_refused(tmp_path, content, message):
    with pytest.raises(InputError) as error:
        load(write(tmp_path, content))
    assert str(error.value).replace(str(tmp_path) + "/", "") == message


def test_forcing_taillard_on_a_file_without_its_header(tmp_path):
    with pytest.raises(InputError) as error:
        load(write(tmp_path, "1 1\n0 5\n"), "taillard")
    assert str(error.value).endswith("bad.txt: no Taillard header ('Nb of jobs, Nb of Machines, ...') found")


VALID_FILES = {
    "standard": "3 3\n0 5 1 3 2 2\n1 4 0 1 2 7\n2 1 1 2 0 3\n",
    "taillard": TAILLARD_TEXT,
    "json": '{"kind": "jobshop", "machines": 2, "jobs": [[[0, 3], [1, 2]], [[1, 4], [0, 3]]]}',
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(sorted(VALID_FILES)),
    position=st.integers(min_value=0, max_value=400),
    cut=st.integers(min_value=0, max_value=4),
    insert=st.text(alphabet='0123456789 -.\nx#{}[]",:', max_size=4),
)
def test_mutations_of_every_format_give_an_instance_or_a_clean_error(tmp_path, fmt, position, cut, insert):
    valid = VALID_FILES[fmt]
    position = min(position, len(valid))
    path = write(tmp_path, valid[:position] + insert + valid[position + cut :], "mutant.txt")
    try:
        problem = load(path)
    except InputError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)
    else:
        assert_round_trips(problem)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    position=st.integers(min_value=0, max_value=60),
    cut=st.integers(min_value=0, max_value=4),
    insert=st.text(alphabet='0123456789 -.e\nx{}[]",:', max_size=4),
)
def test_mutated_schedule_files_give_a_verdict_or_a_clean_error(tmp_path, tiny, position, cut, insert):
    from cpsched.instances import evaluate
    from cpsched.instances.jobshop.formats import read_schedule

    valid = '{"instance": "tiny", "starts": [[0, 4], [0, 4]]}'
    position = min(position, len(valid))
    text = valid[:position] + insert + valid[position + cut :]
    path = write(tmp_path, text, "mutant.json")
    try:
        schedule = read_schedule(path, tiny)
    except InputError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)
    else:  # what was read is exactly what the file says, one start per operation of each job
        starts = json.loads(text)["starts"]
        assert [len(job) for job in starts] == [2, 2]
        assert schedule.starts.tolist() == [start for job in starts for start in job]
        assert evaluate(tiny, schedule).makespan == max(s + d for s, d in zip(schedule.starts, tiny.durations))


@pytest.mark.parametrize("command", [["solve", "{path}", "-q"], ["check", "ft06", "{path}"]])
def test_json_nested_beyond_the_decoders_depth_is_one_line(tmp_path, command):
    from click.testing import CliRunner

    from cpsched.solvers.cli import main

    path = tmp_path / "deep.json"
    path.write_text('{"kind": "pipeline", "layers": ' + "[" * 100_000 + "]" * 100_000 + "}")
    outcome = CliRunner().invoke(main, [part.format(path=path) for part in command])
    assert outcome.exit_code == 2
    assert outcome.output == f"error: {path}: invalid JSON: nested deeper than any problem or schedule file is\n"
