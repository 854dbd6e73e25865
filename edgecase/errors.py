"""One exception family. Every error a user can cause carries the source position to fix.

The CLI maps `exit_code` to the process exit status and prints `str(error)`, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourcePos:
    """A place in an input file; line and col are 1-based, as editors show them."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class EdgecaseError(Exception):
    """Root of every error edgecase raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, pos: SourcePos | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.pos}: " if self.pos else ""
        tail = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{tail}"


class InputError(EdgecaseError):
    """Bad input or usage: a scenario, rig, map or argument that cannot be used (exit 2)."""

    exit_code = 2


class BackendError(EdgecaseError):
    """The simulator or its server failed; the episode may succeed if retried (exit 3)."""

    exit_code = 3


class DoesNotFit(InputError):
    """The scenario's geometry does not fit where the compiler tried to put it: a lane ends too
    soon, a lane it needs is missing, two boxes overlap. Where the scenario leaves the place open
    (`lane: driving` without a road, `junction: any`), the compiler tries the next place."""
