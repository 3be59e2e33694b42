"""Where a result came from: the code's git commit, to tell results (and trained weights) apart."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

# Changes here are what the code produced or what people wrote about it, not the code: a sweep writes
# its committed database (and its report under docs/) while it runs, and neither that nor editing the
# benchmark write-up beside a running sweep must mark the code that produced the numbers as modified.
NON_CODE_DIRECTORIES = ("results", "docs")


@cache
def source_commit() -> str | None:
    """The git commit of this checkout, read once per process: the code a process runs is the code
    it started with, and a sweep asks for every cell."""
    return checkout_commit(Path(__file__).resolve().parent)


def checkout_commit(directory: Path) -> str | None:
    """The short commit of the git checkout holding `directory`, with '+' when tracked files outside
    `NON_CODE_DIRECTORIES` have changed, or None when it is not in a git checkout."""
    code_paths = [":/", *(f":(top,exclude){name}" for name in NON_CODE_DIRECTORIES)]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=directory).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *code_paths],
                               capture_output=True, text=True, check=True, cwd=directory).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")
