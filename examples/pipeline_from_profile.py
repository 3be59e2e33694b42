"""A pipeline-stage plan from a model profile: which layers each of 4 stages runs, and whether to
recompute, against Megatron's uniform split.

    python examples/pipeline_from_profile.py
"""

import cpsched
from cpsched.instances.pipeline.profiles import ProfileOptions, model_shape, profile_problem

# The same problem `cpsched pipeline-profile llama3-8b --stages 4` writes, built in Python.
problem = profile_problem(model_shape("llama3-8b"), ProfileOptions(seq=4096, stages=4, gpu="h100"))

result = cpsched.solve(problem, time_limit=20)
check = cpsched.evaluate(problem, result.solution)
assert check.feasible and abs(check.objective - result.objective) < 1e-9
uniform = cpsched.solve(problem, "megatron-uniform")
print(f"{problem.name}: {result.objective:.1f} ms per iteration ({result.status}); "
      f"Megatron's uniform split {uniform.objective:.1f} ms")
print("layers per stage:", result.solution.counts(problem))
