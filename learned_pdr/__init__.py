"""Dispatching: the schedule-building simulator, static priority rules, and the learned rule."""

from cpsched.learned_pdr.learned import learned_dispatch, load_policy
from cpsched.learned_pdr.rules import (
    RULES,
    Dispatched,
    RuleSpec,
    best_dispatch,
    dispatch,
    dispatch_spec,
    dispatch_within,
    parse_rule,
    parse_rule_spec,
)
from cpsched.learned_pdr.simulator import FEATURES, DispatchSimulator

__all__ = ["FEATURES", "RULES", "DispatchSimulator", "Dispatched", "RuleSpec", "best_dispatch", "dispatch",
           "dispatch_spec", "dispatch_within", "learned_dispatch", "load_policy", "parse_rule", "parse_rule_spec"]
