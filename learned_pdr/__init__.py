"""Dispatching: the schedule-building simulator, static priority rules, and (later) the learned rule."""

from learned_pdr.rules import RULES, best_dispatch, dispatch, dispatch_spec, parse_rule
from learned_pdr.simulator import FEATURES, DispatchSimulator

__all__ = ["FEATURES", "RULES", "DispatchSimulator", "best_dispatch", "dispatch", "dispatch_spec", "parse_rule"]
