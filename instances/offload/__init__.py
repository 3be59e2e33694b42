"""Optimizer offload: the problem and its profiles."""
