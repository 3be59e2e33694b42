"""A progress line on stderr for long solves: elapsed time, incumbent, bound."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from cpsched.solvers.cpsat import Progress


class ProgressLine:
    """On a terminal, one status line redrawn every `tty_interval` seconds (the clock keeps
    running while nothing improves); on a pipe or file, a line every `pipe_interval` seconds.

    Use as a context manager around the solve; it is also the solve's progress callback."""

    def __init__(self, stream: TextIO | None = None, tty_interval: float = 0.5, pipe_interval: float = 2.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = tty_interval if self.tty else pipe_interval
        self.started = time.monotonic()
        self.latest: Progress | None = None
        self.stopped = threading.Event()
        self.ticker = threading.Thread(target=self._tick, name="progress", daemon=True)

    def __call__(self, progress: Progress) -> None:
        self.latest = progress

    def __enter__(self) -> ProgressLine:
        self.started = time.monotonic()
        self.ticker.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.ticker.join()
        if self.tty:
            self._write()
            self.stream.write("\n")
            self.stream.flush()

    def _tick(self) -> None:
        while not self.stopped.wait(self.interval):
            self._write()

    def _write(self) -> None:
        latest = self.latest
        incumbent = "-" if latest is None or latest.objective is None else f"{latest.objective:g}"
        bound = "-" if latest is None or latest.bound is None else f"{latest.bound:g}"
        text = f"{time.monotonic() - self.started:7.1f}s  incumbent {incumbent:>9}  bound {bound:>9}"
        if latest is not None and latest.note:
            text += f"  {latest.note}"
        self.stream.write(f"\r{text}\x1b[K" if self.tty else text + "\n")
        self.stream.flush()
