"""cpsched: constraint-programming scheduling on OR-Tools CP-SAT."""

from pathlib import Path

# An installed cpsched holds instances/, cpmodels/, solvers/ and learned_pdr/ inside this folder; a
# checkout keeps them beside it (pyproject.toml's package-dir maps each to cpsched.<folder>). Looking
# there too lets `python -m benchmarks...` and the tests run from a checkout as they do installed.
_CHECKOUT = Path(__file__).resolve().parent.parent
if not (Path(__file__).parent / "instances").is_dir() and (_CHECKOUT / "instances" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))
