"""Offload problems from a model's shape, with the same built-in profiles and formulas as the
pipeline planner (instances/pipeline_profiles.py).

What this GPU updates: with ZeRO-3 over `dp` data-parallel ranks, 1/dp of every parameter. Its
flat buffer is cut into subgroups of `subgroup` parameters in layer order (DeepSpeed's
`sub_group_size`). The backward pass of the last microbatch runs from the output layer down to the
embedding; a subgroup's gradient is ready when the backward has passed its first layer.

Free GPU memory for optimizer state at time t of that backward: the GPU's memory, less a reserve
(CUDA context, NCCL buffers, fragmentation), less this rank's bf16 parameters and gradients (4 bytes
per parameter), less two gathered layers (ZeRO-3 gathers a layer's parameters and gradients to run
it), less the activations still held. Activations follow Korthikanti et al. (MLSys'23): with full
recomputation 2 s b h bytes per layer plus one layer's full set while it runs.

Default throughputs and their sources:
- PCIe x16 per direction: gen3 15.75, gen4 31.5, gen5 63 GB/s nominal (PCI-SIG; the SuperOffload
  blog cites gen4 as 32 GB/s), times `pcie_efficiency` (0.8 by default: our assumption for pinned
  copies, measure yours with a bandwidth test and pass it).
- GPU Adam: memory-bound; a fused Adam reads and writes the fp32 parameter, momentum and variance
  (24 bytes), reads the bf16 gradient and writes the bf16 parameter (4 bytes): 28 bytes per
  parameter at 85% of the HBM bandwidth, about 100 G params/s on an H100 SXM (3.35 TB/s).
- CPU Adam: 1 G params/s per GPU by default, from the same memory-bound count: 28-30 bytes per
  parameter at the 30 GB/s of host memory bandwidth that one GPU's share of a 2-socket server's
  ~250 GB/s gives. It varies most between machines: DeepSpeed#1635 reports 59 M params/s on a
  10-core Xeon Silver 4210R. Measure yours (DeepSpeed's CPU Adam benchmark) and pass --cpu-adam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.offload.problem import OffloadProblem
from cpsched.instances.pipeline.profiles import GPUS, ModelShape, ProfileOptions, profile_problem

PCIE_GBPS = {"gen3": 15.75, "gen4": 31.5, "gen5": 63.0}  # x16, one direction, nominal
HBM_TBPS = {"a100": 2.04, "h100": 3.35, "h200": 4.8, "b200": 8.0}
GPU_ADAM_BYTES = 28  # fp32 p, m, v read + written, bf16 gradient read, bf16 parameter written
HBM_EFFICIENCY = 0.85


@dataclass(frozen=True)
class OffloadOptions:
    """How the model is trained and on what."""

    gpu: str = "h100"
    pcie: str = "gen5"
    pcie_efficiency: float = 0.8
    subgroup: int = 100_000_000
    dp: int = 1
    cpu_adam_gparams: float = 1.0
    gpu_adam_gparams: float | None = None  # default from the HBM bandwidth
    seq: int = 4096
    micro_batch: int = 1
    efficiency: float = 0.5
    recompute: bool = True
    free_gb: float | None = None  # a constant budget instead of the derived timeline
    memory_gb: float | None = None  # default: the GPU's memory
    reserve_gb: float = 4.0
    speculative: bool = False  # updates start when each gradient is ready, not after the whole backward
    after_backward: bool = False  # nothing overlaps the backward pass: every gradient ready at 0


def parse_count(text: str) -> int:
    """'100M', '1.5B', '2e8' or '500000000' as a number of parameters."""
    units = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9}
    cleaned = text.strip().lower()
    scale = units.get(cleaned[-1:], 1.0)
    try:
        value = float(cleaned[:-1] if cleaned[-1:] in units else cleaned) * scale
    except ValueError:
        raise InputError(f"'{text}' is not a parameter count (try 100M or 1B)") from None
    if not math.isfinite(value) or value < 1:
        raise InputError(f"'{text}' is not a parameter count of at least 1")
    return int(value)


def offload_problem(shape: ModelShape, options: OffloadOptions) -> OffloadProblem:
    """The offload problem of one GPU training `shape` as `options` says."""
    if options.gpu not in HBM_TBPS:
        raise InputError(f"unknown GPU '{options.gpu}'; choose one of {', '.join(HBM_TBPS)}")
    if options.pcie not in PCIE_GBPS:
        raise InputError(f"unknown PCIe generation '{options.pcie}'; choose one of {', '.join(PCIE_GBPS)}")
    layers = profile_problem(shape, ProfileOptions(seq=options.seq, micro_batch=options.micro_batch, tp=1,
                                                   gpu=options.gpu, efficiency=options.efficiency, stages=1)).layers
    dp = options.dp
    rank_params = np.array([layer.params / dp for layer in layers])
    backward = np.array([layer.backward_ms + (layer.recompute.extra_ms if options.recompute and layer.recompute
                                              else 0.0) for layer in layers])
    done = np.cumsum(backward[::-1])[::-1]  # layer i's gradient is ready when backward has passed it
    kept = np.array([layer.recompute.activation_bytes if options.recompute and layer.recompute
                     else layer.activation_bytes for layer in layers])
    working = max(layer.activation_bytes for layer in layers) if options.recompute else 0.0

    edges = np.concatenate([[0.0], np.cumsum(rank_params)])
    total = edges[-1]
    count = max(1, math.ceil(total / options.subgroup - 1e-9))
    cuts = np.minimum(np.arange(count + 1) * float(options.subgroup), total)
    cuts[-1] = total
    params = np.diff(np.round(cuts)).astype(np.int64)
    first_layer = np.searchsorted(edges, cuts[:-1], side="right") - 1
    ready = np.zeros(count) if options.after_backward else done[first_layer]
    backward_ms = 0.0 if options.after_backward else float(done[0])

    memory = (options.memory_gb or GPUS[options.gpu][1]) * 1e9
    gathered = 2 * 4 * max(layer.params for layer in layers) if dp > 1 else 0.0  # ZeRO-3: two whole layers
    fixed = options.reserve_gb * 1e9 + 4 * total + gathered
    if options.free_gb is not None:
        steps: tuple[tuple[float, float], ...] = ((0.0, options.free_gb),)
        free_at_start = memory - fixed - kept.sum() - working
    else:
        alive = kept.sum() + working
        free_at_start = memory - fixed - alive
        times = [0.0]
        frees = [free_at_start]
        if not options.after_backward:
            for i in range(len(layers) - 1, -1, -1):
                alive -= kept[i]
                times.append(float(done[i]))
                frees.append(memory - fixed - alive + (working if i == 0 else 0.0))
        merged = {round(t, 3): round(max(f, 0.0) / 1e9, 3) for t, f in zip(times, frees)}  # last one wins
        steps = tuple((float(t), float(f)) for t, f in merged.items())
    if free_at_start < 0:
        raise InputError(f"{shape.name} does not fit on one {options.gpu} with dp={dp}: "
                         f"{(fixed + kept.sum() + working) / 1e9:.1f} GB of weights, gradients, activations and "
                         f"reserve against {memory / 1e9:.0f} GB; raise --dp or --memory-gb")
    gpu_adam = options.gpu_adam_gparams or HBM_TBPS[options.gpu] * 1e12 * HBM_EFFICIENCY / GPU_ADAM_BYTES / 1e9
    bandwidth = PCIE_GBPS[options.pcie] * options.pcie_efficiency
    label = f"{shape.name}-{options.gpu}-{options.pcie}-dp{dp}"
    model = {"profile": shape.name, "gpu": options.gpu, "pcie": options.pcie, "dp": dp,
             "subgroup_params": options.subgroup, "seq": options.seq, "micro_batch": options.micro_batch,
             "recompute": options.recompute, "backward_ms": round(backward_ms, 3),
             "rank_params": int(params.sum()), "clipping": "speculative" if options.speculative else "global"}
    return OffloadProblem(
        name=label,
        params=params,
        ready_ms=np.round(ready, 3),
        h2d_gbps=bandwidth,
        d2h_gbps=bandwidth,
        cpu_adam_params_per_s=options.cpu_adam_gparams * 1e9,
        gpu_adam_params_per_s=gpu_adam * 1e9,
        free_memory=steps,
        update_after_ms=0.0 if options.speculative else round(backward_ms, 3),
        model=model,
    )
