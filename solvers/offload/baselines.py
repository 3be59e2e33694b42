"""The fixed rules people use to split the optimizer update between CPU and GPU, each timed by the
event simulator and, where the rule has a knob, swept so that
the best setting is the one compared:

Timing: the best of the simulator's variants (`instances.offload.best_timing`), as for our plan.

- zero-offload: every subgroup on the CPU (ZeRO-Offload, Ren et al., ATC'21).
- all-gpu: every subgroup on the GPU: resident when the whole state fits, else streamed up and
  down (what no offload would cost where it fits).
- twin-flow: the first r of the parameters (by position) on the CPU, the rest resident on the GPU
  (DeepSpeed ZeRO-Offload++'s `ratio`; Megatron's `optimizer_offload_fraction` splits the same way).
- dos: every k-th subgroup streamed through the GPU, the rest on the CPU (Deep Optimizer States'
  `prefetch_optimizer_gap`, Maurya et al., Middleware'24).
- superoffload: the last n subgroups to be updated (the first layers: their gradients come last)
  resident on the GPU, the rest on the CPU (SuperOffload's GPU-kept buckets).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from cpsched.instances.offload.problem import OffloadEvaluation, OffloadPlan, OffloadProblem, best_timing, evaluate

TWIN_FLOW_RATIOS = tuple(round(0.05 * i, 2) for i in range(21))
DOS_GAPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)


@dataclass
class BaselinePlan:
    plan: OffloadPlan
    evaluation: OffloadEvaluation
    setting: str


def _timed(problem: OffloadProblem, modes: list[str], setting: str) -> BaselinePlan | None:
    """The simulator's best plan for `modes`, or None when it does not fit in GPU memory."""
    found = best_timing(problem, modes)
    if found is None:
        return None
    evaluation = evaluate(problem, found[1])
    if not evaluation.feasible:
        raise AssertionError(f"the simulator made an infeasible plan: {evaluation.violations[:3]}")
    return BaselinePlan(found[1], evaluation, setting)


def _best(candidates: Iterator[BaselinePlan | None]) -> BaselinePlan | None:
    found = [c for c in candidates if c is not None]
    return min(found, key=lambda c: c.evaluation.phase) if found else None


def zero_offload(problem: OffloadProblem) -> BaselinePlan | None:
    return _timed(problem, ["cpu"] * problem.subgroups, "all cpu")


def all_gpu(problem: OffloadProblem) -> BaselinePlan | None:
    tables = problem.tables
    if problem.allow_resident and int(tables.state_size.sum()) <= tables.lowest_free_bytes():
        return _timed(problem, ["resident"] * problem.subgroups, "resident")
    return _timed(problem, ["gpu"] * problem.subgroups, "streamed")


def twin_flow(problem: OffloadProblem) -> BaselinePlan | None:
    if not problem.allow_resident:
        return None
    position = np.cumsum(problem.params) - problem.params / 2  # each subgroup's middle
    total = float(problem.params.sum())

    def split(r: float) -> BaselinePlan | None:
        modes = ["cpu" if middle <= r * total else "resident" for middle in position]
        return _timed(problem, modes, f"r={r:g}")

    return _best(split(r) for r in TWIN_FLOW_RATIOS)


def dos(problem: OffloadProblem) -> BaselinePlan | None:
    def gap(k: int) -> BaselinePlan | None:
        return _timed(problem, ["gpu" if (x + 1) % k == 0 else "cpu" for x in range(problem.subgroups)], f"k={k}")

    return _best(gap(k) for k in DOS_GAPS if k <= problem.subgroups)


def superoffload(problem: OffloadProblem) -> BaselinePlan | None:
    if not problem.allow_resident:
        return None
    tables = problem.tables  # updated last: latest update time, then latest gradient (the first layers)
    by_update = sorted(range(problem.subgroups), key=lambda g: (tables.update_release[g], tables.release[g], -g))

    def last(n: int) -> BaselinePlan | None:
        kept = set(by_update[problem.subgroups - n:]) if n else set()
        return _timed(problem, ["resident" if g in kept else "cpu" for g in range(problem.subgroups)], f"n={n}")

    step = max(1, problem.subgroups // 64)
    counts = sorted({*range(0, problem.subgroups + 1, step), problem.subgroups})
    return _best(last(n) for n in counts)


BASELINES: dict[str, Callable[[OffloadProblem], BaselinePlan | None]] = {
    "zero-offload": zero_offload,
    "all-gpu": all_gpu,
    "twin-flow": twin_flow,
    "dos": dos,
    "superoffload": superoffload,
}
SWEPT = ("twin-flow", "dos", "superoffload")  # the rules with a knob: our plan must beat their best
