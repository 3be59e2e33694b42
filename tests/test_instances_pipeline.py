"""The pipeline problem, its JSON, the schedule simulator and the model profiles."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpsched.instances import InputError, load
from cpsched.instances.pipeline.problem import (
    Layer,
    PipelineProblem,
    Placement,
    Recompute,
    pipeline_to_json,
    read_pipeline,
)
from cpsched.instances.pipeline.profiles import PROFILES, ProfileOptions, layer_flops, model_shape, profile_problem
from cpsched.instances.pipeline.schedule import device_orders, evaluate


def chain(forward, backward, microbatches, schedule="1f1b", virtual=1, stages=None, **layer):
    layers = tuple(Layer(f"l{i}", "decoder", f, b, layer.get("params", 1e6), layer.get("activation", 1e6),
                         layer.get("output", 0.0), layer.get("recompute"))
                   for i, (f, b) in enumerate(zip(forward, backward)))
    return PipelineProblem("t", layers, stages or len(forward) // virtual, microbatches, schedule,
                           virtual_stages=virtual)


@pytest.mark.parametrize("forward, backward, microbatches, expected", [
    # the two cases of ../shared/reference/pipeline-schedule.md where sum + (m - 1) x max is wrong
    ([10, 1], [10, 1], 2, 40.0),  # the formula says 42
    ([1, 10, 9, 1, 2], [11, 11, 12, 18, 2], 2, 101.0),  # the formula says 98
    ([2, 2, 2], [4, 4, 4], 5, 18 + 4 * 6),  # equal stages: the formula is exact
])
def test_simulator_gives_the_exact_1f1b_iteration_time(forward, backward, microbatches, expected):
    problem = chain(forward, backward, microbatches)
    result = evaluate(problem, Placement.from_counts(problem, [1] * len(forward)))
    assert result.iteration_ms == expected


def test_gpipe_runs_every_forward_before_any_backward():
    problem = chain([1, 1], [2, 2], 3, schedule="gpipe")
    result = evaluate(problem, Placement.from_counts(problem, [1, 1]))
    # device 1 ends its forwards at 4, then 3 backwards; device 0's last backward ends 2 later
    assert result.iteration_ms == 4 + 3 * 2 + 2
    assert [op[0] for op in device_orders(problem)[0]] == ["F"] * 3 + ["B"] * 3


def test_interleaved_order_is_megatrons():
    problem = chain([1] * 4, [2] * 4, 4, schedule="interleaved", virtual=2, stages=2)
    order = device_orders(problem)[0]
    # warm-up (p - 1 - rank) * 2 + (v - 1) * p = 4 forwards: chunk 0 for microbatches 0-1, then chunk 1
    assert order[:4] == [("F", 0, 0), ("F", 0, 1), ("F", 2, 0), ("F", 2, 1)]
    assert sum(op[0] == "F" for op in order) == sum(op[0] == "B" for op in order) == 8


def test_1f1b_stage_i_holds_min_p_minus_i_m_microbatches():
    problem = chain([1] * 4, [1] * 4, 3, activation=1024 * 1000, params=0)
    result = evaluate(problem, Placement.from_counts(problem, [1] * 4))
    assert result.peak_kib == [1000 * min(4 - i, 3) for i in range(4)]


def test_recompute_trades_memory_for_time():
    layers = dict(recompute=Recompute(activation_bytes=0, extra_ms=1), activation=1e9, params=0)
    problem = chain([1, 1], [2, 2], 4, **layers)
    plain = evaluate(problem, Placement.from_counts(problem, [1, 1]))
    recomputed = evaluate(problem, Placement.from_counts(problem, [1, 1], recompute=True))
    assert recomputed.iteration > plain.iteration
    assert max(recomputed.peak_kib) < max(plain.peak_kib)


def test_memory_over_the_cap_is_a_violation():
    problem = PipelineProblem("t", chain([1, 1], [1, 1], 2, params=1e9).layers, 2, 2, memory_gb=(10.0, 10.0))
    result = evaluate(problem, Placement.from_counts(problem, [1, 1]))
    assert result.violations == ["device 0 needs 18.00 GB, its cap is 10 GB",
                                 "device 1 needs 18.00 GB, its cap is 10 GB"]


def test_json_round_trip(tmp_path):
    problem = profile_problem(model_shape("gpt2-small"), ProfileOptions(stages=2, microbatches=4, vocab_shards=2))
    path = tmp_path / "p.json"
    path.write_text(json.dumps(pipeline_to_json(problem)))
    again = load(str(path))
    assert again.layers == problem.layers and again.stages == 2 and again.head == problem.layers[-1:]
    assert read_pipeline(path).microbatches == 4


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 80), st.integers(0, 10**9), st.integers(0, 10**9),
                          st.booleans()), min_size=3, max_size=8),
       st.integers(1, 8), st.integers(0, 10**6), st.floats(0, 100), st.integers(1, 3))
def test_json_keeps_every_field_as_written(layers, shards, sync, latency, stages):
    """Any problem written by pipeline_to_json reads back equal, vocabulary fields included."""
    body = tuple(Layer(f"l{i}", "decoder", f, b, p, a, a // 2, Recompute(a // 4, f) if rc else None)
                 for i, (f, b, p, a, rc) in enumerate(layers))
    head = (Layer("out", "output", 5, 10, 10**6, 10**7, shards=shards, sync_bytes=sync if shards > 1 else 0),)
    problem = PipelineProblem("p", body + head, min(stages, len(body)), 4, collective_latency_us=latency)
    again = PipelineProblem.from_dict(json.loads(json.dumps(pipeline_to_json(problem))))
    assert again.layers == problem.layers and again.collective_latency_us == problem.collective_latency_us
    assert again.tables == problem.tables


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["layers"][1].update(forward_ms=-1), "layers[1].forward_ms is -1, it must not be below 0"),
    (lambda d: d["pipeline"].update(stages=9), "3 unsharded layers cannot fill 9 stages"),
    (lambda d: d["layers"][0].pop("params"), "layers[0] lacks 'params'"),
    (lambda d: d["pipeline"].update(schedule="zb"), "schedule 'zb' is unknown"),
    (lambda d: d["devices"].update(memory_gb=[1, 2]), "devices.memory_gb lists 2 values for 3 stages"),
    (lambda d: d["layers"][2].update(shards=2, sync_bytes=-8), "layers[2].sync_bytes is -8, it must not be below 0"),
    (lambda d: d["devices"].update(collective_latency_us=-1),
     "devices.collective_latency_us is -1, it must not be below 0"),
])
def test_bad_fields_name_the_file_and_the_field(tmp_path, edit, message):
    document = {"kind": "pipeline", "pipeline": {"stages": 3, "microbatches": 3}, "devices": {},
                "layers": [{"forward_ms": 1, "backward_ms": 2, "params": 1, "activation_bytes": 1}] * 3}
    document = json.loads(json.dumps(document))
    edit(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError) as error:
        load(str(path))
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"kind": "pipeline",\n "layers": [\n}')
    with pytest.raises(InputError, match=r"bad.json:3: invalid JSON"):
        load(str(path))


def test_llama3_output_layer_costs_about_two_decoder_layers():
    # ../shared/reference/placement.md: 2.24 decoder layers of forward FLOPs at s = 4096
    shape = PROFILES["llama3-8b"]
    ratio = 2 * 4096 * shape.hidden * shape.vocab / layer_flops(shape, 4096, 1, moe=False)
    assert ratio == pytest.approx(2.24, abs=0.02)


def test_hf_config_gives_the_builtin_shape(tmp_path):
    config = {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "intermediate_size": 14336,
              "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "hidden_act": "silu",
              "tie_word_embeddings": False}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    shape = model_shape(str(path))
    builtin = PROFILES["llama3-8b"]
    assert (shape.layers, shape.hidden, shape.ffn, shape.kv_heads, shape.vocab, shape.gated) == (
        builtin.layers, builtin.hidden, builtin.ffn, builtin.kv_heads, builtin.vocab, builtin.gated)


def test_unknown_profile_lists_the_builtin_ones():
    with pytest.raises(InputError, match=r"nor a built-in profile; choose one of gpt2-small"):
        model_shape("gpt5")


def test_numbers_beyond_the_solvers_integers_name_the_file(tmp_path):
    document = pipeline_to_json(chain([1, 2], [2, 4], 4))
    document["layers"][1]["forward_ms"] = 1e300
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match=r"huge.json: the layers add up to 4e\+303 microseconds of work over "
                                         r"the microbatches, beyond 2\^53: check the units"):
        load(str(path))


@pytest.mark.parametrize("change, message", [
    ({"forward_ms": -5}, "t: layers[0].forward_ms is -5, it must not be below 0"),
    ({"backward_ms": float("nan")}, "t: layers[0].backward_ms must be a number, got nan"),
    ({"shards": 2.5}, "t: layers[0].shards 2.5 is not an integer"),
])
def test_the_constructor_checks_layers_as_the_reader_does(change, message):
    fields = {"name": "l0", "kind": "decoder", "forward_ms": 1, "backward_ms": 2, "params": 1, "activation_bytes": 1}
    first = Layer(**{**fields, **change})
    with pytest.raises(InputError) as error:
        PipelineProblem("t", (first, Layer("l1", "decoder", 1, 2, 1, 1)), 2, 2)
    assert str(error.value) == message


def test_a_jobshop_built_from_jobs_refuses_fractional_durations():
    from cpsched.instances.jobshop.problem import JobShop

    with pytest.raises(InputError, match=r"^JobShop.from_jobs: machines and durations must be whole numbers, got 2.5"):
        JobShop.from_jobs("x", 2, [[(0, 2.5), (1, 3)]])
