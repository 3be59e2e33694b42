"""Pipeline-stage placement: the CP-SAT planner, baselines, the report and the CLI command."""
