"""An optimizer-offload plan: which optimizer-state subgroups update on the GPU and which on the CPU,
and when each transfer runs, under 2 GB of free GPU memory. Against ZeRO-Offload.

    python examples/offload_plan.py
"""

import cpsched

problem = cpsched.OffloadProblem.from_dict({
    "subgroups": [{"params": 100_000_000, "ready_ms": 10.0 * i} for i in range(8)],
    "hardware": {"h2d_gbps": 50, "d2h_gbps": 50, "cpu_adam_gparams": 1.0, "gpu_adam_gparams": 50,
                 "free_memory_gb": 2.0},
}, name="eight-subgroups")

result = cpsched.solve(problem, time_limit=10)
check = cpsched.evaluate(problem, result.solution)
assert check.feasible and abs(check.objective - result.objective) < 1e-9
zero = cpsched.solve(problem, "zero-offload")
print(f"{problem.name}: update phase {result.objective:.1f} ms ({result.status}); ZeRO-Offload {zero.objective:.1f} ms")
print("where each subgroup updates:", list(result.solution.modes))
