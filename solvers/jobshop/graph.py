"""The disjunctive graph of a job shop schedule, shared by the local searches (tabu, LNS).

A schedule is represented by the order of the operations on each machine; with the job order it
forms a DAG whose longest path is the makespan. Heads (longest path to an operation's start) and
tails (from its end) are two sweeps in topological order. Pure Python over flat lists: list
indexing is several times faster than numpy scalar access in these loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from cpsched.instances.jobshop.problem import JobShop, Schedule


@dataclass
class DisjunctiveGraph:
    """Predecessor/successor of every operation on its job and on its machine (-1: none)."""

    duration: list[int]
    job_prev: list[int]
    job_next: list[int]
    machine_prev: list[int]
    machine_next: list[int]

    @classmethod
    def from_schedule(cls, problem: JobShop, schedule: Schedule) -> DisjunctiveGraph:
        """The machine orders of a feasible schedule. Zero-duration operations hold no machine (as in
        `evaluate`), so they stay off the machine chains and follow their job only."""
        n = problem.n_operations
        ops = np.arange(n)
        job_prev = np.where(problem.is_first, -1, ops - 1)
        job_next = np.where(problem.is_last, -1, ops + 1)
        machine_prev = np.full(n, -1)
        machine_next = np.full(n, -1)
        starts = np.asarray(schedule.starts)
        busy = ops[problem.durations > 0]
        order = busy[np.lexsort((busy, starts[busy], problem.machines[busy]))]
        same = problem.machines[order[1:]] == problem.machines[order[:-1]]
        machine_next[order[:-1][same]] = order[1:][same]
        machine_prev[order[1:][same]] = order[:-1][same]
        return cls(problem.durations.tolist(), job_prev.tolist(), job_next.tolist(),
                   machine_prev.tolist(), machine_next.tolist())

    def topological_order(self) -> list[int]:
        """The operations in an order where every arc goes forward; raises on a cycle."""
        n = len(self.duration)
        job_next, machine_next = self.job_next, self.machine_next
        job_prev, machine_prev = self.job_prev, self.machine_prev
        indegree = [(job_prev[o] >= 0) + (machine_prev[o] >= 0) for o in range(n)]
        stack = [o for o in range(n) if indegree[o] == 0]
        order = []
        append, pop = order.append, stack.pop
        while stack:
            o = pop()
            append(o)
            s = job_next[o]
            if s >= 0:
                indegree[s] -= 1
                if indegree[s] == 0:
                    stack.append(s)
            s = machine_next[o]
            if s >= 0:
                indegree[s] -= 1
                if indegree[s] == 0:
                    stack.append(s)
        if len(order) != n:
            raise RuntimeError("the machine orders contain a cycle")
        return order

    def heads_and_tails(self, order: list[int] | None = None) -> tuple[list[int], list[int]]:
        """Longest path to each operation's start (head) and from its end (tail)."""
        if order is None:
            order = self.topological_order()
        n = len(self.duration)
        head = [0] * n
        self._sweep(order, self.job_prev, self.machine_prev, head)
        tail = [0] * n
        self.fill_tails(order, tail)
        return head, tail

    def fill_tails(self, order: list[int], tail: list[int]) -> None:
        """Write into `tail` the longest path from each operation's end (a reverse sweep of `order`)."""
        self._sweep(reversed(order), self.job_next, self.machine_next, tail)

    def _sweep(self, order, job_link: list[int], machine_link: list[int], out: list[int]) -> None:
        """out[o] = max over o's linked neighbours k of out[k] + duration[k], in `order`: heads
        along predecessors in topological order, tails along successors in reverse."""
        duration = self.duration
        for o in order:
            best = 0
            k = job_link[o]
            if k >= 0:
                best = out[k] + duration[k]
            k = machine_link[o]
            if k >= 0 and out[k] + duration[k] > best:
                best = out[k] + duration[k]
            out[o] = best

    def swap(self, u: int, v: int) -> None:
        """Swap machine neighbours u -> v into v -> u."""
        before, after = self.machine_prev[u], self.machine_next[v]
        if before >= 0:
            self.machine_next[before] = v
        if after >= 0:
            self.machine_prev[after] = u
        self.machine_prev[v], self.machine_next[v] = before, u
        self.machine_prev[u], self.machine_next[u] = v, after

    def chain(self, ops: list[int]) -> None:
        """Link `ops` one after the other on their machine (the caller keeps the ends consistent)."""
        for a, b in pairwise(ops):
            if a >= 0:
                self.machine_next[a] = b
            if b >= 0:
                self.machine_prev[b] = a
