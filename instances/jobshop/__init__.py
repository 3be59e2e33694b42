"""Job shops: the problem, its file formats, variants (blocking, unavailability), generators."""

from cpsched.instances.jobshop.problem import Evaluation, JobShop, Schedule, evaluate
from cpsched.instances.jobshop.variant import JobShopVariant, evaluate_variant
from cpsched.instances.kind import ProblemKind

KIND = ProblemKind("jobshop", JobShop, Schedule, evaluate)
VARIANT_KIND = ProblemKind("jobshop-variant", JobShopVariant, Schedule, evaluate_variant)

__all__ = ["KIND", "VARIANT_KIND", "Evaluation", "JobShop", "JobShopVariant", "Schedule", "evaluate",
           "evaluate_variant"]
