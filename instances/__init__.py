"""Problem data: instances, readers and writers, generators and independent checkers."""

from cpsched.instances.catalog import BestKnown, best_known, bundled_names, family_of, load
from cpsched.instances.errors import InputError
from cpsched.instances.jobshop.problem import Evaluation, JobShop, Schedule, evaluate

__all__ = [
    "BestKnown",
    "Evaluation",
    "InputError",
    "JobShop",
    "Schedule",
    "best_known",
    "bundled_names",
    "evaluate",
    "family_of",
    "load",
]
