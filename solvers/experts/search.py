"""Swap local search over one layer's expert placement: exchange the experts of two slots on
different GPUs while no GPU goes above a load cap, to cut inter-node tokens first and moved experts
second.

Why: CP-SAT's model of inter-node traffic weighs only the heaviest co-activated pairs and its
equal-share load is a big-M relaxation, so on 256 experts over 32-64 GPUs it barely moves from its
hint in a few seconds. Here every pair counts: the gain of all slot-pair swaps is one matrix, from
M = W @ P (tokens of each expert's pairs with the experts present on each node), as in a
Kernighan-Lin partition step. That gain is exact for experts with one replica and an estimate
otherwise, so each chosen swap is checked by recomputing the layer's metrics before it is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cpsched.instances.experts.problem import ExpertProblem, busiest_gpu, has_secondary, holds, internode_tokens

TRIES_PER_ROUND = 32  # best-estimated swaps checked exactly before the gains are recomputed


def _objective(problem: ExpertProblem, layer: int, row: np.ndarray, before: np.ndarray | None) -> tuple[int, int]:
    """(inter-node tokens, experts placed on a GPU that did not hold them)."""
    moved = 0 if before is None else int((holds(problem, row, "gpu") & ~before).sum())
    return internode_tokens(problem, layer, row), moved


def _swap_gains(problem: ExpertProblem, layer: int, row: np.ndarray, cap: float,
                before: np.ndarray | None) -> np.ndarray:
    """[slots, slots] estimated improvement of swapping the experts of two slots (-inf where the swap
    is not allowed: same GPU, same expert, the expert already on the other GPU, a second copy on its
    GPU, or a GPU above `cap` after it)."""
    E, k = problem.experts, problem.slots_per_gpu
    slots = len(row)
    gpu = np.arange(slots) // k
    node = gpu // problem.gpus_per_node
    counts = np.bincount(row, minlength=E)
    share = problem.loads[problem.plan_window, layer][row] / counts[row]
    gpu_load = np.bincount(gpu, weights=share, minlength=problem.gpus)
    held = holds(problem, row, "gpu")
    copies_here = (row.reshape(-1, k)[:, :, None] == row.reshape(-1, k)[:, None, :]).sum(axis=2).ravel()
    on_other = held[row][:, gpu]  # [a's slot, b's slot]: a's expert already on b's GPU
    allowed = (gpu[:, None] != gpu[None, :]) & (row[:, None] != row[None, :]) & ~on_other & ~on_other.T
    allowed &= (copies_here == 1)[:, None] & (copies_here == 1)[None, :]
    after = gpu_load[gpu][:, None] - share[:, None] + share[None, :]  # a's GPU after the swap
    fits = after <= cap + 1e-9
    allowed &= fits & fits.T
    gain = np.zeros((slots, slots))
    if problem.coactivation is not None and problem.nodes > 1:
        weights = np.asarray(problem.coactivation[layer], dtype=np.float64)
        together = (weights @ holds(problem, row, "node").astype(np.float64))[row]  # [slot, node]
        own = together[np.arange(slots), node]
        cross = together[:, node]  # a's tokens with b's node
        tokens = cross - own[:, None] + cross.T - own[None, :] - 2 * weights[row][:, row]
        tokens[node[:, None] == node[None, :]] = 0.0
        gain += (E * problem.gpus + 1) * tokens  # one token outweighs every move
    if before is not None:
        new = (~before[row][:, gpu]).astype(np.int64)  # a's expert would be new on b's GPU
        old = (~before[row, gpu]).astype(np.int64)  # a's expert is new on its own GPU now
        gain -= new + new.T - old[:, None] - old[None, :]
    gain[~allowed] = -np.inf
    return gain


@dataclass
class SwapOutcome:
    row: np.ndarray  # the layer's placement (phy2log) after the swaps
    swaps: int
    interrupted: bool = False  # Ctrl-C stopped the search; `row` is the best reached before it


def improve_by_swaps(problem: ExpertProblem, layer: int, row: np.ndarray, deadline: float,
                     cap: float | None = None, accept: Callable[[np.ndarray], bool] | None = None) -> SwapOutcome:
    """The best placement reached from `row` by improving swaps, with no GPU above `cap` (default:
    `row`'s busiest GPU) and every row kept passing `accept`, before `deadline` (time.monotonic())
    or Ctrl-C."""
    row = np.asarray(row, dtype=np.int64).copy()
    if (row < 0).any() or not has_secondary(problem):
        return SwapOutcome(row, 0)
    cap = busiest_gpu(problem, layer, row) if cap is None else cap
    before = None if problem.current is None else holds(problem, np.asarray(problem.current)[layer], "gpu")
    current = _objective(problem, layer, row, before)
    rejected = np.zeros((len(row), len(row)), dtype=bool)  # swaps the exact check turned down
    outcome = SwapOutcome(row, 0)
    try:
        while time.monotonic() < deadline:
            gain = _swap_gains(problem, layer, outcome.row, cap, before)
            gain[rejected] = -np.inf
            order = np.argsort(gain, axis=None)[::-1][:2 * TRIES_PER_ROUND]  # each swap appears twice
            if not gain.flat[order[0]] > 0:
                break
            for flat in order:
                i, j = divmod(int(flat), len(row))
                if not gain[i, j] > 0 or time.monotonic() >= deadline:
                    break
                if i > j:
                    continue
                trial = outcome.row.copy()
                trial[i], trial[j] = trial[j], trial[i]
                value = _objective(problem, layer, trial, before)
                if (value < current and busiest_gpu(problem, layer, trial) <= cap + 1e-9
                        and (accept is None or accept(trial))):
                    outcome.row, outcome.swaps, current = trial, outcome.swaps + 1, value
                    break
                rejected[i, j] = rejected[j, i] = True
    except KeyboardInterrupt:
        outcome.interrupted = True
    return outcome
