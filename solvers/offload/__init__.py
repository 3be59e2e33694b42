"""Optimizer offload: the CP-SAT planner, baselines and the CLI command."""
