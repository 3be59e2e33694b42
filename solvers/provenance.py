"""Where a result came from: the code's git commit, to tell results (and trained weights) apart."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path


@cache
def source_commit() -> str | None:
    """The git commit of this checkout (with '+' if tracked files have changed), or None when the
    package is not running from a git checkout. Read once per process: the code a process runs is
    the code it started with, and a sweep asks for every cell."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=here).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True, cwd=here).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")
