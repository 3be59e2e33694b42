"""How others split a model's layers into pipeline stages, rebuilt so we can compare against them.

- megatron-uniform: Megatron-LM's default; decoder layers split evenly, the embedding with the first
  stage, the output layer and loss with the last.
- megatron-override: the same with the best `--decoder-first/last-pipeline-num-layers` (the
  "redistribution" baseline of the vocabulary-parallelism paper).
- deepspeed-parameters: DeepSpeed's default `partition_method="parameters"`, balancing parameter counts.
- pipedream: PipeDream's DP, the split that minimises the slowest stage under the memory cap.
- alpa: Alpa's DP, the split that minimises sum + (m - 1) x max of stage times under the memory cap.

Each returns a placement; the simulator gives its true iteration time. When a split does not fit in
memory without recomputation, each tries again with every layer recomputed (Megatron's
`--recompute-granularity full`), which is what a user would do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cpsched.instances.pipeline.problem import PipelineProblem, Placement
from cpsched.instances.pipeline.schedule import evaluate, schedule_graph

BODY_KINDS = frozenset({"decoder", "moe_decoder", "transformer", "layer", "block"})


def _body(problem: PipelineProblem) -> tuple[int, int]:
    """[first, end) of the repeated layers in the chain; the rest are the embedding and the head."""
    chain = problem.chain
    body = [i for i, layer in enumerate(chain) if layer.kind in BODY_KINDS] or list(range(len(chain)))
    return body[0], body[-1] + 1


def _counts_with_extras(problem: PipelineProblem, body_counts: list[int]) -> list[int] | None:
    first, end = _body(problem)
    counts = list(body_counts)
    counts[0] += first
    counts[-1] += problem.head_start - end
    return counts if min(counts) >= 1 else None


def _even(total: int, parts: int) -> list[int]:
    """Near-equal parts; the remainder goes to the later stages, which hold fewer microbatches."""
    base, extra = divmod(total, parts)
    return [base + (1 if i >= parts - extra else 0) for i in range(parts)]


def _fit(problem: PipelineProblem, counts: list[int] | None) -> Placement | None:
    """The placement of `counts`, with every layer recomputed if that is what makes it fit."""
    if counts is None:
        return None
    plain = Placement.from_counts(problem, counts)
    if evaluate(problem, plain).feasible or not any(x.recompute for x in problem.chain):
        return plain
    recomputed = Placement.from_counts(problem, counts, recompute=True)
    return recomputed if evaluate(problem, recomputed).feasible else plain


def megatron_uniform(problem: PipelineProblem) -> Placement | None:
    first, end = _body(problem)
    return _fit(problem, _counts_with_extras(problem, _even(end - first, problem.virtual_count)))


def megatron_override(problem: PipelineProblem) -> Placement | None:
    """First- and last-stage decoder counts from 0 to two more than even, the rest even; the
    fastest that fits."""
    first, end = _body(problem)
    n, S = end - first, problem.virtual_count
    best, best_time = None, None
    reach = min(n, -(-n // S) + 2)  # users move a few layers off the first and last stages, not all
    if S < 3:
        candidates = [[a, n - a] for a in range(n + 1)] if S == 2 else [[n]]
    else:
        candidates = [[a, *_even(n - a - b, S - 2), b] for a in range(reach + 1) for b in range(reach + 1)
                      if n - a - b >= S - 2]
    for body in candidates:
        placement = _fit(problem, _counts_with_extras(problem, body))
        if placement is None:
            continue
        result = evaluate(problem, placement)
        key = (not result.feasible, result.iteration)
        if best_time is None or key < best_time:
            best, best_time = placement, key
    return best


def _min_max_split(weights: np.ndarray, parts: int) -> list[int]:
    """Contiguous split of `weights` into `parts` non-empty parts minimising the largest sum (DP)."""
    n = len(weights)
    prefix = np.concatenate([[0.0], np.cumsum(weights)])
    best = np.full((parts + 1, n + 1), np.inf)
    cut = np.zeros((parts + 1, n + 1), dtype=int)
    best[0, 0] = 0.0
    for s in range(1, parts + 1):
        for i in range(s, n - (parts - s) + 1):
            ks = np.arange(s - 1, i)
            values = np.maximum(best[s - 1, ks], prefix[i] - prefix[ks])
            k = int(np.argmin(values))
            best[s, i], cut[s, i] = values[k], ks[k]
    counts, i = [], n
    for s in range(parts, 0, -1):
        counts.append(i - cut[s, i])
        i = cut[s, i]
    return counts[::-1]


def deepspeed_parameters(problem: PipelineProblem) -> Placement | None:
    params = np.array([layer.params for layer in problem.chain], dtype=float)
    return _fit(problem, _min_max_split(params, problem.virtual_count))


def _stage_costs(problem: PipelineProblem, recompute: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per virtual stage s: time[s][k, i] and memory feasibility ok[s][k, i] of layers k..i-1 on it."""
    t, p, m = problem.tables, problem.stages, problem.microbatches
    L = problem.head_start
    states = schedule_graph(problem).states
    times, fits = [], []
    rc = np.array([recompute and x.recompute is not None for x in problem.chain])
    for s in range(problem.virtual_count):
        d = s % p
        work = np.array(t.forward[d]) + np.array(t.backward[d]) + np.where(rc, t.recompute_extra[d], 0)
        act = np.where(rc, t.recompute_activation_kib, t.activation_kib)
        in_flight = max((state.get(s, 0) for state in states[d]), default=min(m, 1))
        mem = np.array(t.weight_kib) + in_flight * act
        work_prefix = np.concatenate([[0], np.cumsum(work)])
        mem_prefix = np.concatenate([[0], np.cumsum(mem)])
        comm = np.concatenate([[0], t.comm_after])  # comm[i] = p2p after layer i - 1
        k, i = np.meshgrid(np.arange(L + 1), np.arange(L + 1), indexing="ij")
        span = work_prefix[i] - work_prefix[k] + (comm[i] if s < problem.virtual_count - 1 else 0)
        share = problem.tables.capacity_kib[d] / problem.virtual_stages
        times.append(np.where(i > k, span, np.inf))
        fits.append((i > k) & (mem_prefix[i] - mem_prefix[k] <= share))
    return times, fits


def _dp(problem: PipelineProblem, times, fits, cap: float, combine: str) -> tuple[float, list[int]] | None:
    """Split the chain into virtual stages with every stage time <= cap and fitting in memory,
    minimising the largest stage time ('max') or the sum of stage times ('sum')."""
    L, S = problem.head_start, problem.virtual_count
    best = np.full(L + 1, np.inf)
    best[0] = 0.0
    cuts = []
    for s in range(S):
        cost = np.where(fits[s] & (times[s] <= cap), times[s], np.inf)
        total = np.maximum(best[:, None], cost) if combine == "max" else best[:, None] + cost
        cuts.append(np.argmin(total, axis=0))
        best = np.min(total, axis=0)
    if not np.isfinite(best[L]):
        return None
    counts, i = [], L
    for s in range(S - 1, -1, -1):
        k = int(cuts[s][i])
        counts.append(i - k)
        i = k
    return float(best[L]), counts[::-1]


def pipedream(problem: PipelineProblem) -> Placement | None:
    for recompute in (False, True):
        times, fits = _stage_costs(problem, recompute)
        found = _dp(problem, times, fits, np.inf, "max")
        if found is not None:
            return Placement.from_counts(problem, found[1], recompute=recompute)
    return None


def alpa(problem: PipelineProblem) -> Placement | None:
    """Alpa's stage construction: for each bound t_max on the slowest stage, the split minimising
    the sum of stage times; keep the best sum + (m - 1) x t_max (with Alpa's early exit)."""
    m = problem.microbatches
    for recompute in (False, True):
        times, fits = _stage_costs(problem, recompute)
        candidates = np.unique(np.concatenate([t[np.isfinite(t) & f] for t, f in zip(times, fits)]))
        floor = _dp(problem, times, fits, np.inf, "max")
        if floor is None:
            continue
        best, best_counts = np.inf, None
        for cap in candidates[candidates >= floor[0]]:
            if (m - 1) * cap >= best:
                break
            found = _dp(problem, times, fits, cap, "sum")
            if found is not None and found[0] + (m - 1) * cap < best:
                best, best_counts = found[0] + (m - 1) * cap, found[1]
        if best_counts is not None:
            return Placement.from_counts(problem, best_counts, recompute=recompute)
    return None


BASELINES: dict[str, Callable[[PipelineProblem], Placement | None]] = {
    "megatron-uniform": megatron_uniform,
    "megatron-override": megatron_override,
    "deepspeed-parameters": deepspeed_parameters,
    "pipedream": pipedream,
    "alpa": alpa,
}
