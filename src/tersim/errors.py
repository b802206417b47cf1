"""Errors a user can cause. The CLI prints them without a traceback and exits 2.

Library code raises these; it never prints.
"""

from __future__ import annotations

from dataclasses import dataclass


class TersimError(Exception):
    """A problem with the user's input (file, design, workload) that they can fix."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file.

    Rendered as ``FILE:LINE: dotted.field: what is wrong (got X; expected Y)``.
    """

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        field = self.field or "(top level)"
        return f"{where}: {field}: {self.message}"


class ConfigError(TersimError):
    """Every problem found in one or more configuration files, reported at once."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]):
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DesignError(TersimError):
    """A hardware design that cannot execute the requested work (e.g. a buffer too small)."""


class WorkloadError(TersimError):
    """A workload or trace that is malformed or does not match the hardware."""


class FileError(TersimError):
    """A file the user named cannot be read or written; ``reason`` says what to do.

    Rendered as ``PATH: reason`` on one line.
    """

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")
