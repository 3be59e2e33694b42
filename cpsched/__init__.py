"""cpsched: constraint-programming scheduling on OR-Tools CP-SAT, for four families of problems.

The front door for planner programs::

    import cpsched

    shop = cpsched.load("ft06")                     # a bundled name or a file of any family
    result = cpsched.solve(shop, time_limit=10)     # the family's default method
    assert cpsched.evaluate(shop, result.solution).feasible

Problems also come from plain Python data: `JobShop.from_lists`, and `PipelineProblem.from_dict`,
`ExpertProblem.from_dict`, `OffloadProblem.from_dict` for the documented JSON. Every solution and
`Result` round-trips through JSON (`to_json` / `from_json`).
"""

from pathlib import Path

# An installed cpsched holds instances/, cpmodels/, solvers/ and learned_pdr/ inside this folder; a
# checkout keeps them beside it (pyproject.toml's package-dir maps each to cpsched.<folder>). Looking
# there too lets `python -m benchmarks...` and the tests run from a checkout as they do installed.
_CHECKOUT = Path(__file__).resolve().parent.parent
if not (Path(__file__).parent / "instances").is_dir() and (_CHECKOUT / "instances" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))

from cpsched.instances import InputError, evaluate, load  # noqa: E402
from cpsched.instances.experts.problem import ExpertEvaluation, ExpertPlacement, ExpertProblem  # noqa: E402
from cpsched.instances.jobshop.problem import Evaluation, JobShop, Schedule  # noqa: E402
from cpsched.instances.jobshop.variant import JobShopVariant  # noqa: E402
from cpsched.instances.offload.problem import OffloadEvaluation, OffloadPlan, OffloadProblem  # noqa: E402
from cpsched.instances.pipeline.problem import PipelineProblem, Placement  # noqa: E402
from cpsched.instances.pipeline.schedule import PipelineEvaluation  # noqa: E402
from cpsched.solvers.family import Family  # noqa: E402
from cpsched.solvers.registry import families, solve  # noqa: E402
from cpsched.solvers.result import Result, Status  # noqa: E402

__all__ = [
    "Evaluation",
    "ExpertEvaluation",
    "ExpertPlacement",
    "ExpertProblem",
    "Family",
    "InputError",
    "JobShop",
    "JobShopVariant",
    "OffloadEvaluation",
    "OffloadPlan",
    "OffloadProblem",
    "PipelineEvaluation",
    "PipelineProblem",
    "Placement",
    "Result",
    "Schedule",
    "Status",
    "evaluate",
    "families",
    "load",
    "solve",
]
