"""What runs: the CP-SAT runner, each family's methods, and the command line."""

from cpsched.solvers.methods import METHODS, solve
from cpsched.solvers.result import Result

__all__ = ["METHODS", "Result", "solve"]
