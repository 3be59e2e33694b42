"""A job shop from plain Python data: three jobs of 3, 3 and 2 operations, solved and checked.

    python examples/jobshop_from_lists.py
"""

import cpsched

# Each job: (machine, duration) pairs in processing order; jobs may skip machines.
shop = cpsched.JobShop.from_lists([
    [(0, 3), (1, 2), (2, 2)],
    [(0, 2), (2, 1), (1, 4)],
    [(1, 4), (2, 3)],
], name="three-jobs")

result = cpsched.solve(shop, time_limit=10)
check = cpsched.evaluate(shop, result.solution)  # the independent check, never the model's word
assert check.feasible and check.objective == result.objective
print(f"{shop.name}: makespan {result.objective} ({result.status}), method {result.method}")
for job in range(shop.n_jobs):
    first, last = shop.job_starts[job], shop.job_starts[job + 1]
    print(f"  job {job} starts at {result.solution.starts[first:last].tolist()}")

# A Result round-trips through JSON, its solution included.
again = cpsched.Result.from_json(result.to_json())
assert again.status == result.status and again.solution.starts.tolist() == result.solution.starts.tolist()
