"""MoE expert placement: token loads per layer and expert, the GPU topology, a placement in EPLB's
layout (the logical expert in each physical slot), a seeded synthetic workload, and `evaluate`.

A replica serves an equal share of its expert's tokens (EPLB's assumption), so a GPU's load is the
sum over its slots of load / replicas. Inter-node tokens are counted from co-activation: the tokens
that chose both experts of a pair that no node holds together must cross nodes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.serialization import FromDocument, JsonSolution, plain

MAX_TOKENS = 2**40  # per expert and window: far beyond any batch, and exact in every sum
MAX_GPUS, MAX_SLOTS = 65_536, 2**20


@dataclass(frozen=True, eq=False)
class ExpertProblem(FromDocument):
    """Loads [windows, layers, experts], the topology, and optionally co-activation [layers, experts,
    experts] (tokens that chose both), the current placement [layers, slots] and expert size."""

    name: str
    loads: np.ndarray
    nodes: int
    gpus_per_node: int
    slots_per_gpu: int
    groups: int = 1  # expert groups (group-limited routing); EPLB packs whole groups onto nodes
    expert_bytes: float = 0.0
    coactivation: np.ndarray | None = None
    current: np.ndarray | None = None
    plan_window: int = 0

    def __post_init__(self) -> None:
        loads = np.asarray(self.loads)
        if loads.ndim == 2:
            loads = loads[None]
        if loads.dtype == object or not np.issubdtype(loads.dtype, np.number):
            raise InputError("load must be an array of token counts", source=self.name)
        if loads.size and not (np.isfinite(loads).all() and loads.min() >= 0 and loads.max() <= MAX_TOKENS):
            raise InputError(f"load must hold token counts from 0 to 2^40, got values from {loads.min():g} to "
                             f"{loads.max():g}", source=self.name)
        object.__setattr__(self, "loads", loads.astype(np.int64))
        _check(self)


    @property
    def windows(self) -> int:
        """Number of load windows (the plan is made on one, judged on the next)."""
        return self.loads.shape[0]

    @property
    def layers(self) -> int:
        """Number of MoE layers."""
        return self.loads.shape[1]

    @property
    def experts(self) -> int:
        """Number of logical experts per layer."""
        return self.loads.shape[2]

    @property
    def gpus(self) -> int:
        """Number of GPUs, all nodes together."""
        return self.nodes * self.gpus_per_node

    @property
    def slots(self) -> int:
        """Number of physical expert slots, all GPUs together."""
        return self.gpus * self.slots_per_gpu

    @property
    def size(self) -> str:
        """Layers, experts and GPUs, as the summary line prints them."""
        return f"{self.layers} layers x {self.experts} experts on {self.gpus} GPUs x {self.slots_per_gpu} slots"

    def gpu_of_slot(self, slot: int) -> int:
        """The GPU that holds physical slot `slot`."""
        return slot // self.slots_per_gpu

    def node_of_gpu(self, gpu: int) -> int:
        """The node that holds GPU `gpu`."""
        return gpu // self.gpus_per_node


def _check(problem: ExpertProblem) -> None:
    where = problem.name
    if min(problem.nodes, problem.gpus_per_node, problem.slots_per_gpu, problem.groups) < 1:
        raise InputError("nodes, gpus_per_node, slots_per_gpu and groups must be at least 1", source=where)
    if problem.gpus > MAX_GPUS or problem.slots > MAX_SLOTS:
        raise InputError(f"{problem.gpus} GPUs x {problem.slots_per_gpu} slots is beyond what is planned here (at "
                         f"most {MAX_GPUS} GPUs and {MAX_SLOTS} slots in all)", source=where)
    if not (math.isfinite(problem.expert_bytes) and problem.expert_bytes >= 0):
        raise InputError(f"expert_bytes must be a size in bytes, 0 or more, got {problem.expert_bytes}", source=where)
    if problem.loads.ndim != 3 or problem.experts < 1 or problem.layers < 1:
        raise InputError("load must be [layers][experts] or [windows][layers][experts] token counts", source=where)
    if (problem.loads < 0).any():
        raise InputError("load has negative token counts", source=where)
    if problem.slots < problem.experts:
        raise InputError(f"{problem.slots} slots ({problem.gpus} GPUs x {problem.slots_per_gpu}) cannot hold "
                         f"{problem.experts} experts; every expert needs a slot", source=where)
    if problem.experts % problem.groups:
        raise InputError(f"{problem.groups} groups do not divide {problem.experts} experts", source=where)
    if problem.coactivation is not None and np.shape(problem.coactivation) != (
            problem.layers, problem.experts, problem.experts):
        raise InputError(f"coactivation must be [layers][experts][experts] = [{problem.layers}][{problem.experts}]"
                         f"[{problem.experts}], got {list(np.shape(problem.coactivation))}", source=where)
    if problem.current is not None:
        current = np.asarray(problem.current)
        if current.shape != (problem.layers, problem.slots):
            raise InputError(f"current placement must be [layers][slots] = [{problem.layers}][{problem.slots}], "
                             f"got {list(current.shape)}", source=where)
        if current.min() < -1 or current.max() >= problem.experts:
            raise InputError(f"current placement names an expert outside 0..{problem.experts - 1}", source=where)
    if not 0 <= problem.plan_window < problem.windows:
        raise InputError(f"plan_window {problem.plan_window} is not one of the {problem.windows} windows", source=where)


@dataclass
class ExpertPlacement(JsonSolution):
    """EPLB's layout: phy2log[layer, slot] is the logical expert in each physical slot (-1: empty).
    Slot s is on GPU s // slots_per_gpu."""

    FIELDS: ClassVar[dict[str, str]] = {"phy2log": "ints2"}
    phy2log: np.ndarray

    def replicas(self, problem: ExpertProblem) -> np.ndarray:
        """[layers, experts] replica counts."""
        counts = np.zeros((problem.layers, problem.experts), dtype=np.int64)
        for layer in range(problem.layers):
            row = self.phy2log[layer]
            np.add.at(counts[layer], row[row >= 0], 1)
        return counts

    def to_document(self, problem: ExpertProblem) -> dict:
        """The placement file in EPLB's layout (phy2log, logcnt)."""
        counts = self.replicas(problem)
        return plain({"kind": "experts-placement", "problem": problem.name, "phy2log": self.phy2log.tolist(),
                      "logcnt": counts.tolist(), "slots_per_gpu": problem.slots_per_gpu})


@dataclass
class ExpertEvaluation:
    """Per layer: the busiest GPU's load, the mean, imbalance (max / mean - 1) per GPU and per slot,
    inter-node tokens and migrated bytes; and every violation."""

    gpu_max: np.ndarray
    gpu_mean: np.ndarray
    gpu_imbalance: np.ndarray
    slot_imbalance: np.ndarray
    internode: np.ndarray
    migrated_bytes: np.ndarray
    violations: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        """True when every slot names an existing expert and every expert has a replica."""
        return not self.violations

    @property
    def objective(self) -> float:
        """The busiest GPU's load summed over layers: what the planner minimises first."""
        return float(self.gpu_max.sum())

    def summary(self) -> dict:
        """Imbalance (mean and max over layers), and loads, tokens and bytes summed over layers, as JSON values."""
        return {"imbalance": float(self.gpu_imbalance.mean()), "max_imbalance": float(self.gpu_imbalance.max()),
                "slot_imbalance": float(self.slot_imbalance.mean()), "max_gpu_load": int(self.gpu_max.sum()),
                "internode_tokens": int(self.internode.sum()), "migrated_bytes": float(self.migrated_bytes.sum())}


def slot_shares(problem: ExpertProblem, layer: int, row: np.ndarray, window: int) -> np.ndarray:
    """[slots] tokens each physical slot serves in one layer: its expert's load over its replicas
    (0 for an empty slot)."""
    used = row >= 0
    counts = np.bincount(row[used], minlength=problem.experts)
    share = np.zeros(problem.slots)
    share[used] = problem.loads[window, layer, row[used]] / counts[row[used]]
    return share


def has_secondary(problem: ExpertProblem) -> bool:
    """Whether anything but the load tells placements apart: tokens crossing nodes, or moves."""
    return (problem.coactivation is not None and problem.nodes > 1) or problem.current is not None


def busiest_gpu(problem: ExpertProblem, layer: int, row: np.ndarray) -> float:
    """The busiest GPU's tokens in the planning window, equal shares per replica."""
    shares = slot_shares(problem, layer, row, problem.plan_window)
    return float(shares.reshape(problem.gpus, problem.slots_per_gpu).sum(axis=1).max())


def gpu_loads(problem: ExpertProblem, placement: ExpertPlacement, window: int) -> np.ndarray:
    """[layers, gpus] load with equal shares per replica (float)."""
    return np.stack([slot_shares(problem, layer, placement.phy2log[layer], window)
                     .reshape(problem.gpus, problem.slots_per_gpu).sum(axis=1) for layer in range(problem.layers)])


def migrated_bytes(problem: ExpertProblem, layer: int, row: np.ndarray) -> float:
    """Bytes of the experts placed on a GPU that did not hold them in the current placement."""
    if problem.current is None:
        return 0.0
    before = holds(problem, np.asarray(problem.current)[layer], "gpu")
    return float((holds(problem, row, "gpu") & ~before).sum() * problem.expert_bytes)


def holds(problem: ExpertProblem, phy2log: np.ndarray, per: str) -> np.ndarray:
    """[experts, gpus or nodes] booleans: whether that GPU (node) holds a replica."""
    count = problem.gpus if per == "gpu" else problem.nodes
    held = np.zeros((problem.experts, count), dtype=bool)
    for slot, expert in enumerate(phy2log):
        if expert >= 0:
            gpu = problem.gpu_of_slot(slot)
            held[expert, gpu if per == "gpu" else problem.node_of_gpu(gpu)] = True
    return held


def internode_tokens(problem: ExpertProblem, layer: int, phy2log: np.ndarray) -> int:
    """Tokens of co-activated pairs that no node holds together (half the symmetric matrix)."""
    if problem.coactivation is None:
        return 0
    on_node = holds(problem, phy2log, "node").astype(np.int64)
    together = (on_node @ on_node.T) > 0
    coactivation = np.triu(np.asarray(problem.coactivation[layer]), k=1)
    return int(coactivation[~together].sum())


def evaluate(problem: ExpertProblem, placement: ExpertPlacement, window: int | None = None) -> ExpertEvaluation:
    """The independent check of a placement: every expert has a replica, slots hold real experts, and
    the metrics on `window` (the planning window by default)."""
    window = problem.plan_window if window is None else window
    phy2log = np.asarray(placement.phy2log)
    violations = []
    if phy2log.shape != (problem.layers, problem.slots):
        return ExpertEvaluation(*(np.zeros(0),) * 6, [f"expected [{problem.layers}][{problem.slots}] slots, "
                                                      f"got {list(phy2log.shape)}"])
    if phy2log.min() < -1 or phy2log.max() >= problem.experts:
        violations.append("a slot names an expert that does not exist")
        return ExpertEvaluation(*(np.zeros(0),) * 6, violations)
    counts = placement.replicas(problem)
    for layer in np.flatnonzero((counts == 0).any(axis=1)):
        missing = np.flatnonzero(counts[layer] == 0)
        violations.append(f"layer {layer}: experts {missing[:5].tolist()} have no replica")
    loads = gpu_loads(problem, placement, window)
    gpu_max, gpu_mean = loads.max(axis=1), loads.mean(axis=1)
    slot_share = []
    for layer in range(problem.layers):
        share = slot_shares(problem, layer, phy2log[layer], window)[phy2log[layer] >= 0]
        slot_share.append(share.max() / max(share.mean(), 1e-12) - 1 if share.size else 0.0)
    migrated = np.array([migrated_bytes(problem, layer, phy2log[layer]) for layer in range(problem.layers)])
    internode = np.array([internode_tokens(problem, layer, phy2log[layer]) for layer in range(problem.layers)])
    imbalance = np.where(gpu_mean > 0, gpu_max / np.maximum(gpu_mean, 1e-12) - 1, 0.0)
    return ExpertEvaluation(gpu_max, gpu_mean, imbalance, np.array(slot_share), internode, migrated, violations)


# --- a seeded synthetic workload -------------------------------------------------------------------

SHAPES = {"deepseek-v3": (256, 8, 58, 8), "mixtral": (8, 2, 32, 1)}  # experts, top-k, MoE layers, groups


def synthetic(shape: str = "deepseek-v3", *, nodes: int = 4, gpus_per_node: int = 8, redundant: int = 0,
              tokens: int = 4096, windows: int = 2, layers: int | None = None, clusters: int = 16,
              skew: float = 1.1, drift: float = 0.3, affinity: float = 3.0, seed: int = 0,
              current: str | None = None,
              expert_bytes: float = 2.4e9) -> ExpertProblem:
    """A workload shaped like `shape`: Zipf-skewed expert popularity (exponent `skew`) that drifts
    between windows (log-normal factor `drift`), tokens that pick their top-k experts with those of
    one cluster weighted up by e^`affinity` (co-activated experts), and co-activation counted from the
    planning window. `redundant`
    extra slots in all; `current="contiguous"` adds the contiguous placement as the current one."""
    experts, top_k, default_layers, groups = SHAPES[shape]
    layers = layers or default_layers
    rng = np.random.default_rng(seed)
    gpus = nodes * gpus_per_node
    if (experts + redundant) % gpus:
        raise InputError(f"{experts} experts + {redundant} redundant slots do not divide over {gpus} GPUs")
    loads = np.zeros((windows, layers, experts), dtype=np.int64)
    coactivation = np.zeros((layers, experts, experts), dtype=np.int64)
    clusters = min(clusters, experts)
    for layer in range(layers):
        popularity = 1.0 / np.arange(1, experts + 1) ** skew
        popularity = popularity[rng.permutation(experts)]
        cluster_of = rng.permutation(np.arange(experts) % clusters)
        for window in range(windows):
            if window:
                popularity = popularity * rng.lognormal(0.0, drift, experts)
            weights = popularity / popularity.sum()
            cluster_weight = np.bincount(cluster_of, weights=weights, minlength=clusters)
            chosen_clusters = rng.choice(clusters, size=tokens, p=cluster_weight / cluster_weight.sum())
            for cluster in range(clusters):
                count = int((chosen_clusters == cluster).sum())
                if count == 0:
                    continue
                # top-k without replacement by the Gumbel trick, the token's cluster weighted up
                boosted = np.log(weights) + np.where(cluster_of == cluster, affinity, 0.0)
                keys = boosted + rng.gumbel(size=(count, experts))
                picks = np.argpartition(-keys, top_k - 1, axis=1)[:, :top_k]
                chosen = np.zeros((count, experts))
                np.put_along_axis(chosen, picks, 1.0, axis=1)
                loads[window, layer] += chosen.sum(axis=0).astype(np.int64)
                if window == 0:  # float products use BLAS; the counts are exact well below 2^53
                    coactivation[layer] += np.rint(chosen.T @ chosen).astype(np.int64)
        np.fill_diagonal(coactivation[layer], 0)
    slots_per_gpu = (experts + redundant) // gpus
    problem = ExpertProblem(f"{shape}-g{gpus}-r{redundant}-s{seed}", loads, nodes, gpus_per_node, slots_per_gpu,
                            groups=groups if groups % nodes == 0 else 1, expert_bytes=expert_bytes,
                            coactivation=coactivation)
    if current == "contiguous":
        contiguous = np.tile(np.arange(problem.slots) % experts, (layers, 1))
        problem = ExpertProblem(problem.name, loads, nodes, gpus_per_node, slots_per_gpu, problem.groups,
                                expert_bytes, coactivation, contiguous)
    return problem


# --- files ------------------------------------------------------------------------------------------

def experts_from_json(document: dict, source: str, name: str) -> ExpertProblem:
    """{"kind": "experts", "load": [[...]] or [[[...]]], "topology": {"nodes", "gpus_per_node",
    "slots_per_gpu", "groups"}, "expert_bytes", "coactivation", "current", "plan_window"}."""
    topology = document.get("topology")
    if not isinstance(topology, dict):
        raise InputError("'topology' must be an object with nodes, gpus_per_node and slots_per_gpu", source=source)
    try:
        try:
            loads = np.asarray(document.get("load"))
        except ValueError:
            raise InputError("'load' must be a rectangular array of token counts", source=source) from None
        if loads.dtype == object or not np.issubdtype(loads.dtype, np.number):
            raise InputError("'load' must be a rectangular array of token counts", source=source)
        if not np.all(np.isfinite(loads)) or not np.all(loads == np.round(loads)):
            raise InputError("'load' must hold whole token counts", source=source)
        arrays = {key: None if document.get(key) is None else np.asarray(document[key], dtype=np.int64)
                  for key in ("coactivation", "current")}
        return ExpertProblem(
            name=str(document.get("name", name)), loads=loads,
            nodes=int(topology.get("nodes", 1)), gpus_per_node=int(topology.get("gpus_per_node", 0)),
            slots_per_gpu=int(topology.get("slots_per_gpu", 0)), groups=int(topology.get("groups", 1)),
            expert_bytes=float(document.get("expert_bytes", 0.0)), plan_window=int(document.get("plan_window", 0)),
            **arrays)
    except InputError as error:
        raise InputError(error.message, source=source) from None
    except (TypeError, ValueError) as error:
        raise InputError(f"a field has the wrong type or shape: {error}", source=source) from None
    except OverflowError:  # int() of an infinity, or a count beyond 64 bits
        raise InputError("a number is out of range (an infinity, or beyond 2^63)", source=source) from None


def read_experts_npz(path: str | Path) -> ExpertProblem:
    """The same fields as the JSON form, as arrays in an .npz (for DeepSeek-sized co-activation)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            document = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read the .npz file: {error}", source=str(path)) from None
    topology = {key: int(document.pop(key)) for key in ("nodes", "gpus_per_node", "slots_per_gpu", "groups")
                if key in document}
    document = {key: value.item() if value.ndim == 0 else value for key, value in document.items()}
    return experts_from_json({**document, "topology": topology}, str(path), Path(path).stem)


def write_experts_json(problem: ExpertProblem) -> str:
    """The problem's JSON file text (what `cpsched experts-generate` writes)."""
    document = {"kind": "experts", "name": problem.name, "load": problem.loads.tolist(),
                "topology": {"nodes": problem.nodes, "gpus_per_node": problem.gpus_per_node,
                             "slots_per_gpu": problem.slots_per_gpu, "groups": problem.groups},
                "expert_bytes": problem.expert_bytes, "plan_window": problem.plan_window}
    if problem.coactivation is not None:
        document["coactivation"] = np.asarray(problem.coactivation).tolist()
    if problem.current is not None:
        document["current"] = np.asarray(problem.current).tolist()
    return json.dumps(document) + "\n"
