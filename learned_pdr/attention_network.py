"""The attention network: each candidate also looks at every unfinished job, not only its rivals.

The pooled network sees one machine's conflict set. What it cannot see is the rest of the shop:
which jobs are about to arrive on this machine, or will compete for the machine a candidate goes
to next. Here every unfinished job j is embedded (e_j = tanh(y_j Wc + bc), from its context
features), and each candidate c attends over them:

    logit(c, j) = (h_c Wq) . e_j / sqrt(H) + p_cj . u        (p_cj: features of the pair)
    r_c = sum_j softmax_j(logit) e_j,   s_c = sum_j softmax_j(logit) p_cj

The score is a tanh layer over [h_c, r_c, s_c, mean_j e_j] and a linear output, where h_c is the
pooled network's first layer. Attention is permutation invariant over jobs and candidates and
works for any number of either, so one set of weights still serves any n x m.

numpy with a hand-written backward pass over stacked decisions (segment sums, no loop per
decision), checked against finite differences by a test; `scores` is the same computation for one
decision in dense form, which is what a rollout calls.
"""

from __future__ import annotations

import numpy as np

from cpsched.learned_pdr.observation import Batch, Observation, segment_counts
from cpsched.learned_pdr.pooled_network import candidate_layer, glorot

PARAMETERS = ("w1", "b1", "wc", "bc", "wq", "u", "w2", "b2", "w3")


def initial(rng: np.random.Generator, features: int, hidden: int, context_features: int = 0,
            pair_features: int = 0) -> dict[str, np.ndarray]:
    return {"w1": glorot(rng, 3 * features, hidden), "b1": np.zeros(hidden),
            "wc": glorot(rng, context_features, hidden), "bc": np.zeros(hidden),
            "wq": glorot(rng, hidden, hidden), "u": np.zeros(pair_features),
            "w2": glorot(rng, 3 * hidden + pair_features, hidden), "b2": np.zeros(hidden),
            "w3": glorot(rng, hidden, 1)[:, 0]}


_MASKED = -1e30  # the logit of a padded context position: its attention weight is exactly 0


def _segment_sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts, axis=0)


def _repeat(values: np.ndarray, starts: np.ndarray, total: int) -> np.ndarray:
    """Each segment's value repeated over the segment's rows."""
    return np.repeat(values, segment_counts(starts, total), axis=0)


def _padded(values: np.ndarray, decision: np.ndarray, position: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rows of `values` placed at (decision, position) of a zero block of `shape` x width."""
    block = np.zeros((*shape, values.shape[1]))
    block[decision, position] = values
    return block


def _attend(q: np.ndarray, e: np.ndarray, pairs: np.ndarray, mask: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Attention weights (decisions x candidates x context) from padded queries and keys."""
    logits = q @ e.transpose(0, 2, 1) / np.sqrt(q.shape[-1]) + pairs @ u
    logits = np.where(mask[:, None, :], logits, _MASKED)
    weight = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return weight / weight.sum(axis=-1, keepdims=True)


def forward(params: dict[str, np.ndarray], batch: Batch):
    """Scores of all candidate rows, and what `backward` needs."""
    rows = len(batch.candidates)
    z, h1 = candidate_layer(params, batch.candidates, batch.starts)
    e = np.tanh(batch.context @ params["wc"] + params["bc"])
    block = batch.pairs.shape[:2]
    q_pad = _padded(h1 @ params["wq"], batch.row_decision, batch.row_position, block)
    e_pad = _padded(e, batch.context_decision, batch.context_position, (block[0], batch.pairs.shape[2]))
    attention = _attend(q_pad, e_pad, batch.pairs, batch.context_mask, params["u"])
    at_rows = batch.row_decision, batch.row_position
    r = (attention @ e_pad)[at_rows]
    s = np.einsum("dcj,dcjp->dcp", attention, batch.pairs)[at_rows]
    mean_e = _segment_sum(e, batch.context_starts) / segment_counts(batch.context_starts, len(e))[:, None]
    layer2_in = np.hstack([h1, r, s, _repeat(mean_e, batch.starts, rows)])
    h2 = np.tanh(layer2_in @ params["w2"] + params["b2"])
    return h2 @ params["w3"], (batch, z, h1, e, q_pad, e_pad, attention, layer2_in, h2)


def scores(params: dict[str, np.ndarray], observation: Observation) -> np.ndarray:
    """`forward` for one decision, without the padding: a rollout calls this at every decision."""
    hidden = len(params["b1"])
    x, pairs = observation.candidates, observation.pairs
    _, h1 = candidate_layer(params, x, np.zeros(1, dtype=np.int64))
    e = np.tanh(observation.context @ params["wc"] + params["bc"])
    logits = (h1 @ params["wq"]) @ e.T / np.sqrt(hidden) + pairs @ params["u"]
    weight = np.exp(logits - logits.max(axis=1, keepdims=True))
    attention = weight / weight.sum(axis=1, keepdims=True)
    r = attention @ e
    s = np.einsum("cj,cjp->cp", attention, pairs)
    mean_e = np.broadcast_to(e.mean(axis=0), (len(x), hidden))
    h2 = np.tanh(np.hstack([h1, r, s, mean_e]) @ params["w2"] + params["b2"])
    return h2 @ params["w3"]


def backward(params: dict[str, np.ndarray], cache, d_scores: np.ndarray) -> dict[str, np.ndarray]:
    """The gradient of sum(d_scores * scores) in every parameter."""
    batch, z, h1, e, q_pad, e_pad, attention, layer2_in, h2 = cache
    hidden, pair_features = len(params["b1"]), len(params["u"])
    block = batch.pairs.shape[:2]
    grads = {"w3": h2.T @ d_scores}
    d_a2 = np.outer(d_scores, params["w3"]) * (1 - h2**2)
    grads["w2"], grads["b2"] = layer2_in.T @ d_a2, d_a2.sum(axis=0)
    d_in = d_a2 @ params["w2"].T
    d_h1 = d_in[:, :hidden]
    d_r = _padded(d_in[:, hidden:2 * hidden], batch.row_decision, batch.row_position, block)
    d_s = _padded(d_in[:, 2 * hidden:2 * hidden + pair_features], batch.row_decision, batch.row_position, block)
    d_mean_e = _segment_sum(d_in[:, 2 * hidden + pair_features:], batch.starts)
    context_counts = segment_counts(batch.context_starts, len(e))
    # r = attention @ e and s = attention . pairs
    d_attention = d_r @ e_pad.transpose(0, 2, 1) + np.einsum("dcp,dcjp->dcj", d_s, batch.pairs)
    d_e_pad = attention.transpose(0, 2, 1) @ d_r
    # the softmax over each candidate's context (padded positions have weight 0, so no gradient)
    d_logits = attention * (d_attention - (attention * d_attention).sum(axis=-1, keepdims=True))
    grads["u"] = np.einsum("dcj,dcjp->p", d_logits, batch.pairs)
    d_logits /= np.sqrt(hidden)
    d_q = (d_logits @ e_pad)[batch.row_decision, batch.row_position]
    d_e_pad += d_logits.transpose(0, 2, 1) @ q_pad
    d_e = d_e_pad[batch.context_decision, batch.context_position]
    d_e += _repeat(d_mean_e / context_counts[:, None], batch.context_starts, len(e))
    grads["wq"] = h1.T @ d_q
    d_h1 = d_h1 + d_q @ params["wq"].T
    d_ae = d_e * (1 - e**2)
    grads["wc"], grads["bc"] = batch.context.T @ d_ae, d_ae.sum(axis=0)
    d_a1 = d_h1 * (1 - h1**2)
    grads["w1"], grads["b1"] = z.T @ d_a1, d_a1.sum(axis=0)
    return grads
