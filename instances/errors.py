"""The one exception type for mistakes a user can make in what they give us."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a malformed file, an unknown name, an impossible option.

    The message names where the problem is (file and line when known) and what is wrong, so the
    command line can print it as one line and exit with code 2 instead of a traceback.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.source is None:
            return self.message
        if self.line is None:
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}: {self.message}"
