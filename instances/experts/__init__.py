"""MoE expert placement: the problem, synthetic loads, the independent check."""
