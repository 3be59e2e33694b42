"""Shared fixtures: small instances with known optima."""

import pytest

from cpsched.instances import JobShop, load


@pytest.fixture
def ft06() -> JobShop:
    return load("ft06")


@pytest.fixture
def tiny() -> JobShop:
    """Two jobs, two machines; optimum 7 (job 1's 4-long first op runs while job 0's 3-long op does)."""
    return JobShop.from_jobs("tiny", 2, [[(0, 3), (1, 2)], [(1, 4), (0, 3)]])
