"""How others split a model's layers into pipeline stages, rebuilt as strong as a careful engineer
would run them, so we compare against the best of them.

- megatron-uniform: Megatron-LM's default; decoder layers split evenly, the embedding with the first
  stage, the output layer and loss with the last.
- megatron-override: the same with the best `--decoder-first/last-pipeline-num-layers` over every
  pair of counts Megatron accepts (the rest divide evenly over the middle stages) and every pair
  near an even split (the "redistribution" baseline of the vocabulary-parallelism paper).
- deepspeed-parameters: DeepSpeed's default `partition_method="parameters"`, balancing parameter counts.
- deepspeed-uniform: DeepSpeed's `partition_method="uniform"`, balancing layer counts.
- pipedream: PipeDream's DP, the split that minimises the slowest stage under the memory cap.
- alpa: Alpa's DP, the split that minimises sum + (m - 1) x max of stage times under the memory cap.

The two DPs choose recomputation per stage, as AdaPipe does: each stage recomputes the fewest layers
that make it fit (the most memory saved per extra millisecond first, counted per class of equal
layers, which is exact when the recomputable layers are equal), and the last stage's cost includes
the head layers it holds. Each returns a placement; the simulator gives its true iteration time.
When a Megatron or DeepSpeed split does not fit in memory without recomputation, it recomputes the
fewest layers per stage that make it fit (Megatron's `--recompute-granularity full --recompute-method
block --recompute-num-layers N`), which is what a user would do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cpsched.instances.pipeline.problem import PipelineProblem, Placement, recompute_classes
from cpsched.instances.pipeline.schedule import evaluate, fits, schedule_graph

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


def _block_recompute(problem: PipelineProblem, counts: list[int], layers: int) -> list[bool]:
    """Megatron's `--recompute-method block --recompute-num-layers N`: the first N recomputable
    layers of every stage recompute."""
    flags, first = [False] * problem.head_start, 0
    for count in counts:
        chosen = [i for i in range(first, first + count) if problem.layers[i].recompute is not None][:layers]
        for i in chosen:
            flags[i] = True
        first += count
    return flags


def _fit(problem: PipelineProblem, counts: list[int] | None) -> Placement | None:
    """The placement of `counts`, recomputing the fewest layers per stage that make it fit, as
    Megatron's block recompute does (one count N for every stage, found by bisection: memory falls
    as N grows)."""
    if counts is None:
        return None
    plain = Placement.from_counts(problem, counts)
    if fits(problem, plain) or not any(x.recompute for x in problem.chain):
        return plain
    low, high = 0, max(counts)  # infeasible at low; try the largest first
    fitted = Placement.from_counts(problem, counts, _block_recompute(problem, counts, high))
    if not fits(problem, fitted):
        return plain
    while high - low > 1:
        middle = (low + high) // 2
        candidate = Placement.from_counts(problem, counts, _block_recompute(problem, counts, middle))
        if fits(problem, candidate):
            high, fitted = middle, candidate
        else:
            low = middle
    return fitted


def megatron_uniform(problem: PipelineProblem, deadline: float | None = None) -> Placement | None:
    first, end = _body(problem)
    return _fit(problem, _counts_with_extras(problem, _even(end - first, problem.virtual_count)))


def megatron_override(problem: PipelineProblem, deadline: float | None = None) -> Placement | None:
    """First- and last-stage decoder counts a, b with the rest even: every pair whose rest divides
    evenly over the middle stages (what Megatron accepts) and every pair up to two layers more than
    even (the rest's remainder on the later or the earlier middle stages); the fastest that fits,
    among those tried before `deadline` (the even split first)."""
    first, end = _body(problem)
    n, S = end - first, problem.virtual_count
    best, best_time = None, None
    reach = min(n, -(-n // S) + 2)
    if S < 3:
        candidates = [[a, n - a] for a in range(n + 1)] if S == 2 else [[n]]
    else:
        pairs = {(a, b) for a in range(n + 1) for b in range(n + 1 - a)
                 if n - a - b >= S - 2 and ((n - a - b) % (S - 2) == 0 or max(a, b) <= reach)}
        # the middle's remainder on its later or on its earlier stages
        candidates = [[a, *middle, b] for a, b in sorted(pairs)
                      for middle in {tuple(_even(n - a - b, S - 2)), tuple(_even(n - a - b, S - 2))[::-1]}]
    even = _even(n, S)
    tried = sorted(range(len(candidates)), key=lambda k: sum(abs(x - y) for x, y in zip(candidates[k], even)))
    for number, k in enumerate(tried):  # near the even split first; ties go to the earlier candidate
        if number and deadline is not None and time.monotonic() >= deadline:
            break
        body = candidates[k]
        placement = _fit(problem, _counts_with_extras(problem, body))
        if placement is None:
            continue
        result = evaluate(problem, placement)
        key = (not result.feasible, result.iteration, k)
        if best_time is None or key < best_time:
            best, best_time = placement, key
    return best


def deepspeed_uniform(problem: PipelineProblem, deadline: float | None = None) -> Placement | None:
    """Every chain layer counts one; the remainder to the later stages."""
    return _fit(problem, _even(problem.head_start, problem.virtual_count))


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


def deepspeed_parameters(problem: PipelineProblem, deadline: float | None = None) -> Placement | None:
    params = np.array([layer.params for layer in problem.chain], dtype=float)
    return _fit(problem, _min_max_split(params, problem.virtual_count))


@dataclass
class StageCosts:
    """What each span of layers costs on each virtual stage, recompute chosen to fit."""

    times: list[np.ndarray]  # [s][k, i]: time of layers k..i-1 on stage s, p2p after it included
    fits: list[np.ndarray]  # [s][k, i]: the span fits stage s's memory (recomputing as needed)
    recomputed: list[list[np.ndarray]]  # [s][class][k, i]: layers of the class that recompute
    classes: list[list[int]]  # the chain layers of each recompute class


def stage_costs(problem: PipelineProblem) -> StageCosts:
    """Per virtual stage, every span's time and memory fit, each stage recomputing the fewest layers
    that make it fit (greedy by memory saved per extra time over classes of equal layers). The last
    stage carries the head layers (all shards on the last device) and may hold no chain layer."""
    t, p, m = problem.tables, problem.stages, problem.microbatches
    L, S = problem.head_start, problem.virtual_count
    states = schedule_graph(problem).states
    classes = [group for group in recompute_classes(problem) if group.saving_kib > 0]
    k, i = np.meshgrid(np.arange(L + 1), np.arange(L + 1), indexing="ij")
    comm = np.concatenate([[0], t.comm_after])  # comm[i] = p2p after layer i - 1
    costs = StageCosts([], [], [], [group.members for group in classes])
    for s in range(S):
        d = s % p
        in_flight = max((state.get(s, 0) for state in states[d]), default=min(m, 1))
        work = np.concatenate([[0], np.cumsum(np.array(t.forward[d]) + np.array(t.backward[d]))])
        memory = np.concatenate([[0], np.cumsum(np.array(t.weight_kib) + in_flight * np.array(t.activation_kib))])
        span = (work[i] - work[k]).astype(float)
        need = (memory[i] - memory[k]).astype(float)
        valid = i > k
        if s == S - 1:
            span = span + sum(row[-1] for row in t.shard_forward[d]) + sum(row[-1] for row in t.shard_backward[d])
            need = need + sum(row[-1] for row in t.shard_kib)
            valid = valid | ((k == L) & (i == L) & bool(problem.head))
        else:
            span = span + comm[i]
        short = need - problem.tables.capacity_kib[d] / problem.virtual_stages
        taken: dict[int, np.ndarray] = {}
        for c in sorted(range(len(classes)), key=lambda c: -classes[c].saving_kib / max(1, classes[c].extra[d])):
            count = np.concatenate([[0], np.cumsum(np.isin(np.arange(L), classes[c].members))])
            saved = max(1, in_flight) * classes[c].saving_kib  # per layer recomputed, over the microbatches in flight
            take = np.minimum(count[i] - count[k], np.ceil(np.maximum(short, 0) / saved)).clip(min=0)
            short = short - take * saved
            span = span + take * classes[c].extra[d]
            taken[c] = take.astype(int)
        costs.recomputed.append([taken[c] for c in range(len(classes))])
        costs.times.append(np.where(valid, span, np.inf))
        costs.fits.append(valid & (short <= 0))
    return costs


def _placement(problem: PipelineProblem, counts: list[int], costs: StageCosts) -> Placement:
    """The placement of `counts`, each stage recomputing the layers its cost counted."""
    recompute = [False] * problem.head_start
    first = 0
    for s, count in enumerate(counts):
        for members, take in zip(costs.classes, costs.recomputed[s]):
            chosen = [x for x in members if first <= x < first + count][: take[first, first + count]]
            for x in chosen:
                recompute[x] = True
        first += count
    return Placement.from_counts(problem, counts, recompute=recompute)


def _dp(problem: PipelineProblem, costs: StageCosts, cap: float, combine: str) -> tuple[float, list[int]] | None:
    """Split the chain into virtual stages with every stage time <= cap and fitting in memory,
    minimising the largest stage time ('max') or the sum of stage times ('sum')."""
    L, S = problem.head_start, problem.virtual_count
    best = np.full(L + 1, np.inf)
    best[0] = 0.0
    cuts = []
    for s in range(S):
        cost = np.where(costs.fits[s] & (costs.times[s] <= cap), costs.times[s], np.inf)
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


def pipedream(problem: PipelineProblem, deadline: float | None = None) -> Placement | None:
    costs = stage_costs(problem)
    found = _dp(problem, costs, np.inf, "max")
    return None if found is None else _placement(problem, found[1], costs)


def alpa(problem: PipelineProblem, deadline: float | None = None) -> Placement | None:
    """Alpa's stage construction: for each bound t_max on the slowest stage, the split minimising
    the sum of stage times; keep the best sum + (m - 1) x t_max (with Alpa's early exit)."""
    m = problem.microbatches
    costs = stage_costs(problem)
    floor = _dp(problem, costs, np.inf, "max")
    if floor is None:
        return None
    candidates = np.unique(np.concatenate([t[np.isfinite(t) & f] for t, f in zip(costs.times, costs.fits)]))
    best, best_counts = np.inf, None
    for cap in candidates[candidates >= floor[0]]:
        if (m - 1) * cap >= best:
            break
        found = _dp(problem, costs, cap, "sum")
        if found is not None and found[0] + (m - 1) * cap < best:
            best, best_counts = found[0] + (m - 1) * cap, found[1]
    return None if best_counts is None else _placement(problem, best_counts, costs)


SWEEPS = frozenset({"megatron-override"})  # the baselines that try many splits, cut at their deadline
BASELINES: dict[str, Callable[..., Placement | None]] = {  # (problem, deadline=None)
    "megatron-uniform": megatron_uniform,
    "megatron-override": megatron_override,
    "deepspeed-parameters": deepspeed_parameters,
    "deepspeed-uniform": deepspeed_uniform,
    "pipedream": pipedream,
    "alpa": alpa,
}
