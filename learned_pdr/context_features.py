"""What the attention network reads beyond the candidates: every unfinished job, and each
(candidate, job) pair.

Scaled like the candidate features (times in mean operation durations, work in mean job or
machine work), so they mean the same on 10 x 10 and 100 x 20. Times are measured from the
decision's earliest candidate start and clipped to +-10 durations: what happens further away
does not change this decision, and clipping keeps a long instance's values in the range a short
one trained on.
"""

from __future__ import annotations

import numpy as np

from cpsched.learned_pdr.blocking_simulator import BlockingSimulator
from cpsched.learned_pdr.features import FeatureScales
from cpsched.learned_pdr.simulator import DispatchSimulator

HORIZON = 10.0  # in mean operation durations

CONTEXT_FEATURES = (
    "duration",  # of the job's next operation
    "remaining_work",  # of the job, in mean job work
    "remaining_operations",  # of the job, over the most operations any job has
    "arrival",  # its next operation's earliest start, after the decision's earliest candidate start
    "on_decision_machine",  # 1 when its next operation is on the machine being decided
    "is_candidate",  # 1 when it is one of the candidates
    "machine_remaining_work",  # unscheduled work on its next operation's machine, in mean machine work
    "slack",  # how far its own bound lies below the largest job bound, in mean job work
)
PAIR_FEATURES = (
    "same_job",  # 1 for the candidate's own job
    "competes_next",  # the job's next operation is on the machine the candidate goes to next
    "arrival_after_end",  # the job's earliest start after the candidate's end, in mean durations
)


def context_observation(sim: DispatchSimulator | BlockingSimulator, jobs: np.ndarray,
                        scales: FeatureScales) -> tuple[np.ndarray, np.ndarray]:
    """(context: one row per unfinished job, pairs: candidates x unfinished jobs x PAIR_FEATURES)."""
    unfinished = np.flatnonzero(sim.candidate_machine >= 0)
    machine = sim.candidate_machine[unfinished]
    earliest = sim.earliest[unfinished]
    remaining_work = sim.remaining_work[unfinished]
    decision_start = sim.earliest[jobs].min()
    own_bound = earliest + remaining_work
    is_candidate = np.zeros(len(sim.candidate_machine), dtype=bool)
    is_candidate[jobs] = True
    context = np.column_stack([
        sim.candidate_duration[unfinished] / scales.duration,
        remaining_work / scales.job_work,
        (sim.job_end[unfinished] - sim.next_op[unfinished]) / scales.operations,
        np.clip((earliest - decision_start) / scales.duration, -HORIZON, HORIZON),
        machine == sim.candidate_machine[jobs[0]],
        is_candidate[unfinished],
        sim.machine_remaining_work[machine] / scales.machine_work,
        (own_bound.max() - own_bound) / scales.job_work,
    ]).astype(np.float64)
    following = scales.next_machine[sim.next_op[jobs]]
    end = sim.earliest[jobs] + sim.candidate_duration[jobs]
    same_job = jobs[:, None] == unfinished[None, :]
    competes = (machine[None, :] == following[:, None]) & (following[:, None] >= 0) & ~same_job
    after_end = np.clip((earliest[None, :] - end[:, None]) / scales.duration, -HORIZON, HORIZON)
    pairs = np.stack([same_job, competes, after_end], axis=-1).astype(np.float64)
    return context, pairs
