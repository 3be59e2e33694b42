"""An MoE expert layout from a load matrix: 8 experts (one hot), 4 GPUs on 2 nodes, 3 slots per
GPU, so 4 experts get a second replica. Against EPLB, DeepSeek's balancer.

    python examples/experts_from_loads.py
"""

import cpsched

problem = cpsched.ExpertProblem.from_dict({
    "load": [[9000, 1200, 800, 3000, 500, 2500, 700, 2300]],  # tokens per expert, one layer
    "topology": {"nodes": 2, "gpus_per_node": 2, "slots_per_gpu": 3},
}, name="eight-experts")

result = cpsched.solve(problem, time_limit=10)
check = cpsched.evaluate(problem, result.solution)
assert check.feasible and check.objective == result.objective
eplb = cpsched.solve(problem, "eplb")
print(f"{problem.name}: busiest GPU {result.objective:.0f} tokens ({result.status}); EPLB {eplb.objective:.0f}")
print("experts in each GPU's slots:", result.solution.phy2log[0].reshape(4, 3).tolist())
