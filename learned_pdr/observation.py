"""What a policy sees at a decision, and many decisions stacked for one pass of training.

A decision always has its candidates' feature rows. The attention network also reads every
unfinished job (`context`) and a few numbers for each (candidate, job) pair (`pairs`). Training
stacks thousands of decisions of different sizes into flat arrays with segment offsets, so one
matrix product serves them all and no Python loop runs per decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Observation:
    """One decision: `candidates` (C x F); for the attention network also `context` (J x G, every
    unfinished job) and `pairs` (C x J x P)."""

    candidates: np.ndarray
    context: np.ndarray | None = None
    pairs: np.ndarray | None = None


def segment_starts(counts: np.ndarray) -> np.ndarray:
    """Where each of consecutive segments of `counts` rows begins."""
    return np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)


def segment_counts(starts: np.ndarray, total: int) -> np.ndarray:
    """How many of `total` rows each segment beginning at `starts` holds (the inverse of `segment_starts`)."""
    return np.diff(np.append(starts, total))


@dataclass
class Batch:
    """Decisions stacked: candidate rows with `starts` (one per decision) and the `chosen` row of
    each. With context, the context rows (`context_starts`), and for attention a padded layout:
    decision d's candidates and context rows sit at positions 0.. of a (decisions x most
    candidates x most context rows) block, `pairs` holds the pair features there, and
    `context_mask` marks the real context positions. Padding to the largest decision costs little
    (one instance's decisions are alike in size) and turns attention into batched matrix products."""

    candidates: np.ndarray
    starts: np.ndarray
    chosen: np.ndarray
    context: np.ndarray | None = None
    context_starts: np.ndarray | None = None
    pairs: np.ndarray | None = None
    context_mask: np.ndarray | None = None
    row_decision: np.ndarray | None = None
    row_position: np.ndarray | None = None
    context_decision: np.ndarray | None = None
    context_position: np.ndarray | None = None

    @classmethod
    def of(cls, observations: Sequence[Observation], chosen: Sequence[int]) -> Batch:
        """Stack `observations`; `chosen[d]` is the candidate picked at decision d (0-based within it)."""
        counts = np.array([len(o.candidates) for o in observations], dtype=np.int64)
        starts = segment_starts(counts)
        batch = cls(np.vstack([o.candidates for o in observations]), starts,
                    starts + np.asarray(chosen, dtype=np.int64))
        if observations[0].context is None:
            return batch
        context_counts = np.array([len(o.context) for o in observations], dtype=np.int64)
        decisions = np.arange(len(observations))
        batch.context = np.vstack([o.context for o in observations])
        batch.context_starts = segment_starts(context_counts)
        batch.row_decision, batch.row_position = np.repeat(decisions, counts), positions_within(counts)
        batch.context_decision = np.repeat(decisions, context_counts)
        batch.context_position = positions_within(context_counts)
        pair_features = observations[0].pairs.shape[-1]
        batch.pairs = np.zeros((len(observations), counts.max(), context_counts.max(), pair_features))
        for d, observation in enumerate(observations):
            batch.pairs[d, :counts[d], :context_counts[d]] = observation.pairs
        batch.context_mask = np.zeros((len(observations), context_counts.max()), dtype=bool)
        batch.context_mask[batch.context_decision, batch.context_position] = True
        return batch

    @property
    def decisions(self) -> int:
        return len(self.starts)


def positions_within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., counts[0] - 1, 0, 1, ..., counts[1] - 1, ... as one array."""
    return np.arange(int(counts.sum())) - np.repeat(segment_starts(counts), counts)
