"""How every cpsched command reports a user's mistake (one line on stderr, exit code 2), and the exit
codes of every family: 0 solved, 1 no solution, 2 bad input, 130 interrupted with the best kept."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import click

from cpsched.instances.errors import InputError

EXIT_SOLVED = 0
EXIT_NO_SOLUTION = 1  # infeasible, or none found in the time given
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, with the best solution so far printed and written


def writable_file(path: str | None, option: str) -> None:
    """Fail before a long solve, not after it, when an output file cannot be written."""
    if path is None:
        return
    folder = Path(path).resolve().parent
    if Path(path).is_dir():
        raise InputError(f"{option}: is a directory", source=path)
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise InputError(f"{option}: cannot write into {folder}", source=path)


IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".webp", ".eps", ".ps", ".tif", ".tiff")


def image_file(path: str | None, option: str) -> None:
    """A plot path matplotlib can write, checked before the solve, not after it."""
    writable_file(path, option)
    if path is not None and Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{option}: cannot draw a '{Path(path).suffix or 'suffix-less'}' file; use "
                         f"{', '.join(IMAGE_SUFFIXES[:3])} or another image type", source=path)


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
