"""Checks of single values read from a user's file, with messages that say what is wrong."""

from __future__ import annotations

import math

from cpsched.instances.errors import InputError

LARGEST = 2**53  # beyond this, durations and times are surely a mistake (and overflow CP-SAT)


def integer(value: object, what: str, source: str | None = None, line: int | None = None,
            minimum: int | None = None) -> int:
    """An integer from a text token or a JSON number, else an InputError naming `what`."""
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            raise InputError(f"{what} '{value}' is not an integer", source=source, line=line) from None
    elif (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise InputError(f"{what} {value!r} is not an integer", source=source, line=line)
    else:
        number = int(value)
    if minimum is not None and number < minimum:
        raise InputError(f"{what} {number} is below {minimum}", source=source, line=line)
    if abs(number) > LARGEST:
        raise InputError(f"{what} {number} is too large (at most 2^53)", source=source, line=line)
    return number


def number(value: object, what: str, source: str | None = None, minimum: float | None = None) -> float:
    """A finite JSON number (not a boolean, not a string), at least `minimum` when given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{what} must be a number, got {value!r}", source=source)
    if minimum is not None and value < minimum:
        raise InputError(f"{what} is {value}, it must not be below {minimum:g}", source=source)
    return float(value)
