"""MoE expert placement: the CP-SAT planner, baselines, local search and the CLI command."""
