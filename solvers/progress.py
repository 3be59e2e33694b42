"""A progress line on stderr for long solves: elapsed time, incumbent, bound."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from solvers.cpsat import Progress


class ProgressLine:
    """Rewrites one status line on a terminal; on a pipe or file, writes a line at most every
    `pipe_interval` seconds so logs stay short. Call `close()` to end the line."""

    def __init__(self, stream: TextIO | None = None, pipe_interval: float = 5.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.2 if self.tty else pipe_interval
        self.last_written = -float("inf")
        self.pending: Progress | None = None
        self.lock = threading.Lock()
        self.dirty = False

    def __call__(self, progress: Progress) -> None:
        with self.lock:
            self.pending = progress
            now = time.monotonic()
            if now - self.last_written >= self.interval:
                self._write(progress)
                self.last_written = now

    def _write(self, progress: Progress) -> None:
        incumbent = "-" if progress.objective is None else f"{progress.objective:g}"
        bound = "-" if progress.bound is None else f"{progress.bound:g}"
        text = f"{progress.elapsed:7.1f}s  incumbent {incumbent:>8}  bound {bound:>8}"
        if self.tty:
            self.stream.write("\r" + text)
            self.dirty = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        with self.lock:
            if self.pending is not None and self.tty:
                self._write(self.pending)
            if self.dirty:
                self.stream.write("\n")
                self.stream.flush()
                self.dirty = False
