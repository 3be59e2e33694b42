"""Dispatching: the schedule-building simulator, static priority rules, and (later) the learned rule."""

from learned_pdr.dispatch import RULES, dispatch

__all__ = ["RULES", "dispatch"]
