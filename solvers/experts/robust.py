"""Expert placements that stay balanced when the load drifts.

Why: a plan packed to the planning window's peak on every GPU (to keep co-activated experts on one
node) has no headroom, so on the next window its busiest GPU is often busier than EPLB's. Expert
loads drift multiplicatively between windows and the tokens are drawn anew, so each layer is judged on
`SCENARIOS` seeded next windows made from the planning window's loads (a log-normal factor per
expert, sigma `DRIFT`, shared with its co-activated partners where co-activation is given, then
Poisson counts): the expected peak, the busiest GPU over the mean,
averaged over the scenarios. The planner keeps every layer no busier than EPLB's in every judging
scenario, or clearly less busy on average (`Headroom`); EPLB's own placement always qualifies.
This module's descent lowers the expected peak: swap the experts of two slots so that the GPUs
that are most often the busiest give load away.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from cpsched.instances.experts.problem import ExpertProblem

DRIFT = 0.3  # log-normal sigma of an expert's load from one window to the next (the synthetic workloads' drift)
SHARED_DRIFT = 0.5  # with co-activation given: the share of an expert's drift it has with its partners
SCENARIOS = 64  # what the descent searches on
JUDGING = 256  # what a plan is judged on, drawn apart
DOMINANCE_QUANTILE = 0.9  # a plan below EPLB's expected peak must also be no busier in this share
MARGIN = 0.05  # how far below EPLB's expected peak a plan must be to be busier in a few scenarios
KEEP_OF_GAIN = 0.1  # how much of the descent's gain the token and move swaps may spend
ROUNDS = 200  # swaps tried per descent at most


def drift_scenarios(problem: ExpertProblem, layer: int, seed: int = 0, count: int = SCENARIOS,
                    salt: int = 0, sigma: float = DRIFT) -> np.ndarray:
    """[scenarios, experts] next-window loads drawn from the planning window's, seeded per layer."""
    rng = np.random.default_rng([seed, layer, 2028, salt])
    load = problem.loads[problem.plan_window, layer].astype(np.float64)
    z = rng.standard_normal((count, problem.experts))
    if problem.coactivation is not None:  # co-activated experts are picked by the same tokens: they drift together
        pairs = np.asarray(problem.coactivation[layer], dtype=np.float64)
        weights = pairs / np.maximum(pairs.sum(axis=1, keepdims=True), 1.0)
        spread = np.sqrt((weights ** 2).sum(axis=1))
        shared = np.where(spread > 0, (z @ weights.T) / np.maximum(spread, 1e-12), z)
        z = np.sqrt(1 - SHARED_DRIFT) * z + np.sqrt(SHARED_DRIFT) * shared
    return rng.poisson(load * np.exp(sigma * z)).astype(np.float64)


def scenario_loads(problem: ExpertProblem, layer: int, row: np.ndarray, scenarios: np.ndarray) -> np.ndarray:
    """[scenarios, slots] tokens each slot serves in each scenario, equal shares per replica."""
    used = row >= 0
    counts = np.bincount(row[used], minlength=problem.experts)
    drifted = np.zeros((len(scenarios), len(row)))
    drifted[:, used] = scenarios[:, row[used]] / counts[row[used]]
    return drifted


def scenario_peaks(problem: ExpertProblem, layer: int, row: np.ndarray, scenarios: np.ndarray) -> np.ndarray:
    """[scenarios] the busiest GPU's load over the mean GPU load, in each drift scenario."""
    gpu = scenario_loads(problem, layer, row, scenarios).reshape(len(scenarios), problem.gpus, -1).sum(axis=2)
    return gpu.max(axis=1) / gpu.mean(axis=1)


def expected_peak(problem: ExpertProblem, layer: int, row: np.ndarray, scenarios: np.ndarray) -> float:
    """Mean over the drift scenarios of the busiest GPU's load over the mean GPU load."""
    return float(scenario_peaks(problem, layer, row, scenarios).mean())


@dataclass(frozen=True)
class Headroom:
    """How a layer's plan is judged against EPLB's under drift. The descent searches on
    `search` scenarios; the verdict is on `judge`, drawn apart, so a plan that merely fits the
    search scenarios gains nothing. A plan qualifies when it is no busier than EPLB's in every
    judging scenario, or when its expected peak is at least `MARGIN` below EPLB's and it is no
    busier in nine scenarios in ten; then its expected peak may go up to `limit`."""

    search: np.ndarray
    judge: np.ndarray
    eplb_peaks: np.ndarray  # EPLB's peak in each judging scenario
    limit: float

    @classmethod
    def against(cls, problem: ExpertProblem, layer: int, eplb_row: np.ndarray, seed: int) -> Headroom:
        judge = np.concatenate([drift_scenarios(problem, layer, seed, JUDGING // 2, salt=1),  # and heavier tails
                                drift_scenarios(problem, layer, seed, JUDGING // 2, salt=2, sigma=2 * DRIFT)])
        peaks = scenario_peaks(problem, layer, eplb_row, judge)
        return cls(drift_scenarios(problem, layer, seed), judge, peaks, float(peaks.mean()))

    def peak(self, problem: ExpertProblem, layer: int, row: np.ndarray) -> float:
        """The expected peak on the judging scenarios."""
        return self.verdict(problem, layer, row)[1]

    def qualifies(self, problem: ExpertProblem, layer: int, row: np.ndarray) -> bool:
        """Whether `row` keeps EPLB's headroom (see the class)."""
        return self.verdict(problem, layer, row)[0]

    def verdict(self, problem: ExpertProblem, layer: int, row: np.ndarray) -> tuple[bool, float]:
        """(qualifies, expected peak) from one pass over the judging scenarios."""
        peaks = scenario_peaks(problem, layer, row, self.judge)
        mean = float(peaks.mean())
        if (peaks <= self.eplb_peaks + 1e-9).all():
            return True, mean
        return bool(mean <= (1 - MARGIN) * self.eplb_peaks.mean()
                    and np.quantile(peaks / self.eplb_peaks, DOMINANCE_QUANTILE) <= 1.0), mean

    def after_descent(self, lowest: float) -> Headroom:
        """The limit once the descent reached `lowest`: keep all but `KEEP_OF_GAIN` of the gain,
        when it is a real gain."""
        reference = float(self.eplb_peaks.mean())
        if lowest > (1 - MARGIN) * reference:
            return self
        return replace(self, limit=lowest + KEEP_OF_GAIN * (reference - lowest))


def robust_descent(problem: ExpertProblem, layer: int, row: np.ndarray, scenarios: np.ndarray, cap: float,
                   deadline: float) -> np.ndarray:
    """Lower `row`'s expected peak by swaps, no GPU above `cap` tokens on the planning window: each
    round tries every swap of a slot on the GPU that is busiest most often with any slot elsewhere,
    and keeps the best one that lowers the expected peak."""
    row = np.asarray(row, dtype=np.int64).copy()
    if (row < 0).any():
        return row
    k, G = problem.slots_per_gpu, problem.gpus
    gpu_of = np.arange(len(row)) // k
    plan_load = problem.loads[problem.plan_window, layer]
    best = expected_peak(problem, layer, row, scenarios)
    for _ in range(ROUNDS):
        if time.monotonic() >= deadline:
            break
        drifted = scenario_loads(problem, layer, row, scenarios)  # [S, slots]
        gpu = drifted.reshape(len(scenarios), G, k).sum(axis=2)  # [S, G]
        mean = gpu.mean(axis=1)
        hot = int(np.bincount(gpu.argmax(axis=1), minlength=G).argmax())
        counts = np.bincount(row, minlength=problem.experts)
        share = plan_load[row] / counts[row]
        planned = np.bincount(gpu_of, weights=share, minlength=G)
        held = np.zeros((problem.experts, G), dtype=bool)
        held[row, gpu_of] = True
        found = None
        for a in range(hot * k, (hot + 1) * k):
            others = np.flatnonzero((gpu_of != hot) & (row != row[a]) & ~held[row[a], gpu_of] & ~held[row, hot])
            if not len(others):
                continue
            delta = drifted[:, others] - drifted[:, [a]]  # [S, candidates]: what the hot GPU gains
            trial = np.repeat(gpu[:, :, None], len(others), axis=2)  # [S, G, candidates]
            trial[:, hot, :] += delta
            trial[:, gpu_of[others], np.arange(len(others))] -= delta
            peaks = (trial.max(axis=1) / mean[:, None]).mean(axis=0)
            fits = ((planned[hot] - share[a] + share[others] <= cap + 1e-9)
                    & (planned[gpu_of[others]] + share[a] - share[others] <= cap + 1e-9))
            peaks[~fits] = np.inf
            j = int(np.argmin(peaks))
            if peaks[j] < best - 1e-12 and (found is None or peaks[j] < found[0]):
                found = (float(peaks[j]), a, int(others[j]))
        if found is None:
            break
        best, a, b = found  # the swap leaves every scenario's mean load as it was: its peak is exact
        row[a], row[b] = row[b], row[a]
    return row
