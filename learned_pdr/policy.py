"""The learned rule's network: scores each candidate from its features and a summary of all of them.

Input per candidate: its own features, and the mean and the maximum of every feature over the
candidates of the same decision. Pooling makes the score permutation invariant and independent of
how many candidates there are, so one set of weights serves any n x m. Two tanh layers, one
linear output; a softmax over a decision's scores is the probability of dispatching each.

Everything is numpy with a hand-written backward pass (small enough to check against finite
differences, which a test does): many decisions are stacked into one matrix, `starts` marks where
each decision's rows begin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instances.errors import InputError
from learned_pdr.features import CANDIDATE_FEATURES, known_feature_sets

PARAMETERS = ("w1", "b1", "w2", "b2", "w3")


@dataclass
class Policy:
    """Weights (`params`), the feature names they were trained on, and where they came from."""

    params: dict[str, np.ndarray]
    features: tuple[str, ...] = CANDIDATE_FEATURES
    metadata: dict = field(default_factory=dict)

    @classmethod
    def initial(cls, seed: int, hidden: int = 32, features: tuple[str, ...] = CANDIDATE_FEATURES) -> Policy:
        """Random weights (Glorot-uniform), the same for the same seed."""
        rng = np.random.default_rng(seed)
        inputs = 3 * len(features)

        def glorot(rows: int, cols: int) -> np.ndarray:
            limit = np.sqrt(6.0 / (rows + cols))
            return rng.uniform(-limit, limit, size=(rows, cols))

        return cls({"w1": glorot(inputs, hidden), "b1": np.zeros(hidden), "w2": glorot(hidden, hidden),
                    "b2": np.zeros(hidden), "w3": glorot(hidden, 1)[:, 0]}, features)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Scores of one decision's candidates (rows of `x`); higher is dispatched first."""
        return forward(self.params, x, np.zeros(1, dtype=np.int64))[0]

    def save(self, path: str | Path) -> None:
        header = json.dumps({"features": list(self.features), "metadata": self.metadata})
        np.savez(path, header=np.array(header), **self.params)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Weights written by `save`; a file that is not one is refused with a one-line message."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                header = json.loads(str(stored["header"]))
                params = {name: stored[name].astype(np.float64) for name in PARAMETERS}
        except (OSError, KeyError, ValueError) as error:
            raise InputError(f"{path}: not a cpsched policy file ({error})") from None
        features = tuple(header.get("features", ()))
        if features not in known_feature_sets():
            raise InputError(f"{path}: trained on features {list(features)}, which this version does not "
                             "compute; retrain with `cpsched train-pdr`")
        return cls(params, features, header.get("metadata", {}))


def _pooled_inputs(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """[own features, mean over the decision, max over the decision] for every row."""
    counts = np.diff(np.append(starts, len(x)))
    mean = np.add.reduceat(x, starts, axis=0) / counts[:, None]
    peak = np.maximum.reduceat(x, starts, axis=0)
    return np.hstack([x, np.repeat(mean, counts, axis=0), np.repeat(peak, counts, axis=0)])


def forward(params: dict[str, np.ndarray], x: np.ndarray, starts: np.ndarray):
    """Scores of all rows, and what the backward pass needs."""
    z = _pooled_inputs(x, starts)
    h1 = np.tanh(z @ params["w1"] + params["b1"])
    h2 = np.tanh(h1 @ params["w2"] + params["b2"])
    return h2 @ params["w3"], (z, h1, h2)


def log_likelihood(params: dict[str, np.ndarray], x: np.ndarray, starts: np.ndarray, chosen: np.ndarray,
                   weights: np.ndarray, temperature: float = 1.0) -> tuple[float, dict[str, np.ndarray]]:
    """sum_d weights[d] * log P(chosen[d] | decision d) and its gradient in every parameter.

    `chosen` holds row indices into `x` (one per decision); P is the softmax of the decision's
    scores over `temperature`. With weights = advantages this is the REINFORCE objective."""
    scores, (z, h1, h2) = forward(params, x, starts)
    logits = scores / temperature
    counts = np.diff(np.append(starts, len(x)))
    peak = np.repeat(np.maximum.reduceat(logits, starts), counts)
    exp = np.exp(logits - peak)
    total = np.add.reduceat(exp, starts)
    log_p = logits[chosen] - peak[chosen] - np.log(total)
    value = float(weights @ log_p)
    probability = exp / np.repeat(total, counts)
    d_logits = -np.repeat(weights, counts) * probability
    d_logits[chosen] += weights
    d_scores = d_logits / temperature
    grads = {"w3": h2.T @ d_scores}
    d_a2 = np.outer(d_scores, params["w3"]) * (1 - h2**2)
    grads["w2"], grads["b2"] = h1.T @ d_a2, d_a2.sum(axis=0)
    d_a1 = (d_a2 @ params["w2"].T) * (1 - h1**2)
    grads["w1"], grads["b1"] = z.T @ d_a1, d_a1.sum(axis=0)
    return value, grads
