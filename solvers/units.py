"""Milliseconds for what users read, from the integer ticks (microseconds) the ML models solve in."""

from __future__ import annotations

from cpsched.instances.units import TICKS_PER_MS
from cpsched.solvers.cpsat import Progress, ProgressCallback, Tracker


def ms(ticks: float | None) -> float | None:
    """Ticks in milliseconds (None stays None)."""
    return None if ticks is None else ticks / TICKS_PER_MS


def progress_in_ms(progress: ProgressCallback | None) -> ProgressCallback | None:
    """A callback that hears of the solve in ticks and tells `progress` in milliseconds."""
    if progress is None:
        return None
    return lambda report: progress(Progress(report.elapsed, ms(report.objective), ms(report.bound)))


def trace_in_ms(tracker: Tracker | None) -> list[tuple[float, float | None, float | None]]:
    """The tracker's (seconds, objective, bound) trace with the objective and bound in milliseconds."""
    return [] if tracker is None else [(t, ms(o), ms(b)) for t, o, b in tracker.trace]
