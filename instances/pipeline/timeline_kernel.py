"""The compiled loops of the pipeline simulator (numba): a timeline of a million operations is
simulated in milliseconds, so the baselines' sweeps and the planner's cuts keep their time limit on
any number of microbatches.

Operations are numbered by kind, then index (virtual stage or device), then microbatch: F(s, j) is
s m + j, B(s, j) is S m + s m + j, S(d, j) is 2 S m + d m + j and T(d, j) is 2 S m + p m + d m + j.
What an operation waits for is a list of (operation, lag code): 0 no lag, 1 + s the p2p after
virtual stage s, S + d the transfer between the last stage and device d's shards, and
S + p + e p + d the all-reduce from device e's pass S to device d's pass T.
"""

from __future__ import annotations

import numpy as np
from numba import njit

F, B, S_PASS, T_PASS = range(4)


@njit(cache=True)
def dependencies(stages: int, devices: int, microbatches: int, head: bool) -> tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
    """What every operation waits for, as compressed rows: (pointer, operation, lag code)."""
    S, p, m = stages, devices, microbatches
    count = 2 * S * m + (2 * p * m if head else 0)
    last_device = (S - 1) % p
    pointer = np.zeros(count + 1, np.int64)
    wait = np.empty(count * (p + 1), np.int64)
    lag = np.empty(count * (p + 1), np.int64)
    n = 0
    for op in range(count):
        if op < S * m:  # F(s, j): the forward of the stage before
            s, j = op // m, op % m
            if s > 0:
                wait[n], lag[n] = op - m, (0 if (s - 1) % p == s % p else s)
                n += 1
        elif op < 2 * S * m:  # B(s, j): the backward of the stage after, or the last forward and every T
            s, j = (op - S * m) // m, op % m
            if s < S - 1:
                wait[n], lag[n] = op + m, (0 if s % p == (s + 1) % p else 1 + s)
                n += 1
            else:
                wait[n], lag[n] = s * m + j, 0
                n += 1
                if head:
                    for d in range(p):
                        wait[n], lag[n] = 2 * S * m + p * m + d * m + j, (0 if d == last_device else S + d)
                        n += 1
        elif op < 2 * S * m + p * m:  # S(d, j): the last stage's forward
            d, j = (op - 2 * S * m) // m, op % m
            wait[n], lag[n] = (S - 1) * m + j, (0 if d == last_device else S + d)
            n += 1
        else:  # T(d, j): every device's pass S, then the all-reduce
            d, j = (op - 2 * S * m - p * m) // m, op % m
            for e in range(p):
                wait[n], lag[n] = 2 * S * m + e * m + j, S + p + e * p + d
                n += 1
        pointer[op + 1] = n
    return pointer, wait[:n].copy(), lag[:n].copy()


@njit(cache=True)
def sequence(orders: np.ndarray, order_pointer: np.ndarray, pointer: np.ndarray, wait: np.ndarray,
             count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every operation in an order that runs each device's order and puts each operation after what
    it waits for: (sequence, previous operation on the device or -1, device). The sequence is shorter
    than `count` when the orders deadlock."""
    devices = len(order_pointer) - 1
    done = np.zeros(count, np.bool_)
    position = order_pointer[:-1].copy()
    found = np.empty(count, np.int64)
    previous = np.full(count, -1, np.int64)
    device_of = np.zeros(count, np.int64)
    n = 0
    progressed = True
    while progressed:
        progressed = False
        for d in range(devices):
            while position[d] < order_pointer[d + 1]:
                op = orders[position[d]]
                ready = True
                for k in range(pointer[op], pointer[op + 1]):
                    if not done[wait[k]]:
                        ready = False
                        break
                if not ready:
                    break
                if position[d] > order_pointer[d]:
                    previous[op] = orders[position[d] - 1]
                device_of[op] = d
                found[n] = op
                n += 1
                done[op] = True
                position[d] += 1
                progressed = True
    return found[:n].copy(), previous, device_of


@njit(cache=True)
def simulate_timeline(previous: np.ndarray, device_of: np.ndarray, kind: np.ndarray, index: np.ndarray,
                      pointer: np.ndarray, wait: np.ndarray, lag: np.ndarray, duration: np.ndarray,
                      lag_value: np.ndarray, holds: np.ndarray, devices: int):
    """Every operation as early as its device and its inputs allow, the operations numbered in a
    topological order (the arrays are read front to back, which keeps the loop in cache). A vocabulary pass of a
    device without shards takes no time and is not recorded; what waits on it does not wait. Returns
    (start, length, end, recorded, waited-for operation or -1, its lag code, busy time per device)."""
    count = len(previous)
    start = np.zeros(count, np.int64)
    length = np.zeros(count, np.int64)
    end = np.zeros(count, np.int64)
    recorded = np.zeros(count, np.bool_)
    bound_by = np.full(count, -1, np.int32)
    bound_lag = np.zeros(count, np.int32)
    busy = np.zeros(devices, np.int64)
    for op in range(count):
        before = previous[op]
        at = end[before] if before >= 0 else 0
        bound_by[op] = before
        k_op = kind[op]
        if k_op >= S_PASS and not holds[index[op]]:
            end[op] = at
            continue
        for k in range(pointer[op], pointer[op + 1]):
            dep = wait[k]
            if kind[dep] >= S_PASS and not holds[index[dep]]:
                continue
            ready = end[dep] + lag_value[lag[k]]
            if ready > at:
                at = ready
                bound_by[op] = dep
                bound_lag[op] = lag[k]
        span = duration[k_op, index[op]]
        start[op], length[op], end[op] = at, span, at + span
        recorded[op] = True
        busy[device_of[op]] += span
    return start, length, end, recorded, bound_by, bound_lag, busy


@njit(cache=True)
def path_counts(number: int, bound_by: np.ndarray, bound_lag: np.ndarray, kind: np.ndarray, index: np.ndarray,
                width: int, lag_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """The longest path that ends at operation `number`, walked back through what each operation
    waited for: how often it passes each (kind, index) and each lag code."""
    operations = np.zeros((4, width), np.int64)
    lags = np.zeros(lag_codes, np.int64)
    while number >= 0:
        operations[kind[number], index[number]] += 1
        code = bound_lag[number]
        number = bound_by[number]
        if code:
            lags[code] += 1
    return operations, lags
