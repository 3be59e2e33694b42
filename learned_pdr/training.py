"""Training the learned rule: REINFORCE with a shared baseline, self-labeling or rollout labels, with
Adam, on generated job shops.

Each update draws a few random instances (sizes from 6 x 6 to 30 x 20, Taillard's distribution,
never a benchmark instance) and runs K sampled rollouts of each. REINFORCE pushes up the
log-probability of the rollouts shorter than their instance's mean (advantage = (mean - makespan) /
lower bound, so instances of every size weigh alike). Self-labeling (Corsini et al., "Self-Labeling
the Job Shop Scheduling Problem", arXiv 2401.11849) instead imitates the best of the K rollouts:
the mean log-probability of its decisions is pushed up, and the others are ignored. Rollout labels
(approximate policy iteration, as in the per-step rollouts of Residual Scheduling, Ho et al. 2023)
give single decisions their own signal: at a few decisions of a sampled rollout every candidate is
tried, the greedy policy completes each schedule, and the best candidates become the label.

Every instance and every sample is drawn from a generator seeded by (seed, update, slot), so
training is a pure function of the seed and the number of updates: a resumed run gives the same
weights as an uninterrupted one. The weights kept are those with the best greedy gap on a fixed
validation set, or with the best gap of the best of K rollouts (`validation_samples`), for a rule
meant for `pdr-sample:K`. A leader weight above 1 (after Leader Reward, Wang et al., arXiv
2405.13947) aims REINFORCE at the best of the K rollouts rather than their mean.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.generators import random_jobshop
from cpsched.instances.jobshop.problem import JobShop
from cpsched.instances.jobshop.variant import JobShopVariant
from cpsched.learned_pdr.blocking_simulator import RandomShutdowns
from cpsched.learned_pdr.features import FeatureScales, features_for
from cpsched.learned_pdr.learned import rollout, run_policy, sample_best
from cpsched.learned_pdr.observation import Batch, Observation
from cpsched.learned_pdr.parallel import map_in_order, one_blas_thread, worker_pool
from cpsched.learned_pdr.policy import Policy, log_likelihood, network_module
from cpsched.learned_pdr.simulator import DispatchSimulator

TRAINING_SIZES = ((6, 6), (10, 10), (15, 10), (15, 15), (20, 10), (20, 15), (20, 20), (30, 15), (30, 20))
VALIDATION_SIZES = ((10, 10), (15, 15), (20, 20), (30, 20))
VARIANTS = ("classic", "blocking")
OBJECTIVES = ("reinforce", "self-label", "rollout-label")
VALIDATION_SEED = 1_000_000  # validation instances are seeds 1,000,000 + i: disjoint from training draws


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides the weights (the time limit only decides when to stop)."""

    seed: int = 0
    instances_per_update: int = 4
    rollouts: int = 8
    learning_rate: float = 1e-3
    hidden: int = 32
    non_delay: bool = False  # active (Giffler-Thompson) decisions by default, as the learned-PDR papers
    validate_every: int = 50
    validation_per_size: int = 5  # 20 instances: the choice of the best weights is not noise
    sizes: tuple[tuple[int, int], ...] = TRAINING_SIZES
    variant: str = "classic"  # or "blocking": blocking job shops with swaps, on their own simulator
    shutdowns: tuple[float, ...] = ()  # blocking: each training instance meets one of these shutdown probabilities
    objective: str = "reinforce"  # or "self-label": imitate the best of the K rollouts
    feature_set: str = "standard"  # which named features the network reads (learned_pdr.features)
    labelled_decisions: int = 8  # rollout-label: decisions per instance whose candidates are all tried
    network: str = "pooled"  # or "attention": candidates also attend over every unfinished job
    averaging: float = 0.0  # > 0: validate (and keep) an exponential moving average of the weights with this decay
    leader_weight: float = 1.0  # reinforce: the best rollout's advantage is multiplied by this (1: plain REINFORCE)
    validation_samples: int = 1  # weights kept by their greedy gap (1) or their best of K rollouts (K, as pdr-sample:K)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise InputError(f"unknown variant '{self.variant}'; choose {' or '.join(VARIANTS)}")
        if self.objective not in OBJECTIVES:
            raise InputError(f"unknown objective '{self.objective}'; choose {' or '.join(OBJECTIVES)}")
        features_for(self.variant, self.feature_set)  # refuses a set the variant lacks
        network_module(self.network)  # refuses an unknown network
        if self.leader_weight < 1:
            raise InputError(f"the leader weight must be at least 1, got {self.leader_weight}")
        if self.leader_weight != 1 and self.objective != "reinforce":
            raise InputError("the leader weight scales a REINFORCE advantage; use it with --objective reinforce")
        if self.validation_samples < 1:
            raise InputError(f"validation samples must be at least 1, got {self.validation_samples}")
        if not 0 <= self.averaging < 1:
            raise InputError(f"the averaging decay must lie in [0, 1), got {self.averaging}")
        if self.objective == "rollout-label" and self.variant != "classic":
            raise InputError("rollout-label tries every candidate of a decision, which random shutdowns would "
                             "make unrepeatable; train blocking job shops with reinforce or self-label")
        if self.shutdowns and self.variant != "blocking":
            raise InputError("random shutdowns apply to the blocking variant (--variant blocking)")
        if any(not 0 <= q < 1 for q in self.shutdowns):
            raise InputError(f"shutdown probabilities must lie in [0, 1), got {list(self.shutdowns)}")
        if self.variant == "blocking" and not self.non_delay:
            raise InputError("blocking dispatch is non-delay; train it with non_delay=True")


@dataclass
class Adam:
    """Adam (Kingma & Ba) over the policy's parameters, ascending the objective."""

    learning_rate: float
    first: dict[str, np.ndarray] = field(default_factory=dict)
    second: dict[str, np.ndarray] = field(default_factory=dict)
    steps: int = 0

    def ascend(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        beta1, beta2, epsilon = 0.9, 0.999, 1e-8
        self.steps += 1
        for name, g in grads.items():
            m = self.first[name] = beta1 * self.first.get(name, 0.0) + (1 - beta1) * g
            v = self.second[name] = beta2 * self.second.get(name, 0.0) + (1 - beta2) * g * g
            m_hat, v_hat = m / (1 - beta1**self.steps), v / (1 - beta2**self.steps)
            params[name] = params[name] + self.learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)


@dataclass
class TrainingState:
    """What a checkpoint holds: enough to continue exactly where training stopped."""

    policy: Policy
    adam: Adam
    update: int = 0
    best_params: dict[str, np.ndarray] | None = None
    best_gap: float = float("inf")
    curve: list[dict] = field(default_factory=list)  # {"update", "gap", "seconds"} at each validation
    seconds: float = 0.0  # training time so far, over all sessions
    averaged: dict[str, np.ndarray] | None = None  # the moving average of the weights, when configured


def as_variant(config: TrainingConfig, shop: JobShop) -> JobShop | JobShopVariant:
    """The problem the rule is trained on: the job shop itself, or its blocking version."""
    return JobShopVariant(shop, blocking=True, swaps=True) if config.variant == "blocking" else shop


def training_instance(config: TrainingConfig, update: int, slot: int) -> JobShop | JobShopVariant:
    rng = np.random.default_rng([config.seed, update, slot])
    n_jobs, n_machines = config.sizes[rng.integers(len(config.sizes))]
    shop = random_jobshop(n_jobs, n_machines, int(rng.integers(2**31)), name=f"train{update}.{slot}")
    return as_variant(config, shop)


def validation_set(config: TrainingConfig) -> list[JobShop | JobShopVariant]:
    return [as_variant(config, random_jobshop(n, m, VALIDATION_SEED + k * 100 + i, name=f"val{n}x{m}.{i}"))
            for k, (n, m) in enumerate(VALIDATION_SIZES) for i in range(config.validation_per_size)]


def greedy_gap(policy: Policy, problems: list[JobShop | JobShopVariant], non_delay: bool) -> float:
    """Mean of greedy makespan / lower bound - 1 over `problems` (no shutdowns)."""
    gaps = [rollout(problem, policy, non_delay=non_delay)[2] / problem.lower_bound - 1 for problem in problems]
    return float(np.mean(gaps))


def validation_gap(policy: Policy, problems: list[JobShop | JobShopVariant], config: TrainingConfig) -> float:
    """What the weights are chosen by: the greedy gap, or, with `config.validation_samples` = K > 1,
    the mean gap of the best of K rollouts as `pdr-sample:K` makes them (the rule meant for sampling
    is chosen by how it samples)."""
    if config.validation_samples == 1:
        return greedy_gap(policy, problems, config.non_delay)
    gaps = [best_sampled_makespan(problem, policy, config) / problem.lower_bound - 1 for problem in problems]
    return float(np.mean(gaps))


def best_sampled_makespan(problem: JobShop | JobShopVariant, policy: Policy, config: TrainingConfig) -> int:
    """The makespan of `sample_best`'s schedule, as its rollouts report it (any variant)."""
    makespans: list[int] = []
    sample_best(problem, policy, config.validation_samples, non_delay=config.non_delay,
                on_rollout=lambda _, makespan: makespans.append(makespan))
    return min(makespans)


def policy_gradient(policy: Policy, problem: JobShop | JobShopVariant, config: TrainingConfig,
                    rng: np.random.Generator) -> tuple[dict[str, np.ndarray], float]:
    """K sampled rollouts of `problem`, all meeting the same shutdowns (one of `config.shutdowns`,
    if any, drawn with `rng`); the gradient of the objective (REINFORCE: mean over rollouts, the
    best rollout's advantage times `config.leader_weight`; self-labeling: the best rollout's mean
    log-probability) and their mean makespan over the lower bound."""
    if config.objective == "rollout-label":
        return rollout_label_gradient(policy, problem, config, rng)
    shutdowns = None
    if config.shutdowns:
        probability = config.shutdowns[rng.integers(len(config.shutdowns))]
        if probability:
            shutdowns = RandomShutdowns.for_shop(problem.shop, probability, int(rng.integers(2**31)))
    makespans, trajectories = [], []
    for _ in range(config.rollouts):
        _, trajectory, makespan = rollout(problem, policy, temperature=1.0, rng=rng, non_delay=config.non_delay,
                                          record=True, shutdowns=shutdowns)
        makespans.append(makespan)
        trajectories.append(trajectory)
    makespans = np.asarray(makespans, dtype=np.float64)
    if config.objective == "self-label":  # weight 1 on the best rollout, shared over its decisions
        advantages = np.zeros(len(makespans))
        best = int(np.argmin(makespans))
        advantages[best] = 1.0 / max(len(trajectories[best].chosen), 1)
    else:
        advantages = (makespans.mean() - makespans) / problem.lower_bound / config.rollouts
        # > 1: aim at the best of K, not the mean (of rollouts tied for the best, the first leads)
        advantages[int(np.argmin(makespans))] *= config.leader_weight
    observations, chosen, weights = [], [], []
    for advantage, trajectory in zip(advantages, trajectories):
        if not trajectory.observations or advantage == 0:
            continue
        observations += trajectory.observations
        chosen += trajectory.chosen
        weights.append(np.full(len(trajectory.chosen), advantage))
    if not observations:
        return zero_gradient(policy), float(makespans.mean())
    _, grads = log_likelihood(policy, Batch.of(observations, chosen), np.concatenate(weights))
    return grads, float(makespans.mean() / problem.lower_bound)


def rollout_label_gradient(policy: Policy, problem: JobShop, config: TrainingConfig,
                           rng: np.random.Generator) -> tuple[dict[str, np.ndarray], float]:
    """One sampled rollout of `problem`; at `config.labelled_decisions` of its decisions, every
    candidate is dispatched in turn and the schedule completed by the greedy policy, and the
    candidates that lead to the shortest schedule become the label (weighted by how much the
    choice mattered: the spread of those makespans over the lower bound). One step of policy
    iteration by rollouts: each decision gets its own signal, not a share of the whole schedule's."""
    sim = DispatchSimulator(problem, config.non_delay)
    scales = FeatureScales(sim)
    targets = sorted(rng.choice(problem.n_operations, size=min(config.labelled_decisions, problem.n_operations),
                                replace=False).tolist())
    observations, chosen, weights = [], [], []

    def label(jobs: np.ndarray, observation: Observation) -> None:
        if not targets or targets[0] > sim.scheduled:
            return
        while targets and targets[0] <= sim.scheduled:
            targets.pop(0)
        makespans = np.array([completed_makespan(sim, int(job), policy, scales) for job in jobs], dtype=np.float64)
        best = np.flatnonzero(makespans == makespans.min())
        if len(best) == len(jobs):  # every choice leads to the same schedule length: nothing to learn
            return
        for row in best:  # ties share the weight
            observations.append(observation)
            chosen.append(int(row))
            weights.append((makespans.max() - makespans.min()) / problem.lower_bound / len(best))

    run_policy(sim, policy, scales, temperature=1.0, rng=rng, on_decision=label)
    if not observations:
        return zero_gradient(policy), sim.makespan / problem.lower_bound
    _, grads = log_likelihood(policy, Batch.of(observations, chosen), np.asarray(weights) / config.labelled_decisions)
    return grads, sim.makespan / problem.lower_bound


def zero_gradient(policy: Policy) -> dict[str, np.ndarray]:
    return {name: np.zeros_like(value) for name, value in policy.params.items()}


def completed_makespan(sim: DispatchSimulator, job: int, policy: Policy, scales: FeatureScales) -> int:
    """The makespan when `job` is dispatched now and the greedy policy makes every later decision."""
    trial = sim.copy()
    trial.step(job)
    run_policy(trial, policy, scales)
    return trial.makespan


def save_checkpoint(path: Path, config: TrainingConfig, state: TrainingState) -> None:
    """Write atomically (a temporary file renamed over the old one): a kill never leaves half a file."""
    arrays = {f"param_{k}": v for k, v in state.policy.params.items()}
    arrays.update({f"first_{k}": v for k, v in state.adam.first.items()})
    arrays.update({f"second_{k}": v for k, v in state.adam.second.items()})
    if state.best_params is not None:
        arrays.update({f"best_{k}": v for k, v in state.best_params.items()})
    if state.averaged is not None:
        arrays.update({f"average_{k}": v for k, v in state.averaged.items()})
    header = {"config": dataclasses.asdict(config), "update": state.update, "adam_steps": state.adam.steps,
              "best_gap": state.best_gap, "curve": state.curve, "seconds": state.seconds}
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez(temporary, header=np.array(json.dumps(header)), **arrays)
    temporary.replace(path)


def load_checkpoint(path: Path, config: TrainingConfig) -> TrainingState:
    try:
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(str(stored["header"]))
            arrays = {name: stored[name] for name in stored.files if name != "header"}
    except (OSError, KeyError, ValueError) as error:
        raise InputError(f"{path}: not a training checkpoint ({error}); delete it to start afresh") from None
    saved = header["config"]
    saved["sizes"] = tuple(tuple(size) for size in saved["sizes"])
    saved["shutdowns"] = tuple(saved.get("shutdowns", ()))
    saved.setdefault("variant", "classic")  # checkpoints from before the blocking variant
    saved.setdefault("objective", "reinforce")  # and from before self-labeling
    saved.setdefault("feature_set", "standard")  # and from before named feature sets
    saved.setdefault("labelled_decisions", 8)  # and from before rollout labels
    saved.setdefault("network", "pooled")  # and from before the attention network
    saved.setdefault("averaging", 0.0)  # and from before weight averaging
    saved.setdefault("leader_weight", 1.0)  # and from before leader weights
    saved.setdefault("validation_samples", 1)  # and from before sampled validation
    if saved != dataclasses.asdict(config) | {"sizes": config.sizes, "shutdowns": config.shutdowns}:
        raise InputError(f"{path}: a checkpoint of another training configuration ({saved}); "
                         f"use another --out or delete it")

    def group(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    adam = Adam(config.learning_rate, group("first_"), group("second_"), header["adam_steps"])
    policy = Policy(group("param_"), features_for(config.variant, config.feature_set), network=config.network)
    return TrainingState(policy, adam, header["update"], group("best_") or None, header["best_gap"], header["curve"],
                         header["seconds"], group("average_") or None)


def train(
    config: TrainingConfig,
    *,
    updates: int,
    minutes: float | None = None,
    checkpoint: Path | None = None,
    on_progress: Callable[[TrainingState], None] | None = None,
    processes: int = 1,
) -> TrainingState:
    """Train until `updates` updates are done or `minutes` of training have passed (counting
    earlier sessions resumed from `checkpoint`, which is written at every validation). The best
    weights are chosen among validations, which fall every `validate_every` updates and once more
    where training stops, so a run cut short by the clock keeps the better of its latest and its
    earlier weights (the initial ones included), and its checkpoint holds the latest, so short runs
    add up. `processes` > 1 computes an update's
    instance gradients side by side; the weights are the same."""
    if checkpoint is not None and checkpoint.exists():
        state = load_checkpoint(checkpoint, config)
    else:
        policy = Policy.initial(config.seed, config.hidden, features_for(config.variant, config.feature_set),
                                config.network)
        state = TrainingState(policy, Adam(config.learning_rate))
    validation = validation_set(config)
    began, seconds_before = time.monotonic(), state.seconds

    def out_of_time() -> bool:
        return minutes is not None and seconds_before + time.monotonic() - began >= 60 * minutes

    def validate() -> None:
        candidate = state.policy if state.averaged is None else dataclasses.replace(state.policy, params=state.averaged)
        gap = validation_gap(candidate, validation, config)
        state.seconds = seconds_before + time.monotonic() - began
        state.curve.append({"update": state.update, "gap": round(gap, 6), "seconds": round(state.seconds, 1)})
        if gap < state.best_gap:
            state.best_gap, state.best_params = gap, {k: v.copy() for k, v in candidate.params.items()}
        if checkpoint is not None:
            save_checkpoint(checkpoint, config, state)

    with one_blas_thread():
        if not state.curve:
            validate()
        with worker_pool(processes) as pool:
            while state.update < updates and not out_of_time():
                grads = zero_gradient(state.policy)
                tasks = [(state.policy, config, state.update, slot) for slot in range(config.instances_per_update)]
                for instance_grads in map_in_order(pool, instance_gradient, tasks):
                    for name, value in instance_grads.items():
                        grads[name] += value / config.instances_per_update
                state.adam.ascend(state.policy.params, grads)
                if config.averaging:
                    average_weights(state, config.averaging)
                state.update += 1
                if state.update % config.validate_every == 0 or state.update == updates:
                    validate()
                if on_progress is not None:
                    state.seconds = seconds_before + time.monotonic() - began
                    on_progress(state)
        if state.curve[-1]["update"] != state.update:  # cut by the clock between validations
            validate()
    return state


def instance_gradient(task: tuple[Policy, TrainingConfig, int, int]) -> dict[str, np.ndarray]:
    """The gradient from one instance of one update (a pure function of the task, so it may run in
    any process)."""
    policy, config, update, slot = task
    rng = np.random.default_rng([config.seed, update, slot, 1])
    return policy_gradient(policy, training_instance(config, update, slot), config, rng)[0]


def average_weights(state: TrainingState, decay: float) -> None:
    """Move the weights' moving average toward the new weights (Polyak averaging: the update-to-update
    swings of the policy cancel out, and it is the average that is validated)."""
    if state.averaged is None:
        state.averaged = {k: v.copy() for k, v in state.policy.params.items()}
        return
    for name, value in state.policy.params.items():
        state.averaged[name] = decay * state.averaged[name] + (1 - decay) * value


def trained_policy(state: TrainingState, metadata: dict) -> Policy:
    """The best validated weights, with their provenance."""
    params = state.best_params if state.best_params is not None else state.policy.params
    return Policy({k: v.copy() for k, v in params.items()}, state.policy.features, metadata, state.policy.network)
