"""Deploy-side error types. Every error a user can cause ends up as one of these, and the CLI
(``cli/main.py``) is the one place that turns them into a message and an exit code.

The Lambda runtime has its own, separate exceptions (``cronplane.runtime.exceptions``).
"""

from __future__ import annotations

from dataclasses import dataclass


class CronplaneError(Exception):
    """A failure the user can act on. ``str(err)`` is the whole message; exit code 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest: where it is and what to do about it."""

    file: str
    line: int | None
    path: str  # dotted path inside the manifest, e.g. "jobs.nightly-report.timeout"
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ManifestError(CronplaneError):
    """A manifest with one or more problems; all of them, found in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class ScheduleError(CronplaneError):
    """A schedule expression that EventBridge would reject, or that can never fire."""


class AwsError(CronplaneError):
    """An AWS call failed in a way the user must fix (credentials, permissions, limits)."""


class DeployLockedError(CronplaneError):
    """Another deploy of the same namespace holds the lock."""


class JobNotFoundError(CronplaneError):
    """A command named a job that the manifest does not define."""
