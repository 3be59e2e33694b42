"""The family contract: one `Family` record per problem family, read by `solve`, the CLI and `--help`.

A family is its data (`ProblemKind`: problem and solution types, `evaluate`, JSON reader), its
methods and default, the dispatching rules it takes (if any), the solve keywords it accepts beyond
the common ones, how the CLI reports its result, and its own subcommands. Adding a family is one
folder per layer plus one line in `cpsched.instances.families` and `cpsched.solvers.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cpsched.instances.errors import InputError
from cpsched.instances.kind import ProblemKind
from cpsched.learned_pdr import RULES, RuleSpec, parse_rule_spec
from cpsched.learned_pdr.learned import LEARNED, LEARNED_SAMPLED
from cpsched.solvers.cli_errors import EXIT_INTERRUPTED, EXIT_NO_SOLUTION, EXIT_SOLVED
from cpsched.solvers.result import Result, Status

Method = Callable[..., Result]
DISPATCH_PREFIX = "pdr:"  # `pdr:mwkr`, `pdr:spt:active`: one dispatching rule, no search



@dataclass(frozen=True)
class MethodSpec:
    """A method name as a user writes it, parsed once: a registered method (`registered`), or a
    dispatching rule (`rule`: `pdr:spt:active`, `pdr`, `pdr-sample:32`). `label` is what the Result
    reports as its method."""

    label: str
    registered: str | None = None
    rule: RuleSpec | None = None


@dataclass(frozen=True)
class ReportOptions:
    """What the CLI was asked to show and write besides the summary."""

    as_json: bool = False
    emit: str | None = None
    output: str | None = None
    plot: str | None = None

    @property
    def report_to_stderr(self) -> bool:
        """With `--emit`, stdout carries the emitted document alone: the tables and summary go to stderr."""
        return self.emit is not None


@dataclass(frozen=True)
class Family:
    """One problem family's record (see the module docstring)."""

    kind: ProblemKind
    title: str  # plural, for messages: "job shops"
    methods: Mapping[str, Method]
    default_method: str
    method_help: str  # one sentence for `cpsched solve --help`
    report: Callable[[Any, Result, ReportOptions], None]
    dispatch: Method | None = None  # (problem, rule spec, label, time_limit=, seed=, progress=, weights=)
    options: tuple[str, ...] = ()  # solve keywords beyond method, time_limit, workers, seed, progress
    emits: tuple[str, ...] = ()  # the `--emit` formats the report knows
    commands: tuple[Any, ...] = field(default=(), compare=False)  # its own click subcommands

    @property
    def name(self) -> str:
        """The family's name, as its ProblemKind gives it (`jobshop`, `pipeline`, ...)."""
        return self.kind.name

    def method_names(self) -> list[str]:
        """Every method name a user may give, dispatching rules included."""
        names = list(self.methods)
        if self.dispatch is not None:
            names += [LEARNED, f"{LEARNED_SAMPLED}K", *(f"{DISPATCH_PREFIX}{rule}" for rule in RULES)]
        return names

    def parse_method(self, name: str | None) -> MethodSpec:
        """The one parser of method names (the family's default for None); an InputError that lists
        the valid names for anything else. Lets a sweep refuse a typo before it runs anything."""
        if name is None:
            name = self.default_method
        if not isinstance(name, str):
            raise InputError(f"method must be a string, got {type(name).__name__}")
        if name in self.methods:
            return MethodSpec(name, registered=name)
        if self.dispatch is not None:
            spec = name.strip().lower()
            if spec == LEARNED or spec.startswith(LEARNED_SAMPLED):
                rule = parse_rule_spec(spec)
                return MethodSpec(str(rule), rule=rule)
            if spec.startswith(DISPATCH_PREFIX):
                rule = parse_rule_spec(spec[len(DISPATCH_PREFIX):], learned=False)
                return MethodSpec(f"{DISPATCH_PREFIX}{rule}", rule=rule)
        raise InputError(f"unknown method '{name}' for {self.title}; choose one of {', '.join(self.method_names())}")


def exit_code(result: Result) -> int:
    """The exit-code policy of every family: 0 solved, 1 no solution (infeasible or out of time),
    130 interrupted with the best kept (2, bad input, is the CLI's for an InputError)."""
    if result.solution is None or result.status == Status.INFEASIBLE:
        return EXIT_NO_SOLUTION
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOLVED


def baseline_method(family_solve: Callable[..., Result], name: str) -> Method:
    """A named baseline as a method: it keeps the time limit (a sweep stops there) and ignores the
    workers and seed (it is one rule)."""

    def method(problem, time_limit: float = 60.0, **_options):
        return family_solve(problem, name, time_limit=time_limit)

    return method


def planner_family(kind: ProblemKind, title: str, heading: str, solve_cpsat: Method,
                   solve_baseline: Callable[..., Result], baselines: Mapping[str, Any], **record: Any) -> Family:
    """The record of an ML family: CP-SAT by default, or one of its named baselines (`heading` opens
    its sentence of `cpsched solve --help`); `record` holds the rest (report, emits, commands)."""
    return Family(kind=kind, title=title,
                  methods={"cpsat": solve_cpsat, **{name: baseline_method(solve_baseline, name) for name in baselines}},
                  default_method="cpsat",
                  method_help=f"{heading} (default cpsat): cpsat, or one baseline: {', '.join(baselines)}.", **record)
