import numpy as np
import pytest

from cpsched.instances import load
from cpsched.instances.jobshop.generators import random_jobshop, regenerate, taillard


def test_taillard_self_test_from_or_library():
    problem = taillard(4, 4, 1166510396, 164000672)
    rows = [[(m + 1, d) for m, d in problem.job(j)] for j in range(4)]
    assert rows == [
        [(3, 54), (1, 34), (4, 61), (2, 2)],
        [(4, 9), (1, 15), (2, 89), (3, 70)],
        [(1, 38), (2, 19), (3, 28), (4, 87)],
        [(1, 95), (3, 34), (2, 7), (4, 29)],
    ]


@pytest.mark.parametrize("family, count", [("ta", 80), ("dmu", 80)])
def test_seeds_regenerate_every_published_instance_exactly(family, count):
    for k in range(1, count + 1):
        name = f"{family}{k:02d}"
        published, generated = load(name), regenerate(name)
        assert np.array_equal(published.machines, generated.machines), name
        assert np.array_equal(published.durations, generated.durations), name


def test_random_generator_is_seeded_and_classic():
    a, b = random_jobshop(8, 5, seed=3), random_jobshop(8, 5, seed=3)
    assert np.array_equal(a.durations, b.durations) and np.array_equal(a.machines, b.machines)
    assert not np.array_equal(a.durations, random_jobshop(8, 5, seed=4).durations)
    for j in range(a.n_jobs):
        assert sorted(m for m, _ in a.job(j)) == list(range(5))
    assert a.durations.min() >= 1 and a.durations.max() <= 99
