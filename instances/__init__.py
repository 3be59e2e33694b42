"""Problem data: every family's instances, readers and writers, generators and independent checks.

`load` reads any family's file (or a bundled job shop by name); `evaluate` checks any family's
solution; `KINDS` is the registry of families.
"""

from cpsched.instances.catalog import BestKnown, best_known, bundled_names, family_of, load
from cpsched.instances.errors import InputError
from cpsched.instances.families import KINDS, evaluate, kind_of
from cpsched.instances.jobshop.problem import Evaluation, JobShop, Schedule

__all__ = [
    "KINDS",
    "BestKnown",
    "Evaluation",
    "InputError",
    "JobShop",
    "Schedule",
    "best_known",
    "bundled_names",
    "evaluate",
    "family_of",
    "kind_of",
    "load",
]
