"""The compiled inner loop of the tabu search (numba): one move costs microseconds, not milliseconds.

Measured in pure Python the search ran 4,000-6,000 moves a second on 30 x 20 and 50 x 20 instances
and stalled far from the best known makespans; compiled, the same moves run tens of times faster.
All state lives in flat integer arrays so that the search can stop every few thousand moves (for
the deadline, Ctrl-C and progress) and carry on where it stopped.

The graph: `job_prev/next` and `machine_prev/next` link every operation to its neighbours (-1:
none). `order` is a topological order and `position` its inverse; `head` is the longest path to an
operation's start, `tail` from its end. A swap of machine neighbours u -> v breaks the order only
between their positions (Pearce & Kelly); heads then change only from the lower position on and
tails only up to the higher one, so each move sweeps about the graph once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Indices into the `state` array that carries the search between calls.
(ITERATION, SINCE_BEST, SINCE_IMPROVEMENT, MAKESPAN, BEST, RNG, TENURE_LOW, TENURE_HIGH, PATIENCE, SHAKES_LOW,
 SHAKES_HIGH, DONE) = range(12)
STATE_SIZE = 12
DONE_OPTIMAL = 1  # the critical path is a single block, or the lower bound is reached


def new_tabu_list(tenure_high: int) -> np.ndarray:
    """The arcs (u, v) swapped lately and the iteration until which re-creating them is tabu: a
    ring of one entry per iteration, as long as the longest tenure (older entries have expired)."""
    return np.full((tenure_high + 1, 3), -1, np.int64)


@njit(cache=True)
def _tabu_until(tabu, u, v):
    """Until which iteration re-creating the arc u -> v is tabu (-1: it is not)."""
    until = -1
    for k in range(tabu.shape[0]):
        if tabu[k, 0] == u and tabu[k, 1] == v and tabu[k, 2] > until:
            until = tabu[k, 2]
    return until


@njit(cache=True)
def _random(state, bound):
    """xorshift64 in state[RNG]: an integer in [0, bound), the same on every platform."""
    x = np.uint64(state[RNG])
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    state[RNG] = np.int64(x & np.uint64(0x7FFFFFFFFFFFFFFF))
    return np.int64(x % np.uint64(bound))


@njit(cache=True)
def topological_order(job_prev, job_next, machine_prev, machine_next, order, position):
    """Kahn's algorithm into `order`/`position`; False if the machine orders contain a cycle."""
    n = job_prev.shape[0]
    indegree = np.zeros(n, np.int64)
    stack = np.empty(n, np.int64)
    top = 0
    for o in range(n):
        indegree[o] = (job_prev[o] >= 0) + (machine_prev[o] >= 0)
        if indegree[o] == 0:
            stack[top] = o
            top += 1
    count = 0
    while top > 0:
        top -= 1
        o = stack[top]
        order[count] = o
        position[o] = count
        count += 1
        s = job_next[o]
        if s >= 0:
            indegree[s] -= 1
            if indegree[s] == 0:
                stack[top] = s
                top += 1
        s = machine_next[o]
        if s >= 0:
            indegree[s] -= 1
            if indegree[s] == 0:
                stack[top] = s
                top += 1
    return count == n


@njit(cache=True)
def _sweep(order, first, stop, step, duration, job_link, machine_link, out):
    """out[o] = max over o's two linked neighbours k of out[k] + duration[k], for the operations at
    positions first, first + step, ... (not stop) of the order: heads along predecessors going
    forward, tails along successors going backward."""
    for index in range(first, stop, step):
        o = order[index]
        best = 0
        k = job_link[o]
        if k >= 0:
            best = out[k] + duration[k]
        k = machine_link[o]
        if k >= 0 and out[k] + duration[k] > best:
            best = out[k] + duration[k]
        out[o] = best


@njit(cache=True)
def sweep_heads(order, first, duration, job_prev, machine_prev, head):
    """Heads of the operations at positions first.. of the topological order."""
    _sweep(order, first, order.shape[0], 1, duration, job_prev, machine_prev, head)


@njit(cache=True)
def sweep_tails(order, last, duration, job_next, machine_next, tail):
    """Tails of the operations at positions ..last of the topological order."""
    _sweep(order, last, -1, -1, duration, job_next, machine_next, tail)


@njit(cache=True)
def _reorder(u, v, job_next, machine_next, job_prev, machine_prev, order, position, mark, stamp, buffer):
    """Restore the topological order after the new arc v -> u (u was before v): inside the
    positions [low, high], what reaches v moves before what u reaches (Pearce & Kelly)."""
    low, high = position[u], position[v]
    buffer[0] = u  # buffer[0:forward]: what u reaches; then what reaches v
    forward = 1
    mark[u] = stamp
    scan = 0
    while scan < forward:
        o = buffer[scan]
        scan += 1
        s = job_next[o]
        if s >= 0 and mark[s] != stamp and position[s] <= high:
            mark[s] = stamp
            buffer[forward] = s
            forward += 1
        s = machine_next[o]
        if s >= 0 and mark[s] != stamp and position[s] <= high:
            mark[s] = stamp
            buffer[forward] = s
            forward += 1
    backward_start = forward
    end = forward
    buffer[end] = v
    end += 1
    mark[v] = stamp + 1
    scan = backward_start
    while scan < end:
        o = buffer[scan]
        scan += 1
        p = job_prev[o]
        if p >= 0 and mark[p] != stamp + 1 and position[p] >= low:
            mark[p] = stamp + 1
            buffer[end] = p
            end += 1
        p = machine_prev[o]
        if p >= 0 and mark[p] != stamp + 1 and position[p] >= low:
            mark[p] = stamp + 1
            buffer[end] = p
            end += 1
    # The marked operations keep their slots; those reaching v take the first ones, in order.
    count = 0
    for wanted in (stamp + 1, stamp):
        for index in range(low, high + 1):
            if mark[order[index]] == wanted:
                buffer[count] = order[index]
                count += 1
    count = 0
    for index in range(low, high + 1):
        if mark[order[index]] == stamp or mark[order[index]] == stamp + 1:
            order[index] = buffer[count]
            position[buffer[count]] = index
            count += 1
    return low, high


@njit(cache=True)
def swap_and_update(u, v, duration, job_prev, job_next, machine_prev, machine_next, order, position, head, tail,
                    mark, stamp, buffer):
    """Swap machine neighbours u -> v into v -> u; bring order, heads and tails up to date."""
    before, after = machine_prev[u], machine_next[v]
    if before >= 0:
        machine_next[before] = v
    if after >= 0:
        machine_prev[after] = u
    machine_prev[v], machine_next[v] = before, u
    machine_prev[u], machine_next[u] = v, after
    low, high = _reorder(u, v, job_next, machine_next, job_prev, machine_prev, order, position, mark, stamp, buffer)
    sweep_heads(order, low, duration, job_prev, machine_prev, head)
    sweep_tails(order, high, duration, job_next, machine_next, tail)


@njit(cache=True)
def makespan_of(head, duration, sinks):
    best = 0
    for o in sinks:
        if head[o] + duration[o] > best:
            best = head[o] + duration[o]
    return best


@njit(cache=True)
def critical_moves(duration, job_prev, job_next, machine_prev, head, makespan, sinks, state, path, moves):
    """N5 moves (u, v) along one critical path, written into `moves` (k x 2); returns k. The path
    is traced back from a job's last operation ending at the makespan through predecessors that
    end exactly when it starts, choosing at random where several do."""
    ends = 0
    for o in sinks:
        if head[o] + duration[o] == makespan:
            ends += 1
    if ends == 0:
        return 0
    pick = _random(state, ends)
    o = -1
    for s in sinks:
        if head[s] + duration[s] == makespan:
            if pick == 0:
                o = s
                break
            pick -= 1
    length = 0
    while True:
        path[length] = o
        length += 1
        j, m = job_prev[o], machine_prev[o]
        j_tight = j >= 0 and head[j] + duration[j] == head[o]
        m_tight = m >= 0 and head[m] + duration[m] == head[o]
        if j_tight and m_tight:
            o = j if _random(state, 2) == 0 else m
        elif j_tight:
            o = j
        elif m_tight:
            o = m
        else:
            break
    # path[length-1] is the first operation; walk it forward, splitting into machine blocks.
    count = 0
    first_block = True
    index = length - 1
    while index >= 0:
        end = index
        while end > 0 and machine_prev[path[end - 1]] == path[end]:
            end -= 1
        # block: path[index] (first) .. path[end] (last), going backwards in the array
        size = index - end + 1
        last_block = end == 0
        if size >= 2:
            if not first_block:
                moves[count, 0], moves[count, 1] = path[index], path[index - 1]
                count += 1
            if not last_block and (first_block or size > 2):
                moves[count, 0], moves[count, 1] = path[end + 1], path[end]
                count += 1
        first_block = False
        index = end - 1
    kept = 0
    for k in range(count):
        if job_next[moves[k, 0]] != moves[k, 1]:
            moves[kept, 0], moves[kept, 1] = moves[k, 0], moves[k, 1]
            kept += 1
    return kept


@njit(cache=True)
def estimate(duration, job_prev, job_next, machine_prev, machine_next, head, tail, u, v):
    """Taillard's estimate of the longest path through u and v after swapping them. Written out
    (heads and tails mirror each other): a shared helper for the max over two neighbours, tried,
    made the search 7 times slower (63,000 against 420,000 moves/s on dmu56)."""
    a, b = machine_prev[u], machine_next[v]
    jv, ju = job_prev[v], job_prev[u]
    head_v = 0
    if jv >= 0:
        head_v = head[jv] + duration[jv]
    if a >= 0 and head[a] + duration[a] > head_v:
        head_v = head[a] + duration[a]
    head_u = head_v + duration[v]
    if ju >= 0 and head[ju] + duration[ju] > head_u:
        head_u = head[ju] + duration[ju]
    nu, nv = job_next[u], job_next[v]
    tail_u = 0
    if nu >= 0:
        tail_u = tail[nu] + duration[nu]
    if b >= 0 and tail[b] + duration[b] > tail_u:
        tail_u = tail[b] + duration[b]
    tail_v = tail_u + duration[u]
    if nv >= 0 and tail[nv] + duration[nv] > tail_v:
        tail_v = tail[nv] + duration[nv]
    return max(head_v + duration[v] + tail_v, head_u + duration[u] + tail_u)


@njit(cache=True)
def run(duration, job_prev, job_next, machine_prev, machine_next, sinks, order, position, head, tail,
        best_machine_prev, best_machine_next, best_head, tabu, state, iterations, stall, lower_bound):
    """Run up to `iterations` moves (fewer on a stall of `stall` moves without a new best, or at
    the optimum); all progress is left in the arrays and `state`."""
    n = duration.shape[0]
    mark = np.zeros(n, np.int64)
    buffer = np.empty(2 * n + 2, np.int64)
    path = np.empty(n, np.int64)
    moves = np.empty((n + 2, 2), np.int64)
    stamp = 1
    for _ in range(iterations):
        if state[BEST] <= lower_bound:
            state[DONE] = DONE_OPTIMAL
            return
        if stall > 0 and state[SINCE_IMPROVEMENT] >= stall:
            return
        state[ITERATION] += 1
        iteration = state[ITERATION]
        count = critical_moves(duration, job_prev, job_next, machine_prev, head, state[MAKESPAN], sinks, state,
                               path, moves)
        if count == 0:
            state[DONE] = DONE_OPTIMAL
            return
        chosen, chosen_value = -1, 0
        for k in range(count):
            u, v = moves[k, 0], moves[k, 1]
            value = estimate(duration, job_prev, job_next, machine_prev, machine_next, head, tail, u, v)
            allowed = _tabu_until(tabu, v, u) < iteration or value < state[BEST]
            if allowed and (chosen < 0 or value < chosen_value):
                chosen, chosen_value = k, value
        if chosen < 0:  # every move is tabu: take the one whose tabu ends first
            oldest = 0
            for k in range(count):
                if _tabu_until(tabu, moves[k, 1], moves[k, 0]) < _tabu_until(tabu, moves[oldest, 1], moves[oldest, 0]):
                    oldest = k
            chosen = oldest
        u, v = moves[chosen, 0], moves[chosen, 1]
        swap_and_update(u, v, duration, job_prev, job_next, machine_prev, machine_next, order, position, head,
                        tail, mark, stamp, buffer)
        stamp += 2
        entry = tabu[iteration % tabu.shape[0]]
        entry[0], entry[1] = u, v
        entry[2] = iteration + state[TENURE_LOW] + _random(state, state[TENURE_HIGH] - state[TENURE_LOW] + 1)
        state[MAKESPAN] = makespan_of(head, duration, sinks)
        if state[MAKESPAN] < state[BEST]:
            state[BEST] = state[MAKESPAN]
            state[SINCE_BEST] = 0
            state[SINCE_IMPROVEMENT] = 0
            best_machine_prev[:] = machine_prev
            best_machine_next[:] = machine_next
            best_head[:] = head
            continue
        state[SINCE_BEST] += 1
        state[SINCE_IMPROVEMENT] += 1
        if state[SINCE_BEST] >= state[PATIENCE]:  # go back to the best and shake it up
            machine_prev[:] = best_machine_prev
            machine_next[:] = best_machine_next
            topological_order(job_prev, job_next, machine_prev, machine_next, order, position)
            sweep_heads(order, 0, duration, job_prev, machine_prev, head)
            sweep_tails(order, n - 1, duration, job_next, machine_next, tail)
            shakes = state[SHAKES_LOW] + _random(state, state[SHAKES_HIGH] - state[SHAKES_LOW] + 1)
            for _ in range(shakes):
                makespan = makespan_of(head, duration, sinks)
                count = critical_moves(duration, job_prev, job_next, machine_prev, head, makespan, sinks, state,
                                       path, moves)
                if count > 0:
                    k = _random(state, count)
                    swap_and_update(moves[k, 0], moves[k, 1], duration, job_prev, job_next, machine_prev,
                                    machine_next, order, position, head, tail, mark, stamp, buffer)
                    stamp += 2
            state[MAKESPAN] = makespan_of(head, duration, sinks)
            tabu[:] = -1
            state[SINCE_BEST] = 0
