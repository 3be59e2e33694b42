"""Every family's file reader and Python constructor under any input (hypothesis): any JSON value in
any field, any nesting depth, any number (NaN, infinities, 2^63, negative, huge) gives a valid
problem or one InputError line, never another exception. `benchmarks/bad_inputs.py` runs the same
kind of files through the CLI with its time and memory limits."""

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.bad_inputs import replaced
from cpsched.instances import JobShop, load
from cpsched.instances.errors import InputError
from cpsched.instances.experts.problem import ExpertProblem, synthetic, write_experts_json
from cpsched.instances.offload.problem import OffloadProblem, write_offload
from cpsched.instances.offload.profiles import OffloadOptions, offload_problem
from cpsched.instances.pipeline.problem import Layer, PipelineProblem, pipeline_to_json
from cpsched.instances.pipeline.profiles import PROFILES

NUMBERS = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([2**53, 2**62, 2**63, 2**64, 1e308, -1e308, 1e30, 0.5]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=8))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                           st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                           max_leaves=8)
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _documents() -> dict[str, dict]:
    layers = tuple(Layer(f"l{i}", "decoder", 1.0 + i, 2.0, 1e6, 1e6, 1e5) for i in range(4))
    return {
        "pipeline": pipeline_to_json(PipelineProblem("p", layers, 2, 4)),
        "experts": json.loads(write_experts_json(synthetic("mixtral", nodes=2, gpus_per_node=2, redundant=4, layers=1,
                                                           tokens=64, windows=1, current="contiguous"))),
        "offload": json.loads(write_offload(offload_problem(PROFILES["gpt2-small"], OffloadOptions()))),
    }


DOCUMENTS = _documents()


def _paths(document, path=()):
    """Every place in the document a value can go: each field, the first item of each list."""
    yield path
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*path, key))
    elif isinstance(document, list) and document:
        yield from _paths(document[0], (*path, 0))


PATHS = {family: [p for p in _paths(document) if p] for family, document in DOCUMENTS.items()}


def _read(text: str, suffix: str = ".json"):
    """The problem the CLI's reader makes of `text`, or its InputError: any other exception fails."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"case{suffix}"
        path.write_text(text)
        try:
            return load(path)
        except InputError as error:
            message = str(error)
            assert message and "\n" not in message and str(path) in message
            return error


@pytest.mark.parametrize("family", sorted(DOCUMENTS))
@FUZZ
@given(data=st.data())
def test_any_value_in_any_field_is_read_or_refused_in_one_line(family, data):
    path = data.draw(st.sampled_from(PATHS[family]))
    value = data.draw(JSON_VALUES)
    _read(json.dumps(replaced(DOCUMENTS[family], path, value)))


@pytest.mark.parametrize("family", sorted(DOCUMENTS))
@FUZZ
@given(depth=st.integers(1, 60_000), opener=st.sampled_from(["[", '{"a":']))
def test_any_nesting_depth_is_read_or_refused_in_one_line(family, depth, opener):
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    document = json.dumps(DOCUMENTS[family])
    text = document[:-1] + f', "extra": {nested}}}'
    _read(text)  # read or refused in one line: no other exception escapes
    assert isinstance(_read(nested), InputError)


@FUZZ
@given(st.lists(st.lists(st.one_of(st.integers(-2**70, 2**70), st.text(max_size=3),
                                   st.floats(allow_nan=True)), max_size=8), max_size=5),
       st.one_of(st.integers(-5, 2**70), st.text(max_size=3)))
def test_any_job_shop_text_is_read_or_refused_in_one_line(rows, header):
    text = f"{header} {len(rows)}\n" + "\n".join(" ".join(map(str, row)) for row in rows) + "\n"
    _read(text, ".txt")


@FUZZ
@given(st.lists(st.lists(st.tuples(NUMBERS, NUMBERS), max_size=4), max_size=4))
def test_job_shop_constructors_build_a_valid_shop_or_refuse_in_one_line(jobs):
    for build in (lambda: JobShop.from_lists(jobs), lambda: JobShop.from_jobs("j", 4, jobs)):
        try:
            shop = build()
        except InputError as error:
            assert "\n" not in str(error)
            continue
        assert shop.durations.min() >= 0 and shop.machines.max() < shop.n_machines


@FUZZ
@given(forward=NUMBERS, backward=NUMBERS, params=NUMBERS, activation=NUMBERS, microbatches=NUMBERS,
       memory=NUMBERS, p2p=NUMBERS)
def test_the_pipeline_constructor_builds_a_valid_problem_or_refuses_in_one_line(forward, backward, params, activation,
                                                                                microbatches, memory, p2p):
    layers = tuple(Layer(f"l{i}", "decoder", forward, backward, params, activation) for i in range(3))
    try:
        problem = PipelineProblem("p", layers, 2, microbatches, memory_gb=(memory, memory), p2p_gbps=p2p)
    except InputError as error:
        assert "\n" not in str(error)
        return
    assert all(math.isfinite(x) for x in (forward, backward, params, activation)) and problem.microbatches >= 1


@FUZZ
@given(load=NUMBERS, expert_bytes=NUMBERS, slots=NUMBERS, gpus=NUMBERS)
def test_the_experts_constructor_builds_a_valid_problem_or_refuses_in_one_line(load, expert_bytes, slots, gpus):
    base = synthetic("mixtral", nodes=1, gpus_per_node=2, layers=1, tokens=32, windows=1)
    loads = np.array(base.loads, dtype=object)
    loads[0, 0, 0] = load
    try:
        problem = ExpertProblem(base.name, loads.astype(float) if isinstance(load, float) else loads, base.nodes,
                                gpus, slots, expert_bytes=expert_bytes)
    except InputError as error:
        assert "\n" not in str(error)
        return
    assert problem.loads.dtype == np.int64 and problem.loads.min() >= 0 and math.isfinite(problem.expert_bytes)


@FUZZ
@given(params=st.lists(NUMBERS, min_size=1, max_size=3), ready=NUMBERS, h2d=NUMBERS, cpu=NUMBERS)
def test_the_offload_constructor_builds_a_valid_problem_or_refuses_in_one_line(params, ready, h2d, cpu):
    try:
        problem = OffloadProblem("o", params, [ready] * len(params), h2d, 50.0, cpu, 1e11, ((0.0, 80.0),))
    except InputError as error:
        assert "\n" not in str(error)
        return
    assert problem.params.tolist() == params and problem.params.min() >= 1  # taken exactly or not at all
    assert math.isfinite(problem.ready_ms[0]) and problem.cpu_adam_params_per_s >= 1e5


@pytest.mark.parametrize("family, path, value, message", [
    ("offload", ("update_after_ms",), 1e308, "update_after_ms is out of range (at most 2^53 microseconds or bytes)"),
    ("experts", ("plan_window",), float("-inf"), "a number is out of range (an infinity, or beyond 2^63)"),
    ("experts", ("coactivation", 0, 0, 0), 2**63, "a number is out of range (an infinity, or beyond 2^63)"),
    ("pipeline", ("layers",), [DOCUMENTS["pipeline"]["layers"][0]] * 2049,
     "2049 layers is more than the 2,048 cpsched plans"),
])
def test_what_the_bad_file_benchmark_found_is_refused_in_one_line(family, path, value, message):
    """Cases `benchmarks/bad_inputs.py` found raising (OverflowError) or running out of memory."""
    refused = _read(json.dumps(replaced(DOCUMENTS[family], path, value)))
    assert isinstance(refused, InputError) and message in str(refused)


def test_a_billion_machines_are_refused_before_anything_is_allocated():
    refused = _read("1 1000000000\n0 3\n", ".txt")
    assert isinstance(refused, InputError)
    assert "1000000000 machines is more than the 1,000,000 cpsched schedules" in str(refused)
