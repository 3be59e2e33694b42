"""The learned rule's policy: a network's weights, the features it reads, and where they came from.

Two networks score a decision's candidates (a softmax over the scores is the probability of
dispatching each): `pooled` reads the candidates' features and their mean and maximum over the
decision; `attention` also attends over every unfinished job (`attention_network`). Both are
permutation invariant and size independent, so one set of weights serves any n x m.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.learned_pdr import attention_network, pooled_network
from cpsched.learned_pdr.blocking_simulator import BlockingSimulator
from cpsched.learned_pdr.context_features import CONTEXT_FEATURES, PAIR_FEATURES, context_observation
from cpsched.learned_pdr.features import CANDIDATE_FEATURES, FeatureScales, candidate_features, known_feature_sets
from cpsched.learned_pdr.observation import Batch, Observation, segment_counts
from cpsched.learned_pdr.simulator import DispatchSimulator

NETWORKS: dict[str, ModuleType] = {"pooled": pooled_network, "attention": attention_network}


def network_module(name: str) -> ModuleType:
    if name not in NETWORKS:
        raise InputError(f"unknown network '{name}'; choose {' or '.join(NETWORKS)}")
    return NETWORKS[name]


@dataclass
class Policy:
    """Weights (`params`) of `network`, the candidate features they were trained on, and where they
    came from."""

    params: dict[str, np.ndarray]
    features: tuple[str, ...] = CANDIDATE_FEATURES
    metadata: dict = field(default_factory=dict)
    network: str = "pooled"

    @classmethod
    def initial(cls, seed: int, hidden: int = 32, features: tuple[str, ...] = CANDIDATE_FEATURES,
                network: str = "pooled") -> Policy:
        """Random weights (Glorot-uniform), the same for the same seed."""
        params = network_module(network).initial(np.random.default_rng(seed), len(features), hidden,
                                                 context_features=len(CONTEXT_FEATURES),
                                                 pair_features=len(PAIR_FEATURES))
        return cls(params, features, network=network)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return network_module(self.network).PARAMETERS

    def observe(self, sim: DispatchSimulator | BlockingSimulator, jobs: np.ndarray,
                scales: FeatureScales) -> Observation:
        """What this policy reads at the decision among `jobs` in `sim`."""
        x = candidate_features(sim, jobs, scales, self.features)
        if self.network == "pooled":
            return Observation(x)
        return Observation(x, *context_observation(sim, jobs, scales))

    def scores(self, observation: Observation) -> np.ndarray:
        """Scores of one decision's candidates; higher is dispatched first."""
        return network_module(self.network).scores(self.params, observation)

    def save(self, path: str | Path) -> None:
        header = {"features": list(self.features), "metadata": self.metadata, "network": self.network}
        if self.network == "attention":
            header |= {"context_features": list(CONTEXT_FEATURES), "pair_features": list(PAIR_FEATURES)}
        np.savez(path, header=np.array(json.dumps(header)), **self.params)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Weights written by `save`; a file that is not one is refused with a one-line message."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                header = json.loads(str(stored["header"]))
                network = header.get("network", "pooled")  # files from before the attention network
                params = {name: stored[name].astype(np.float64) for name in network_module(network).PARAMETERS}
        except (OSError, KeyError, ValueError) as error:
            raise InputError(f"{path}: not a cpsched policy file ({error})") from None
        except InputError as error:
            raise InputError(f"{path}: {error}") from None
        features = tuple(header.get("features", ()))
        context = (tuple(header.get("context_features", CONTEXT_FEATURES)),
                   tuple(header.get("pair_features", PAIR_FEATURES)))
        if features not in known_feature_sets() or context != (CONTEXT_FEATURES, PAIR_FEATURES):
            read = list(features) + (list(context[0] + context[1]) if network == "attention" else [])
            raise InputError(f"{path}: trained on features {read}, which this version does not "
                             "compute; retrain with `cpsched train-pdr`")
        return cls(params, features, header.get("metadata", {}), network)


def log_likelihood(policy: Policy, batch: Batch, weights: np.ndarray,
                   temperature: float = 1.0) -> tuple[float, dict[str, np.ndarray]]:
    """sum_d weights[d] * log P(chosen[d] | decision d) and its gradient in every parameter.

    P is the softmax of the decision's scores over `temperature`. With weights = advantages this is
    the REINFORCE objective."""
    network = network_module(policy.network)
    scores, cache = network.forward(policy.params, batch)
    starts, chosen = batch.starts, batch.chosen
    logits = scores / temperature
    counts = segment_counts(starts, len(scores))
    peak = np.repeat(np.maximum.reduceat(logits, starts), counts)
    exp = np.exp(logits - peak)
    total = np.add.reduceat(exp, starts)
    log_p = logits[chosen] - peak[chosen] - np.log(total)
    value = float(weights @ log_p)
    probability = exp / np.repeat(total, counts)
    d_logits = -np.repeat(weights, counts) * probability
    d_logits[chosen] += weights
    return value, network.backward(policy.params, cache, d_logits / temperature)
