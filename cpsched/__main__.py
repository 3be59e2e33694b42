"""`python -m cpsched` runs the command line."""

from cpsched.solvers.cli import main

main()
