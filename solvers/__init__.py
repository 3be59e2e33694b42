"""What runs: `solve` and the family registry, the CP-SAT runner, each family's methods, the CLI."""

from cpsched.solvers.family import Family, MethodSpec
from cpsched.solvers.registry import families, family_of, solve
from cpsched.solvers.result import Result, Status

__all__ = ["Family", "MethodSpec", "Result", "Status", "families", "family_of", "solve"]
