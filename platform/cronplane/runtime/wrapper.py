"""The state machine around one invocation of a job (``Wrapper.handle``):

    event ─▶ Firing ─▶ begin (record ``running`` [+ lock], one conditional write)
          ├─ record exists ─▶ ``duplicate`` marker, job not run
          ├─ lock held     ─▶ ``skipped`` marker with ``yielded_to``
          └─ attempts (each in a worker thread, watched against the soft deadline)
               ├─ success            ─▶ ``succeeded``                     (write 2)
               ├─ past soft deadline ─▶ ``timed_out`` + DLQ message
               ├─ retryable, fits    ─▶ backoff, next attempt here
               ├─ retryable, no time ─▶ ``retrying`` + async self-invoke (continuation)
               └─ otherwise          ─▶ ``failed`` + one DLQ message, return without raising

The history table being unwritable never stops the job: the record then goes to the log (and
into the DLQ message on failure). What the run sends out (record, DLQ message, continuation
invoke) goes through ``Outbox``, bounded by the time left before Lambda's hard kill. Everything
that leaves the wrapper is scrubbed of secrets.
"""

from __future__ import annotations

import copy
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from cronplane.runtime.attempt import SoftDeadline, run_attempt, stop_thread
from cronplane.runtime.backoff import RetrySettings
from cronplane.runtime.context import CountdownContext, JobContext
from cronplane.runtime.dispatch import Dispatcher
from cronplane.runtime.exceptions import LockHeld, RunExists
from cronplane.runtime.firing import Firing
from cronplane.runtime.metrics import emf_line
from cronplane.runtime.outbox import Outbox
from cronplane.runtime.runlog import RunLog, describe, trim_head, trim_tail
from cronplane.runtime.schema import Attempt, RunLock, RunRecord, RunStatus, duplicate_run_id, iso
from cronplane.runtime.secrets import Scrubber
from cronplane.runtime.settings import RuntimeSettings
from cronplane.runtime.store import RunStore

RESULT_LIMIT = 4096  # bytes of the JSON return value kept in the record
TRACEBACK_LIMIT = 2048
MESSAGE_LIMIT = 1024
# The forbid lock outlives its holder's Lambda timeout by this much: a clock a little off between
# hosts must not free the lock while the holder may still run; a crashed holder frees it soon.
LOCK_MARGIN_S = 10
JobFunction = Callable[[Any, JobContext], Any]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """Everything time- and chance-dependent, injectable for tests."""

    now: Callable[[], datetime] = _utcnow
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class _Run:
    """Facts of the run being handled by this invocation."""

    firing: Firing
    lambda_context: Any
    started_at: datetime  # the run's start (a continuation keeps the first invocation's)
    invoked_at: datetime  # this invocation's start
    request_id: str
    function_name: str
    # Unique per handler call (a request id repeats when Lambda redelivers an invocation).
    invocation_id: str = field(default_factory=lambda: uuid.uuid4().hex)


# Tuples, not dataclasses: a cold start pays for every class it creates.
class _Attempt(NamedTuple):
    entry: Attempt
    ok: bool = False
    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False


class _Outcome(NamedTuple):
    status: RunStatus
    attempts: list[Attempt]
    value: Any = None
    error: BaseException | None = None
    next_attempt: int | None = None
    backoff_ms: int = 0


class Wrapper:
    # Set by entry.build when the cold start failed (the next invocation retries it).
    setup_error: Exception | None = None

    def __init__(
        self,
        settings: RuntimeSettings,
        job_function: JobFunction,
        store: RunStore,
        dispatcher: Dispatcher,
        *,
        clock: Clock | None = None,
        scrubber: Scrubber | None = None,
        emit: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.job_function = job_function
        self.store = store
        self.dispatcher = dispatcher
        self.clock = clock or Clock()
        self.scrubber = scrubber or Scrubber()
        self.log = RunLog(settings.job, self.scrubber, emit)
        self.outbox = Outbox(store, dispatcher, self.log, self.scrubber, self.clock.monotonic)
        self.retry = RetrySettings.from_mapping(settings.retry)
        self.forbid = str(settings.concurrency).lower() == "forbid"
        self._abandoned: list[threading.Thread] = []  # timed-out attempts' threads

    # ------------------------------------------------------------------ the invocation

    def handle(self, event: Any, lambda_context: Any = None) -> dict[str, Any]:
        """Run one invocation; returns the run's record (as written, or as logged), in its
        plain form: what Lambda hands back to a synchronous caller."""
        return self._handle(event, lambda_context).as_dict()

    def _handle(self, event: Any, lambda_context: Any) -> RunRecord:
        if lambda_context is None:
            lambda_context = CountdownContext(self.settings.timeout * 1000, function_name=self.settings.job)
        now = self.clock.now()
        firing = Firing.from_event(event, self.settings.payload, now)
        run = _Run(
            firing=firing,
            lambda_context=lambda_context,
            started_at=firing.started_at or now,
            invoked_at=now,
            request_id=str(getattr(lambda_context, "aws_request_id", "") or uuid.uuid4()),
            function_name=str(
                getattr(lambda_context, "function_name", "") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
            ),
        )
        self._warn_about_abandoned(firing.run_id)
        lock = self._lock(run) if self.forbid else None
        history_ok = True
        try:
            self.store.begin(
                self._record(run, RunStatus.RUNNING, attempts=_prior_attempts(firing)),
                lock=lock,
                continuing_attempt=firing.attempt if firing.continuation else None,
                now_epoch=int(now.timestamp()),
                # Retries of a throttled write must not eat the time the job needs.
                until=self.outbox.until(self._usable_ms(run)),
            )
        except RunExists:
            return self._duplicate(run)
        except LockHeld as held:
            return self._skipped(run, held.holder)
        except Exception as exc:
            history_ok = False
            self.log.line(
                "error", "history table unwritable; running the job anyway", run_id=firing.run_id, error=describe(exc)
            )
        self.log.line(
            "info",
            "run started",
            run_id=firing.run_id,
            trigger=firing.trigger.value,
            attempt=firing.attempt,
            request_id=run.request_id,
        )
        return self._finish(run, self._attempts(run), lock, history_ok)

    def _warn_about_abandoned(self, run_id: str) -> None:
        self._abandoned = [t for t in self._abandoned if t.is_alive()]
        for thread in self._abandoned:
            stop_thread(thread)
            self.log.line(
                "warning",
                "an abandoned timed-out attempt is still running in this environment",
                run_id=run_id,
                thread=thread.name,
            )

    # ------------------------------------------------------------------ attempts

    def _attempts(self, run: _Run) -> _Outcome:
        attempts = _prior_attempts(run.firing)
        longest = max((a.duration_ms or 0 for a in attempts), default=0)
        number = run.firing.attempt
        if run.firing.backoff_ms and self._usable_ms(run) >= longest + run.firing.backoff_ms:
            # A continuation waits the backoff chosen for it when the wait fits; otherwise the
            # hand-over itself has already spaced the attempts.
            self.clock.sleep(run.firing.backoff_ms / 1000)
        while True:
            attempt = self._attempt(run, number)
            attempts.append(attempt.entry)
            if attempt.ok:
                return _Outcome(RunStatus.SUCCEEDED, attempts, value=attempt.value)
            if attempt.timed_out:
                return _Outcome(RunStatus.TIMED_OUT, attempts, error=attempt.error)
            assert attempt.error is not None
            if not self.retry.is_retryable(attempt.error) or number >= self.retry.max_attempts:
                return _Outcome(RunStatus.FAILED, attempts, error=attempt.error)
            longest = max(longest, attempt.entry.duration_ms or 0)
            backoff_ms = int(self.retry.delay(number, self.clock.rng) * 1000)
            if self._usable_ms(run) < longest + backoff_ms:
                # Starting here could overrun the Lambda timeout: hand over to a fresh invocation.
                return _Outcome(
                    RunStatus.RETRYING, attempts, error=attempt.error, next_attempt=number + 1, backoff_ms=backoff_ms
                )
            self.log.line("info", "retrying", run_id=run.firing.run_id, next_attempt=number + 1, backoff_ms=backoff_ms)
            self.clock.sleep(backoff_ms / 1000)
            number += 1

    def _attempt(self, run: _Run, number: int) -> _Attempt:
        started = Attempt(number, started_at=iso(self.clock.now()), request_id=run.request_id)
        if self._usable_ms(run) <= 0:
            error = _soft_deadline_error(self.settings)
            entry = started._replace(duration_ms=0, **self._error_fields(error, None))
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
            remaining_ms=lambda: _remaining_ms(run.lambda_context),
            margin_ms=self.settings.safety_margin_ms,
            name=f"cronplane-{run.firing.run_id}-attempt-{number}",
            monotonic=self.clock.monotonic,
        )
        ended = started._replace(duration_ms=outcome.duration_ms)
        if not outcome.finished:
            error = _soft_deadline_error(self.settings)
            entry = ended._replace(**self._error_fields(error, None))
            self.log.line("error", "soft deadline reached; attempt abandoned", run_id=run.firing.run_id, attempt=number)
            if outcome.thread is not None:
                self._abandoned.append(outcome.thread)
            return _Attempt(entry, timed_out=True, error=error)
        if outcome.error is not None:
            entry = ended._replace(**self._error_fields(outcome.error, outcome.traceback))
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

    def _usable_ms(self, run: _Run) -> int:
        return _remaining_ms(run.lambda_context) - self.settings.safety_margin_ms

    def _error_fields(self, error: BaseException, trace: str | None) -> dict[str, Any]:
        return {
            "error_type": type(error).__name__,
            "error_message": trim_head(self.scrubber.scrub(str(error)), MESSAGE_LIMIT),
            "traceback": trim_tail(self.scrubber.scrub(trace), TRACEBACK_LIMIT) if trace else None,
        }

    # ------------------------------------------------------------------ endings

    def _finish(self, run: _Run, outcome: _Outcome, lock: RunLock | None, history_ok: bool) -> RunRecord:
        status = outcome.status
        if status is RunStatus.RETRYING:
            handed = self._hand_over(run, outcome)
            if handed is not None:
                return handed
            status = RunStatus.FAILED
        record = self._record(
            run,
            status,
            attempts=outcome.attempts,
            finished=True,
            result=outcome.value if status is RunStatus.SUCCEEDED else None,
            error=outcome.error,
        )
        # A timed-out attempt may still be running until Lambda's hard kill: its lock stays
        # until it expires at the function timeout instead of being released now.
        release = lock if status is not RunStatus.TIMED_OUT and history_ok else None
        dead_letter = status in (RunStatus.FAILED, RunStatus.TIMED_OUT)
        # Both must fit before the hard kill: the record gets at most half the time left.
        until = self.outbox.final_until(_remaining_ms(run.lambda_context))
        record_until = self.outbox.share(until) if dead_letter else until
        # Tried even when the first write failed: the table may be back, and the record matters.
        written = self.outbox.write(
            lambda: self.store.finish(record, release=release, until=record_until), record, record_until
        )
        if dead_letter:
            self.outbox.dead_letter(self._dead_letter_body(run, record), record, history_written=written, until=until)
        self.log.line(
            "info" if status is RunStatus.SUCCEEDED else "error",
            "run finished",
            run_id=record.run_id,
            status=status.value,
            attempts=len(outcome.attempts),
            duration_ms=record.duration_ms,
        )
        self._metric(record)
        return record

    def _hand_over(self, run: _Run, outcome: _Outcome) -> RunRecord | None:
        """Record ``retrying`` and invoke this function again for the next attempt. Returns None
        when the hand-over could not happen (the run then fails here, with its DLQ message)."""
        assert outcome.next_attempt is not None
        record = self._record(run, RunStatus.RETRYING, attempts=outcome.attempts, error=outcome.error)._replace(
            next_attempt=outcome.next_attempt
        )
        event = run.firing.envelope_for_attempt(
            outcome.next_attempt, [a.as_dict() for a in outcome.attempts], iso(run.started_at), outcome.backoff_ms
        )
        target = str(
            getattr(run.lambda_context, "invoked_function_arn", "")
            or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
            or run.function_name
        )
        if not self.outbox.hand_over(record, target, event, _remaining_ms(run.lambda_context)):
            return None
        self.log.line(
            "warning",
            "attempt does not fit the time left; handed to a new invocation",
            run_id=record.run_id,
            next_attempt=outcome.next_attempt,
            remaining_ms=_remaining_ms(run.lambda_context),
        )
        return record

    def _duplicate(self, run: _Run) -> RunRecord:
        original = run.firing.run_id
        record = self._record(run, RunStatus.DUPLICATE, attempts=[], finished=True)._replace(
            # Keyed by the whole request id: every further delivery of the firing gets its own item.
            run_id=duplicate_run_id(original, run.request_id),
            duplicate_of=original,
            duration_ms=0,
        )
        self.log.line(
            "warning", "second delivery of a firing; not running it", run_id=original, duplicate=record.run_id
        )
        if not self.outbox.add(record, _remaining_ms(run.lambda_context)):
            # The same request id again (a redelivered invocation): still a delivery of its own.
            record = record._replace(run_id=f"{record.run_id}-{uuid.uuid4().hex[:8]}")
            self.outbox.add(record, _remaining_ms(run.lambda_context))
        self._metric(record)
        return record

    def _skipped(self, run: _Run, holder: str | None) -> RunRecord:
        if run.firing.continuation:
            return self._retry_yielded(run, holder)
        record = self._record(run, RunStatus.SKIPPED, attempts=[], finished=True)._replace(
            yielded_to=holder, duration_ms=0
        )
        self.log.line(
            "warning",
            "another run holds the lock (concurrency: forbid); skipped",
            run_id=record.run_id,
            yielded_to=holder,
        )
        if not self.outbox.add(record, _remaining_ms(run.lambda_context)):
            return self._duplicate(run)  # this firing's record exists: a second delivery
        self._metric(record)
        return record

    def _retry_yielded(self, run: _Run, holder: str | None) -> RunRecord:
        """A continuation found another run holding the lock (this run's lock expired while the
        continuation waited in Lambda's queue). The retry cannot run, so the run has failed for
        good: ``failed`` with ``yielded_to`` and its DLQ message, through a conditional write so
        that a second delivery of the continuation becomes a duplicate, not a second message."""
        firing = run.firing
        prior = _prior_attempts(firing)
        last = prior[-1] if prior else None
        error = RetryYielded(
            f"attempt {firing.attempt} not started: run {holder or '(unknown)'} holds the job's lock (concurrency: forbid); "
            f"last error {last and last.error_type}: {last and last.error_message}"
        )
        record = self._record(run, RunStatus.FAILED, attempts=prior, finished=True, error=error)._replace(
            yielded_to=holder
        )
        self.log.line(
            "error",
            "the retry yielded to another run (concurrency: forbid); run failed",
            run_id=record.run_id,
            yielded_to=holder,
        )
        until = self.outbox.final_until(_remaining_ms(run.lambda_context))
        record_until = self.outbox.share(until)
        try:
            written = self.outbox.write(
                lambda: self.store.finish(record, expect_attempt=firing.attempt, until=record_until),
                record,
                record_until,
            )
        except RunExists:
            return self._duplicate(run)
        self.outbox.dead_letter(self._dead_letter_body(run, record), record, history_written=written, until=until)
        self._metric(record)
        return record

    def _dead_letter_body(self, run: _Run, record: RunRecord) -> dict[str, Any]:
        return {
            "source": "cronplane",
            "namespace": self.settings.namespace,
            "job": self.settings.job,
            "run_id": record.run_id,
            "trigger": record.trigger,
            "status": record.status,
            "scheduled_for": record.scheduled_for,
            "triggered_by": record.triggered_by,
            "attempts": [a.as_dict() for a in record.attempts],
            "error": record.error,
            "payload": run.firing.payload,
            "event": run.firing.original_event,
        }

    def _metric(self, record: RunRecord) -> None:
        timestamp_ms = int(self.clock.now().timestamp() * 1000)
        duration = record.duration_ms if record.status in ("succeeded", "failed", "timed_out") else None
        self.log.raw(emf_line(self.settings.job, record.status, duration, timestamp_ms, record.run_id))

    # ------------------------------------------------------------------ records

    def _record(
        self,
        run: _Run,
        status: RunStatus,
        *,
        attempts: list[Attempt],
        finished: bool = False,
        result: Any = None,
        error: BaseException | None = None,
    ) -> RunRecord:
        now = self.clock.now()
        firing = run.firing
        record = RunRecord(
            job=self.settings.job,
            run_id=firing.run_id,
            namespace=self.settings.namespace,
            trigger=firing.trigger.value,
            scheduled_for=iso(firing.scheduled_for) if firing.scheduled_for else None,
            started_at=iso(run.started_at),
            finished_at=iso(now) if finished else None,
            status=status.value,
            attempts=tuple(attempts),
            duration_ms=max(0, int((now - run.started_at).total_seconds() * 1000)) if finished else None,
            request_id=run.request_id,
            triggered_by=firing.triggered_by,
            result=self._result_text(result) if status is RunStatus.SUCCEEDED else None,
            error=self._error_text(error) if error is not None else None,
            ttl=int(run.started_at.timestamp()) + self.settings.ttl_days * 86400,
            # When a `running` record counts as lost: this invocation cannot outlive its timeout.
            deadline=iso(run.invoked_at + timedelta(seconds=self.settings.timeout)),
            function_name=run.function_name,
            invocation_id=run.invocation_id,
            retry_of=firing.retry_of or None,
        )
        # Every string, whichever field it came in by, is scrubbed before it leaves the wrapper.
        return RunRecord.from_dict(self.scrubber.scrub_obj(record.as_dict()))

    def _result_text(self, value: Any) -> str | None:
        if value is None:
            return None
        try:
            text = json.dumps(value, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            text = json.dumps(repr(value))
        return trim_head(self.scrubber.scrub(text), RESULT_LIMIT)

    def _error_text(self, error: BaseException) -> str:
        return trim_head(self.scrubber.scrub(f"{type(error).__name__}: {error}"), MESSAGE_LIMIT)

    def _lock(self, run: _Run) -> RunLock:
        now = int(run.invoked_at.timestamp())
        return RunLock(
            job=self.settings.job,
            holder=run.firing.run_id,
            # A crashed holder (hard kill, lost environment) blocks at most until then.
            expires_at=now + self.settings.timeout + LOCK_MARGIN_S,
            ttl=now + self.settings.timeout + 86400,
            acquired_at=iso(run.started_at),
        )


class RetryYielded(Exception):
    """A continuation could not make its attempt: another run held the ``forbid`` lock."""


def _soft_deadline_error(settings: RuntimeSettings) -> SoftDeadline:
    return SoftDeadline(
        f"still running {settings.safety_margin_ms} ms before the {settings.timeout} s function timeout; "
        f"recorded as timed_out before Lambda's hard kill (raise the job's timeout or make it do less per run)"
    )


def _remaining_ms(lambda_context: Any) -> int:
    return int(lambda_context.get_remaining_time_in_millis())


def _prior_attempts(firing: Firing) -> list[Attempt]:
    """Attempts made by earlier invocations of the run (carried in the continuation's event)."""
    return [Attempt.from_dict(a) for a in firing.prior_attempts]
