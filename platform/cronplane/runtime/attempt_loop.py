"""The attempts of one run inside one invocation (``Wrapper`` calls ``AttemptLoop.run`` between
``begin`` and ``_finish``): each attempt runs in a worker thread (``attempt.run_attempt``)
watched against the soft deadline; a retryable failure is retried here after its backoff while
the longest attempt so far plus the backoff still fits the time left, else the ``Outcome`` is
``retrying`` and the wrapper hands the next attempt over to a continuation."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from cronplane.runtime.attempt import SoftDeadline, run_attempt
from cronplane.runtime.backoff import RetrySettings
from cronplane.runtime.context import JobContext
from cronplane.runtime.recording import Clock, Recorder, RunFacts, prior_attempts, remaining_ms
from cronplane.runtime.runlog import RunLog
from cronplane.runtime.schema import Attempt, RunStatus, iso
from cronplane.runtime.settings import RuntimeSettings


# Tuples, not dataclasses: a cold start pays for every class it creates.
class _Attempt(NamedTuple):
    entry: Attempt
    ok: bool = False
    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False


class Outcome(NamedTuple):
    status: RunStatus
    attempts: list[Attempt]
    value: Any = None
    error: BaseException | None = None
    next_attempt: int | None = None
    backoff_ms: int = 0


class AttemptLoop:
    """Runs a run's attempts; ``abandoned`` collects the threads of timed-out attempts (the
    wrapper's list, checked at the next invocation)."""

    def __init__(
        self,
        settings: RuntimeSettings,
        job_function: Callable[[Any, JobContext], Any],
        retry: RetrySettings,
        clock: Clock,
        recorder: Recorder,
        log: RunLog,
        abandoned: list[threading.Thread],
    ) -> None:
        self.settings = settings
        self.job_function = job_function
        self.retry = retry
        self.clock = clock
        self.recorder = recorder
        self.log = log
        self.abandoned = abandoned

    def run(self, run: RunFacts) -> Outcome:
        attempts = prior_attempts(run.firing)
        longest = max((a.duration_ms or 0 for a in attempts), default=0)
        number = run.firing.attempt
        if run.firing.backoff_ms and usable_ms(run, self.settings) >= longest + run.firing.backoff_ms:
            # A continuation waits the backoff chosen for it when the wait fits; otherwise the
            # hand-over itself has already spaced the attempts.
            self.clock.sleep(run.firing.backoff_ms / 1000)
        while True:
            attempt = self._attempt(run, number)
            attempts.append(attempt.entry)
            if attempt.ok:
                return Outcome(RunStatus.SUCCEEDED, attempts, value=attempt.value)
            if attempt.timed_out:
                return Outcome(RunStatus.TIMED_OUT, attempts, error=attempt.error)
            assert attempt.error is not None
            if not self.retry.is_retryable(attempt.error) or number >= self.retry.max_attempts:
                return Outcome(RunStatus.FAILED, attempts, error=attempt.error)
            longest = max(longest, attempt.entry.duration_ms or 0)
            backoff_ms = int(self.retry.delay(number, self.clock.rng) * 1000)
            if usable_ms(run, self.settings) < longest + backoff_ms:
                # Starting here could overrun the Lambda timeout: hand over to a fresh invocation.
                return Outcome(
                    RunStatus.RETRYING, attempts, error=attempt.error, next_attempt=number + 1, backoff_ms=backoff_ms
                )
            self.log.line("info", "retrying", run_id=run.firing.run_id, next_attempt=number + 1, backoff_ms=backoff_ms)
            self.clock.sleep(backoff_ms / 1000)
            number += 1

    def _attempt(self, run: RunFacts, number: int) -> _Attempt:
        started = Attempt(number, started_at=iso(self.clock.now()), request_id=run.request_id)
        if usable_ms(run, self.settings) <= 0:
            error = soft_deadline_error(self.settings)
            entry = started._replace(duration_ms=0, **self.recorder.error_fields(error, None))
            return _Attempt(entry, timed_out=True, error=error)
        context = JobContext(
            run.lambda_context,
            job=self.settings.job,
            run_id=run.firing.run_id,
            trigger=run.firing.trigger.value,
            attempt=number,
            scheduled_for=run.firing.scheduled_for,
            triggered_by=run.firing.triggered_by,
        )
        outcome = run_attempt(
            self.job_function,
            # A fresh copy per attempt: a job that edits its event must not change the next one's.
            copy.deepcopy(run.firing.payload),
            context,
            remaining_ms=lambda: remaining_ms(run.lambda_context),
            margin_ms=self.settings.safety_margin_ms,
            name=f"cronplane-{run.firing.run_id}-attempt-{number}",
            monotonic=self.clock.monotonic,
        )
        ended = started._replace(duration_ms=outcome.duration_ms)
        if not outcome.finished:
            error = soft_deadline_error(self.settings)
            entry = ended._replace(**self.recorder.error_fields(error, None))
            self.log.line("error", "soft deadline reached; attempt abandoned", run_id=run.firing.run_id, attempt=number)
            if outcome.thread is not None:
                self.abandoned.append(outcome.thread)
            return _Attempt(entry, timed_out=True, error=error)
        if outcome.error is not None:
            entry = ended._replace(**self.recorder.error_fields(outcome.error, outcome.traceback))
            self.log.line(
                "warning",
                "attempt failed",
                run_id=run.firing.run_id,
                attempt=number,
                error_type=entry.error_type,
                error_message=entry.error_message,
                traceback=entry.traceback,
            )
            return _Attempt(entry, error=outcome.error)
        return _Attempt(ended, ok=True, value=outcome.value)


def usable_ms(run: RunFacts, settings: RuntimeSettings) -> int:
    """What the job may still use: the time left minus the safety margin."""
    return remaining_ms(run.lambda_context) - settings.safety_margin_ms


def soft_deadline_error(settings: RuntimeSettings) -> SoftDeadline:
    return SoftDeadline(
        f"still running {settings.safety_margin_ms} ms before the {settings.timeout} s function timeout; "
        f"recorded as timed_out before Lambda's hard kill (raise the job's timeout or make it do less per run)"
    )
