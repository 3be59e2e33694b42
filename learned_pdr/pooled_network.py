"""The pooled network: each candidate scored from its features and their mean and maximum over
the decision's candidates.

Pooling makes the score permutation invariant and independent of how many candidates there are,
so one set of weights serves any n x m. Two tanh layers, one linear output. numpy with a
hand-written backward pass (small enough to check against finite differences, which a test does).
"""

from __future__ import annotations

import numpy as np

from cpsched.learned_pdr.observation import Batch, Observation, segment_counts

PARAMETERS = ("w1", "b1", "w2", "b2", "w3")


def glorot(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Glorot-uniform weights: keeps the tanh layers out of saturation at the start."""
    limit = np.sqrt(6.0 / (rows + cols))
    return rng.uniform(-limit, limit, size=(rows, cols))


def initial(rng: np.random.Generator, features: int, hidden: int, **_) -> dict[str, np.ndarray]:
    return {"w1": glorot(rng, 3 * features, hidden), "b1": np.zeros(hidden), "w2": glorot(rng, hidden, hidden),
            "b2": np.zeros(hidden), "w3": glorot(rng, hidden, 1)[:, 0]}


def pooled_inputs(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """[own features, mean over the decision, max over the decision] for every row."""
    counts = segment_counts(starts, len(x))
    mean = np.add.reduceat(x, starts, axis=0) / counts[:, None]
    peak = np.maximum.reduceat(x, starts, axis=0)
    return np.hstack([x, np.repeat(mean, counts, axis=0), np.repeat(peak, counts, axis=0)])


def candidate_layer(params: dict[str, np.ndarray], x: np.ndarray, starts: np.ndarray):
    """The first layer (shared with the attention network): pooled inputs and their tanh."""
    z = pooled_inputs(x, starts)
    return z, np.tanh(z @ params["w1"] + params["b1"])


def forward(params: dict[str, np.ndarray], batch: Batch):
    """Scores of all candidate rows, and what `backward` needs."""
    z, h1 = candidate_layer(params, batch.candidates, batch.starts)
    h2 = np.tanh(h1 @ params["w2"] + params["b2"])
    return h2 @ params["w3"], (z, h1, h2)


def scores(params: dict[str, np.ndarray], observation: Observation) -> np.ndarray:
    x = observation.candidates
    return forward(params, Batch(x, np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)))[0]


def backward(params: dict[str, np.ndarray], cache, d_scores: np.ndarray) -> dict[str, np.ndarray]:
    """The gradient of sum(d_scores * scores) in every parameter."""
    z, h1, h2 = cache
    grads = {"w3": h2.T @ d_scores}
    d_a2 = np.outer(d_scores, params["w3"]) * (1 - h2**2)
    grads["w2"], grads["b2"] = h1.T @ d_a2, d_a2.sum(axis=0)
    d_a1 = (d_a2 @ params["w2"].T) * (1 - h1**2)
    grads["w1"], grads["b1"] = z.T @ d_a1, d_a1.sum(axis=0)
    return grads
