"""Pipeline-stage placement: the problem (a model's layers, the pipeline, the devices), a placement,
and their JSON form.

Times are given in milliseconds and memory in bytes, but every computation (the simulator, the
CP-SAT model, the baselines) uses the integer tables of `PipelineTables`: microseconds and KiB. So
the CP-SAT objective and the simulator agree exactly, not up to rounding.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from cpsched.instances.errors import InputError
from cpsched.instances.serialization import FromDocument, JsonSolution, plain
from cpsched.instances.units import GB, KIB, TICKS_PER_MS
from cpsched.instances.validation import LARGEST, integer, number

SCHEDULES = ("1f1b", "interleaved", "gpipe")
# Forwards, backwards and vocabulary passes of one iteration that the simulator takes: about 2 s to
# build the timeline and 40 bytes an operation, so every method keeps its time limit (docs/pipeline.md)
MAX_OPERATIONS = 4_000_000
MAX_LAYERS = 2048  # the DPs' segment tables: 580 MB at 2,000 layers, 20,000 ran out of 24 GB


@dataclass(frozen=True)
class Recompute:
    """What recomputing a layer's activations in the backward pass changes: the bytes it keeps per
    microbatch in flight, and the extra time (about one more forward)."""

    activation_bytes: float
    extra_ms: float


@dataclass(frozen=True)
class Layer:
    """One layer of the model, in order. `shards` > 1 marks a layer that may be cut into that many
    equal pieces placed on any stages (vocabulary parallelism); only the trailing layers (the output
    head) may be sharded."""

    name: str
    kind: str
    forward_ms: float
    backward_ms: float
    params: float
    activation_bytes: float
    output_bytes: float = 0.0  # the activation sent to the next stage per microbatch
    recompute: Recompute | None = None
    shards: int = 1
    sync_bytes: float = 0.0  # sharded layers: bytes all-reduced per microbatch between its two passes


@dataclass(frozen=True)
class PipelineProblem(FromDocument):
    """Layers in order, the pipeline (p stages, v virtual stages per device, m microbatches, schedule)
    and the devices (memory, speed, p2p bandwidth between stages)."""

    name: str
    layers: tuple[Layer, ...]
    stages: int
    microbatches: int
    schedule: str = "1f1b"
    virtual_stages: int = 1
    bytes_per_param: float = 18.0  # bf16 weights 2 + fp32 gradients 4 + fp32 master, m and v 12
    memory_gb: tuple[float, ...] = ()
    speed: tuple[float, ...] = ()
    p2p_gbps: float = 50.0
    collective_latency_us: float = 5.0  # one step of a ring all-reduce, on top of its bytes
    model: dict = field(default_factory=dict, compare=False)  # where the numbers came from, for reports

    def __post_init__(self) -> None:
        if not self.memory_gb:
            object.__setattr__(self, "memory_gb", (80.0,) * self.stages)
        if not self.speed:
            object.__setattr__(self, "speed", (1.0,) * self.stages)
        _check_problem(self)
        self.tables.check_range(self)  # built here, so a reader's error names its file


    @property
    def n_layers(self) -> int:
        """Number of layers, head layers included."""
        return len(self.layers)

    @property
    def virtual_count(self) -> int:
        """Pipeline stages counted with virtual stages: p x v chunks of the layer chain."""
        return self.stages * self.virtual_stages

    @cached_property
    def head_start(self) -> int:
        """Index of the first sharded layer; the chain is layers[:head_start]."""
        start = self.n_layers
        while start > 0 and self.layers[start - 1].shards > 1:
            start -= 1
        return start

    @property
    def chain(self) -> tuple[Layer, ...]:
        """Layers placed as contiguous blocks, one block per virtual stage."""
        return self.layers[: self.head_start]

    @property
    def head(self) -> tuple[Layer, ...]:
        """Sharded layers: each of their shards goes to any device."""
        return self.layers[self.head_start:]

    @cached_property
    def tables(self) -> PipelineTables:
        return PipelineTables.of(self)

    @property
    def size(self) -> str:
        """Layers, stages (and virtual stages) and microbatches, as the summary line prints them."""
        return f"{self.n_layers} layers, p={self.stages}" + (
            f" v={self.virtual_stages}" if self.virtual_stages > 1 else "") + f" m={self.microbatches}"


@dataclass(frozen=True)
class PipelineTables:
    """The problem in integers, device by device: microseconds and KiB. Everything computes from
    these, so the simulator and the CP-SAT model share one rounding."""

    forward: list[list[int]]  # [device][chain layer]
    backward: list[list[int]]
    recompute_extra: list[list[int]]  # 0 where the layer has no recompute option
    weight_kib: list[int]  # [chain layer]: params x bytes per parameter
    activation_kib: list[int]  # [chain layer], kept per microbatch in flight
    recompute_activation_kib: list[int]  # [chain layer]; equal to activation_kib without the option
    comm_after: list[int]  # [chain layer]: p2p time of its output (and of the gradient coming back)
    # [device][head layer][k]: pass S (logits, local max and sum) and pass T (softmax, gradients) of k
    # shards, rounded once, so that all shards on one device take exactly the unsharded layer's time
    shard_forward: list[list[list[int]]]
    shard_backward: list[list[list[int]]]
    shard_kib: list[list[int]]  # [head layer][k]: weights and activation (held from S to T) of k shards
    input_kib: int  # the head's input (the last chain layer's output), held by a device other than the last
    sync: list[int]  # [devices holding shards]: the all-reduce between the S and T passes of a microbatch
    capacity_kib: list[int]  # [device]

    @classmethod
    def of(cls, problem: PipelineProblem) -> PipelineTables:
        """The integer tables (microseconds, KiB) of `problem`."""
        chain, head = problem.chain, problem.head

        def ticks(ms: float, speed: float) -> int:
            return round(ms * TICKS_PER_MS / speed)

        def kib(value: float) -> int:
            return math.ceil(value / KIB)

        bandwidth = problem.p2p_gbps * GB / 1e6  # bytes per microsecond
        tables = cls(
            forward=[[ticks(x.forward_ms, s) for x in chain] for s in problem.speed],
            backward=[[ticks(x.backward_ms, s) for x in chain] for s in problem.speed],
            recompute_extra=[[ticks(x.recompute.extra_ms, s) if x.recompute else 0 for x in chain]
                             for s in problem.speed],
            weight_kib=[kib(x.params * problem.bytes_per_param) for x in chain],
            activation_kib=[kib(x.activation_bytes) for x in chain],
            recompute_activation_kib=[kib(x.recompute.activation_bytes if x.recompute else x.activation_bytes)
                                      for x in chain],
            comm_after=[round(x.output_bytes / bandwidth) for x in chain],
            shard_forward=[[[ticks(k * x.forward_ms / x.shards, s) for k in range(x.shards + 1)] for x in head]
                           for s in problem.speed],
            shard_backward=[[[ticks(k * x.backward_ms / x.shards, s) for k in range(x.shards + 1)] for x in head]
                            for s in problem.speed],
            shard_kib=[[kib(k * x.params * problem.bytes_per_param / x.shards) + kib(k * x.activation_bytes / x.shards)
                        for k in range(x.shards + 1)] for x in head],
            input_kib=kib(chain[-1].output_bytes) if head and chain else 0,
            sync=[all_reduce(g, sum(x.sync_bytes for x in head), bandwidth, problem.collective_latency_us)
                  for g in range(problem.stages + 1)],
            capacity_kib=[math.floor(gb * GB / KIB) for gb in problem.memory_gb],
        )
        return tables

    def check_range(self, problem: PipelineProblem) -> None:
        """Refuse numbers whose iteration or memory would not fit the solver's 64-bit integers (a
        unit mistake, most likely): every microbatch's work and every byte of every stage summed
        must stay below 2^53."""
        m = problem.microbatches * problem.virtual_stages
        work = max((sum(f) + sum(b) + sum(r) + sum(row[-1] for row in sf) + sum(row[-1] for row in sb))
                   for f, b, r, sf, sb in zip(self.forward, self.backward, self.recompute_extra,
                                              self.shard_forward, self.shard_backward))
        time = m * (work + 2 * sum(self.comm_after) + max(self.sync))
        memory = sum(self.weight_kib) + m * sum(self.activation_kib) + sum(row[-1] for row in self.shard_kib)
        for total, what in ((time, "microseconds of work"), (memory, "KiB of memory")):
            if total >= LARGEST:
                raise InputError(f"the layers add up to {total:.3g} {what} over the microbatches, beyond 2^53: "
                                 "check the units (milliseconds, bytes, parameter counts)", source=problem.name)


@dataclass(frozen=True)
class RecomputeClass:
    """Chain layers whose recomputation costs the same extra time on every device and saves the same
    memory: which of a stage's members recompute does not matter, only how many."""

    extra: tuple[int, ...]  # [device] microseconds per layer recomputed
    saving_kib: int  # per layer recomputed, per microbatch in flight
    members: list[int]


def recompute_classes(problem: PipelineProblem) -> list[RecomputeClass]:
    """The recomputable chain layers grouped by class, in the order their first member comes."""
    t = problem.tables
    classes: dict[tuple, RecomputeClass] = {}
    for k, layer in enumerate(problem.chain):
        if layer.recompute is not None:
            extra = tuple(row[k] for row in t.recompute_extra)
            saving = t.activation_kib[k] - t.recompute_activation_kib[k]
            classes.setdefault((extra, saving), RecomputeClass(extra, saving, [])).members.append(k)
    return list(classes.values())


def all_reduce(group: int, size: float, bandwidth: float, latency: float) -> int:
    """Microseconds of a ring all-reduce of `size` bytes over `group` devices: 2 (g - 1) steps, each
    a latency and 1/g of the bytes (reduce-scatter, then all-gather). Nothing to do for one device."""
    if group < 2:
        return 0
    return round(2 * (group - 1) * (latency + size / group / bandwidth))


@dataclass
class Placement(JsonSolution):
    """Which layers each virtual stage runs, which layers recompute, and how many shards of each head
    layer each device holds.

    `boundaries[s]` is the index of the first chain layer of virtual stage s (boundaries[0] == 0);
    virtual stage s runs on device s % p, as Megatron's interleaved schedule places chunks. With
    sharded layers the last stage may run no chain layer (boundaries[-1] == head_start) when its
    device holds shards: the output layer alone on the last stage.
    """

    FIELDS: ClassVar[dict[str, str]] = {"boundaries": "ints", "recompute": "bools", "shards": "ints2",
                                        "extra_warmup": "int", "vocab_lead": "int"}
    boundaries: list[int]
    recompute: list[bool]  # per chain layer
    shards: list[list[int]]  # [head layer][device]
    extra_warmup: int = 0  # with sharded layers: more 1F1B warm-up forwards on every device
    vocab_lead: int = 0  # with sharded layers: how many operations before its backward each V pass goes

    def stage_layers(self, problem: PipelineProblem, stage: int) -> range:
        """The chain layers virtual stage `stage` runs."""
        end = self.boundaries[stage + 1] if stage + 1 < len(self.boundaries) else problem.head_start
        return range(self.boundaries[stage], end)

    def counts(self, problem: PipelineProblem) -> list[int]:
        """How many chain layers each virtual stage runs."""
        return [len(self.stage_layers(problem, s)) for s in range(problem.virtual_count)]

    def to_document(self, problem: PipelineProblem) -> dict:
        """The placement file: layer names per virtual stage, the recomputed ones, head shards."""
        stages = []
        for s in range(problem.virtual_count):
            layers = self.stage_layers(problem, s)
            stages.append({
                "virtual_stage": s,
                "device": s % problem.stages,
                "layers": [problem.layers[i].name for i in layers],
                "recompute": [problem.layers[i].name for i in layers if self.recompute[i]],
            })
        head = [{"layer": layer.name, "shards_per_device": list(self.shards[h])}
                for h, layer in enumerate(problem.head)]
        return plain({"kind": "pipeline-placement", "problem": problem.name, "boundaries": list(self.boundaries),
                      "stages": stages, "shards": head, "extra_warmup": self.extra_warmup,
                      "vocab_lead": self.vocab_lead})

    @classmethod
    def from_counts(cls, problem: PipelineProblem, counts: list[int], recompute: bool | list[bool] = False
                    ) -> Placement:
        """A placement from layer counts per virtual stage; head shards all on the last device (so
        the last stage may be empty when there are shards). `recompute`: every layer that can, or
        one flag per chain layer."""
        empty_last = 1 if problem.head else 0
        if (len(counts) != problem.virtual_count or sum(counts) != problem.head_start or min(counts[:-1], default=1) < 1
                or counts[-1] < 1 - empty_last):
            raise ValueError(f"counts {counts} do not split {problem.head_start} layers into "
                             f"{problem.virtual_count} non-empty stages")
        boundaries = [0]
        for count in counts[:-1]:
            boundaries.append(boundaries[-1] + count)
        last = (problem.virtual_count - 1) % problem.stages
        shards = [[layer.shards if d == last else 0 for d in range(problem.stages)]
                  for layer in problem.head]
        flags = list(recompute) if isinstance(recompute, list) else [
            recompute and x.recompute is not None for x in problem.chain]
        return cls(boundaries, flags, shards)


LAYER_NUMBERS = ("forward_ms", "backward_ms", "params", "activation_bytes", "output_bytes", "sync_bytes")


def _check_layers(problem: PipelineProblem) -> None:
    """Every layer's numbers finite and not negative, as the file reader requires (the one check for
    both: a problem built in Python is checked the same way)."""
    if len(problem.layers) > MAX_LAYERS:
        raise InputError(f"{len(problem.layers)} layers is more than the {MAX_LAYERS:,} cpsched plans (the baselines' "
                         "DPs keep a table per pair of cut points): merge layers into blocks", source=problem.name)
    for i, layer in enumerate(problem.layers):
        for key in LAYER_NUMBERS:
            _number(_plain(getattr(layer, key)), f"layers[{i}].{key}", problem.name)
        if layer.recompute is not None:
            for key in ("activation_bytes", "extra_ms"):
                _number(_plain(getattr(layer.recompute, key)), f"layers[{i}].recompute.{key}", problem.name)
        _count(_plain(layer.shards), f"layers[{i}].shards", problem.name)


def _plain(value: object) -> object:
    """A numpy scalar as the Python number it holds (what the checks take)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, tuple, str)) else value


def _check_problem(problem: PipelineProblem) -> None:
    p, v, m = problem.stages, problem.virtual_stages, problem.microbatches
    where = problem.name
    _check_layers(problem)
    if problem.schedule not in SCHEDULES:
        raise InputError(f"schedule '{problem.schedule}' is unknown; choose one of {', '.join(SCHEDULES)}",
                         source=where)
    if p < 1 or v < 1 or m < 1:
        raise InputError("stages, virtual_stages and microbatches must be at least 1", source=where)
    if v > 1 and problem.schedule != "interleaved":
        raise InputError(f"virtual_stages {v} needs the 'interleaved' schedule", source=where)
    if problem.schedule == "interleaved" and m % p:
        raise InputError(f"the interleaved schedule needs microbatches ({m}) to be a multiple of stages ({p})",
                         source=where)
    if len(problem.memory_gb) != p or len(problem.speed) != p:
        raise InputError(f"devices: give one memory and one speed per stage ({p})", source=where)
    if any(s <= 0 for s in problem.speed) or any(c <= 0 for c in problem.memory_gb):
        raise InputError("devices: memory and speed must be positive", source=where)
    if problem.p2p_gbps <= 0 or problem.bytes_per_param < 0:
        raise InputError("p2p bandwidth must be positive and bytes per parameter not negative", source=where)
    if any(layer.shards > 1 for layer in problem.chain):
        raise InputError("only the trailing layers (the output head) may be sharded", source=where)
    if problem.head and v > 1:
        raise InputError("sharded layers need the 1f1b or gpipe schedule, not interleaved", source=where)
    if problem.head_start == 0:
        raise InputError("the layers need at least one unsharded layer before the sharded ones", source=where)
    if problem.head_start < p * v - (1 if problem.head else 0):
        raise InputError(f"{problem.head_start} unsharded layers cannot fill {p * v} stages "
                         f"(p={p}, v={v}); every stage needs at least one layer (the last one may hold "
                         "only shards)", source=where)
    if problem.collective_latency_us < 0:
        raise InputError("devices.collective_latency_us must not be negative", source=where)
    operations = 2 * p * v * m + (2 * p * m if problem.head else 0)
    if operations > MAX_OPERATIONS:
        raise InputError(f"pipeline.microbatches {m} makes a timeline of {operations:,} operations, more than the "
                         f"{MAX_OPERATIONS:,} cpsched simulates: plan for fewer microbatches", source=where)


# --- JSON ---------------------------------------------------------------------------------------

def _number(value: object, what: str, source: str, minimum: float = 0.0) -> float:
    return number(value, what, source, minimum)





def _count(value: object, what: str, source: str, minimum: int = 1) -> int:
    if isinstance(value, str):  # a JSON string is not a count, even if it spells one
        raise InputError(f"{what} must be an integer, got {value!r}", source=source)
    return integer(value, what, source, minimum=minimum)


def _per_stage(value: object, what: str, stages: int, source: str, default: float, minimum: float) -> tuple:
    if value is None:
        return (default,) * stages
    if isinstance(value, list):
        if len(value) != stages:
            raise InputError(f"{what} lists {len(value)} values for {stages} stages", source=source)
        return tuple(_number(x, f"{what}[{i}]", source, minimum) for i, x in enumerate(value))
    return (_number(value, what, source, minimum),) * stages


def _layer(entry: object, i: int, source: str) -> Layer:
    where = f"layers[{i}]"
    if not isinstance(entry, dict):
        raise InputError(f"{where} must be an object", source=source)
    unknown = set(entry) - {"name", "kind", "forward_ms", "backward_ms", "params", "activation_bytes",
                            "output_bytes", "recompute", "shards", "sync_bytes"}
    if unknown:
        raise InputError(f"{where} has unknown field(s) {', '.join(sorted(unknown))}", source=source)
    for key in ("forward_ms", "backward_ms", "params", "activation_bytes"):
        if key not in entry:
            raise InputError(f"{where} lacks '{key}'", source=source)
    recompute = entry.get("recompute")
    if recompute is not None:
        if not isinstance(recompute, dict) or {"activation_bytes", "extra_ms"} - set(recompute):
            raise InputError(f"{where}.recompute must be {{\"activation_bytes\": .., \"extra_ms\": ..}}",
                             source=source)
        recompute = Recompute(_number(recompute["activation_bytes"], f"{where}.recompute.activation_bytes", source),
                              _number(recompute["extra_ms"], f"{where}.recompute.extra_ms", source))
    return Layer(
        name=str(entry.get("name", f"layer{i}")),
        kind=str(entry.get("kind", "decoder")),
        forward_ms=_number(entry["forward_ms"], f"{where}.forward_ms", source),
        backward_ms=_number(entry["backward_ms"], f"{where}.backward_ms", source),
        params=_number(entry["params"], f"{where}.params", source),
        activation_bytes=_number(entry["activation_bytes"], f"{where}.activation_bytes", source),
        output_bytes=_number(entry.get("output_bytes", 0), f"{where}.output_bytes", source),
        recompute=recompute,
        shards=_count(entry.get("shards", 1), f"{where}.shards", source),
        sync_bytes=_number(entry.get("sync_bytes", 0), f"{where}.sync_bytes", source),
    )


def pipeline_from_json(document: dict, source: str, name: str) -> PipelineProblem:
    """A problem from its JSON document (see docs/pipeline.md for the fields)."""
    layers = document.get("layers")
    if not isinstance(layers, list) or not layers:
        raise InputError("'layers' must be a non-empty list", source=source)
    pipeline = document.get("pipeline")
    if not isinstance(pipeline, dict):
        raise InputError("'pipeline' must be an object with stages, microbatches and schedule", source=source)
    devices = document.get("devices", {})
    if not isinstance(devices, dict):
        raise InputError("'devices' must be an object", source=source)
    stages = _count(pipeline.get("stages"), "pipeline.stages", source)
    bytes_per_param = pipeline.get("bytes_per_param", 18)
    if isinstance(bytes_per_param, dict):
        bytes_per_param = sum(_number(bytes_per_param.get(k, 0), f"pipeline.bytes_per_param.{k}", source)
                              for k in ("weights", "gradients", "optimizer"))
    problem_name = document.get("name")
    try:
        return PipelineProblem(
            name=problem_name if isinstance(problem_name, str) else name,
            layers=tuple(_layer(entry, i, source) for i, entry in enumerate(layers)),
            stages=stages,
            microbatches=_count(pipeline.get("microbatches"), "pipeline.microbatches", source),
            schedule=str(pipeline.get("schedule", "1f1b")),
            virtual_stages=_count(pipeline.get("virtual_stages", 1), "pipeline.virtual_stages", source),
            bytes_per_param=_number(bytes_per_param, "pipeline.bytes_per_param", source),
            memory_gb=_per_stage(devices.get("memory_gb"), "devices.memory_gb", stages, source, 80.0, 1e-9),
            speed=_per_stage(devices.get("speed"), "devices.speed", stages, source, 1.0, 1e-9),
            p2p_gbps=_number(devices.get("p2p_gbps", 50.0), "devices.p2p_gbps", source, 1e-9),
            collective_latency_us=_number(devices.get("collective_latency_us", 5.0),
                                          "devices.collective_latency_us", source),
            model=document.get("model", {}) if isinstance(document.get("model"), dict) else {},
        )
    except InputError as error:
        raise InputError(error.message, source=source) from None


def pipeline_to_json(problem: PipelineProblem) -> dict:
    """The problem's JSON document, as `pipeline_from_json` reads it."""
    def layer(x: Layer) -> dict:
        entry = {"name": x.name, "kind": x.kind, "forward_ms": x.forward_ms, "backward_ms": x.backward_ms,
                 "params": x.params, "activation_bytes": x.activation_bytes, "output_bytes": x.output_bytes}
        if x.recompute:
            entry["recompute"] = {"activation_bytes": x.recompute.activation_bytes, "extra_ms": x.recompute.extra_ms}
        if x.shards > 1:
            entry["shards"] = x.shards
        if x.sync_bytes:
            entry["sync_bytes"] = x.sync_bytes
        return entry

    return {
        "kind": "pipeline",
        "name": problem.name,
        "model": problem.model,
        "pipeline": {"stages": problem.stages, "virtual_stages": problem.virtual_stages,
                     "microbatches": problem.microbatches, "schedule": problem.schedule,
                     "bytes_per_param": problem.bytes_per_param},
        "devices": {"memory_gb": list(problem.memory_gb), "speed": list(problem.speed), "p2p_gbps": problem.p2p_gbps,
                    "collective_latency_us": problem.collective_latency_us},
        "layers": [layer(x) for x in problem.layers],
    }


def read_pipeline(path: str | Path) -> PipelineProblem:
    """A pipeline problem from its JSON file; an InputError naming the file and field otherwise."""
    from cpsched.instances.jobshop.formats import read_json_document

    document = read_json_document(path)
    if not isinstance(document, dict) or document.get("kind") != "pipeline":
        raise InputError("expected a JSON object with \"kind\": \"pipeline\"", source=str(path))
    return pipeline_from_json(document, str(path), Path(path).stem)


def write_pipeline(problem: PipelineProblem) -> str:
    """The problem's JSON file text (what `cpsched pipeline-profile` writes)."""
    return json.dumps(pipeline_to_json(problem), indent=1) + "\n"
