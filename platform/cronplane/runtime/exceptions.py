"""Exceptions of the Lambda runtime (separate from the deploy side's ``cronplane.errors``,
which the runtime must not import)."""

from __future__ import annotations


class NonRetryable(Exception):
    """Raise this (or a subclass) from a job to fail the run at once, without retries:
    for errors that another attempt cannot fix (bad input, missing permission)."""


class RuntimeSetupError(NonRetryable):
    """The wrapper could not prepare the job (handler import failed, a secret could not be
    read). Recorded as the run's failure instead of an opaque Lambda init error."""


class HistoryUnavailable(Exception):
    """The history table could not be written after a few tries. The wrapper keeps running the
    job and logs the record instead of dropping it."""


class RunExists(Exception):
    """The conditional write found the run already recorded: a second delivery of a firing."""


class LockHeld(Exception):
    """``concurrency: forbid`` and another run of the job holds the lock."""

    def __init__(self, holder: str | None) -> None:
        super().__init__(f"lock held by run {holder or '(unknown)'}")
        self.holder = holder


class InvalidEvent(Exception):
    """The event's ``cronplane`` envelope has a field outside its documented format (a run id
    that is not one, an unknown trigger, an attempt number out of range). The job does not run
    and nothing is written under a key the event chose; the refusal is recorded under a fresh
    run id. ``triggered_by`` is the envelope's caller, when it named one."""

    def __init__(self, message: str, triggered_by: str | None = None) -> None:
        super().__init__(message)
        self.triggered_by = triggered_by


class RunFailed(Exception):
    """Raised by Lambda's handler (``entry.handler``) once a run that ended ``failed`` or
    ``timed_out`` has been recorded, sent to its DLQ and alerted: the invocation ends as an error,
    so Lambda's ``Errors`` metric, a synchronous caller's ``FunctionError`` and every tool that
    reads them see the failure. Its class name is the ``errorType`` Lambda reports."""
