"""How every cpsched command reports a user's mistake: one line on stderr, exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import click

from cpsched.instances.errors import InputError

EXIT_BAD_INPUT = 2


def write_text(path: str | Path, text: str) -> None:
    """Write a file a user asked for; a failure is their mistake to fix (a path, a permission)."""
    try:
        Path(path).write_text(text)
    except OSError as error:
        raise InputError(f"cannot write: {error.strerror}", source=str(path)) from None


def reports_input_errors(command: Callable) -> Callable:
    """Turn an InputError into `error: ...` on stderr and exit code 2, never a traceback."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InputError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper
