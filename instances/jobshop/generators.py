"""Instance generators: Taillard's and Demirkol's exact ones (they regenerate the published
benchmarks from their seeds), and a seeded uniform generator for any n x m."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np

from cpsched.instances.jobshop.problem import JobShop

_M = 2147483647  # 2^31 - 1, the Park-Miller modulus


class _TaillardRandom:
    """Park-Miller 'minimal standard' generator with Schrage's method, as Taillard (1993) gives it."""

    def __init__(self, seed: int):
        self.seed = seed

    def uniform(self, low: int, high: int) -> int:
        k = self.seed // 127773
        self.seed = 16807 * (self.seed % 127773) - k * 2836
        if self.seed < 0:
            self.seed += _M
        return low + int((self.seed / _M) * (high - low + 1))


def taillard(n_jobs: int, n_machines: int, time_seed: int, machine_seed: int, name: str = "") -> JobShop:
    """Taillard's generator: durations in [1, 99], machine orders by a seeded shuffle."""
    times = _TaillardRandom(time_seed)
    durations = [[times.uniform(1, 99) for _ in range(n_machines)] for _ in range(n_jobs)]
    shuffle = _TaillardRandom(machine_seed)
    machines = [list(range(n_machines)) for _ in range(n_jobs)]
    for row in machines:
        for j in range(n_machines):
            k = shuffle.uniform(j, n_machines - 1)
            row[j], row[k] = row[k], row[j]
    name = name or f"taillard_{n_jobs}x{n_machines}_{time_seed}_{machine_seed}"
    return JobShop.from_matrices(name, np.array(machines), np.array(durations))


def demirkol(n_jobs: int, n_machines: int, seed: int, two_sets: bool, name: str = "") -> JobShop:
    """Demirkol, Mehta & Uzsoy's generator: rcmax (random routes) or cscmax (two machine sets)."""

    def draw() -> np.float32:
        nonlocal seed
        seed = (16807 * seed) % _M
        return np.float32(seed) / np.float32(2**31)

    machines, durations = [], []
    half = n_machines // 2
    first_seed = seed
    for _ in range(n_jobs):
        keys = [draw() for _ in range(n_machines)]
        if two_sets:
            route = sorted(range(half), key=lambda m: keys[m])
            route += sorted(range(half, n_machines), key=lambda m: keys[m])
        else:
            route = sorted(range(n_machines), key=lambda m: keys[m])
        machines.append(route)
        durations.append([1 + int(float(draw()) * 200) for _ in route])
    kind = "cscmax" if two_sets else "rcmax"
    name = name or f"{kind}_{n_jobs}x{n_machines}_{first_seed}"
    return JobShop.from_matrices(name, np.array(machines), np.array(durations))


@cache
def _seeds() -> dict:
    return json.loads((resources.files("cpsched.instances") / "data" / "jssp" / "seeds.json").read_text())


def regenerate(name: str) -> JobShop:
    """Regenerate a Taillard (ta01-80) or DMU (dmu01-80) benchmark from its published seeds."""
    seeds = _seeds()
    if name in seeds["taillard"]:
        s = seeds["taillard"][name]
        return taillard(s["jobs"], s["machines"], s["time_seed"], s["machine_seed"], name)
    if name in seeds["demirkol"]:
        s = seeds["demirkol"][name]
        return demirkol(s["jobs"], s["machines"], s["seed"], int(name[3:]) > 40, name)
    raise KeyError(f"no seeds known for '{name}'")


def seeded_instance(n_jobs: int, n_machines: int, seed: int, name: str = "") -> JobShop:
    """A Taillard-style instance of any size from one seed: what `cpsched generate` writes and the
    large benchmark solves. Taillard's two seeds are drawn from `seed` by numpy's SeedSequence:
    nearby seeds of his multiplicative generator give correlated streams (seeds 1 and 2 tie machine
    to duration and load one machine 45% above the rest)."""
    time_seed, machine_seed = (np.random.SeedSequence(seed).generate_state(2) % (2**31 - 2) + 1).tolist()
    return taillard(n_jobs, n_machines, time_seed, machine_seed, name=name or f"gen{n_jobs}x{n_machines}s{seed}")


def random_jobshop(
    n_jobs: int, n_machines: int, seed: int, low: int = 1, high: int = 99, name: str = ""
) -> JobShop:
    """A uniform random instance: each job visits every machine once in a random order."""
    rng = np.random.default_rng(seed)
    machines = np.argsort(rng.random((n_jobs, n_machines)), axis=1)
    durations = rng.integers(low, high + 1, size=(n_jobs, n_machines))
    return JobShop.from_matrices(name or f"random_{n_jobs}x{n_machines}_s{seed}", machines, durations)
