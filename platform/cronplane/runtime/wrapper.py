"""The state machine around one invocation of a job (``Wrapper.handle``):

    event ─▶ Firing (fields checked; malformed ─▶ ``failed`` under a fresh run id, job not run)
          ─▶ begin (record ``running`` [+ lock], one conditional write)
          ├─ record exists ─▶ ``duplicate`` marker, job not run
          ├─ lock held     ─▶ ``skipped`` marker with ``yielded_to``
          ├─ table down    ─▶ run anyway, or ``skipped`` (``on_history_outage: skip``)
          └─ attempts (each in a worker thread, watched against the soft deadline)
               ├─ success            ─▶ ``succeeded``                     (write 2)
               ├─ past soft deadline ─▶ ``timed_out`` + DLQ message
               ├─ retryable, fits    ─▶ backoff, next attempt here
               ├─ retryable, no time ─▶ ``retrying`` + async self-invoke (continuation); if
               │                        the invoke fails, ``failed`` only while the record still
               │                        waits for that attempt (else the continuation owns it)
               └─ otherwise          ─▶ ``failed`` + one DLQ message
          ─▶ ``failed`` / ``timed_out``: one alert (``failure_alert``), then, for Lambda only
             (``handle_for_lambda``), the invocation ends as an error (``RunFailed``)

The history table being unwritable never stops the job (unless ``on_history_outage: skip``): the
record then goes to the log (and into the DLQ message on failure). Ends without the job's own
result (duplicate, skipped, refused event...) are ``Endings``'; records are built by ``Recorder``. What the run sends out (record, DLQ message, continuation
invoke) goes through ``Outbox``, bounded by the time left before Lambda's hard kill. Everything
that leaves the wrapper is scrubbed of secrets.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cronplane.runtime.attempt import stop_thread
from cronplane.runtime.attempt_loop import AttemptLoop, Outcome, usable_ms
from cronplane.runtime.backoff import RetrySettings
from cronplane.runtime.context import CountdownContext, JobContext
from cronplane.runtime.dispatch import Dispatcher
from cronplane.runtime.endings import Endings, refusal
from cronplane.runtime.exceptions import InvalidEvent, LockHeld, RunExists, RunFailed
from cronplane.runtime.failure_alert import FailureAlerts
from cronplane.runtime.firing import Firing
from cronplane.runtime.outbox import HandOver, Outbox
from cronplane.runtime.recording import (
    LOCK_MARGIN_S,
    Clock,
    Recorder,
    RunFacts,
    prior_attempts,
    remaining_ms,
)
from cronplane.runtime.runlog import RunLog, describe
from cronplane.runtime.schema import RunLock, RunRecord, RunStatus, iso
from cronplane.runtime.secrets import Scrubber, drain_streams
from cronplane.runtime.settings import SKIP_ON_HISTORY_OUTAGE, RuntimeSettings
from cronplane.runtime.store import RunStore

__all__ = ["LOCK_MARGIN_S", "Clock", "JobFunction", "Wrapper"]  # Clock: what tests and entry inject
JobFunction = Callable[[Any, JobContext], Any]
# The ends that are the run's failure: alerted, and an error of the Lambda invocation.
FAILED_FOR_GOOD = frozenset({RunStatus.FAILED.value, RunStatus.TIMED_OUT.value})


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
        alerts: FailureAlerts | None = None,
    ) -> None:
        self.settings = settings
        self.alerts = alerts  # None: the job has no alerts configured
        self.job_function = job_function
        self.store = store
        self.dispatcher = dispatcher
        self.clock = clock or Clock()
        self.scrubber = scrubber or Scrubber()
        self.log = RunLog(settings.job, self.scrubber, emit)
        self.outbox = Outbox(store, dispatcher, self.log, self.scrubber, self.clock.monotonic)
        self.recorder = Recorder(settings, self.scrubber, self.clock, self.log)
        self.endings = Endings(self.recorder, self.outbox, store, self.log)
        self.retry = RetrySettings.from_mapping(settings.retry)
        self.forbid = str(settings.concurrency).lower() == "forbid"
        # Fail closed: a run whose start cannot be recorded (lock, duplicate check) does not run.
        self.skip_on_outage = str(settings.on_history_outage).lower() == SKIP_ON_HISTORY_OUTAGE
        self._abandoned: list[threading.Thread] = []  # timed-out attempts' threads
        self.attempts = AttemptLoop(
            settings, job_function, self.retry, self.clock, self.recorder, self.log, self._abandoned
        )
        # Set when this invocation ended a run it may not own (see _finish): no alert, no error.
        self._unsure_end = False

    # ------------------------------------------------------------------ the invocation

    def handle(self, event: Any, lambda_context: Any = None) -> dict[str, Any]:
        """Run one invocation; returns the run's record (as written, or as logged), in its
        plain form, whatever the run's end (tests, tools; Lambda calls ``handle_for_lambda``)."""
        return self._invocation(event, lambda_context)[0].as_dict()

    def handle_for_lambda(self, event: Any, lambda_context: Any = None) -> dict[str, Any]:
        """What Lambda calls: ``handle``, except that a run that ended ``failed`` or ``timed_out``
        ends the invocation as an error (``RunFailed``), raised after its record, its DLQ message
        and its alert went out. Lambda does not retry it (the invoke config's
        MaximumRetryAttempts is 0) and sends it nowhere (no on-failure destination): the
        wrapper's DLQ message stays the run's only one. A successful run returns its record."""
        record, failed = self._invocation(event, lambda_context)
        if failed:
            attempts = len(record.attempts)
            raise RunFailed(
                f"run {record.run_id} of job {record.job} ended {record.status} after {attempts} "
                f"attempt{'s' if attempts != 1 else ''}: {record.error or 'no error recorded'} "
                f"(jobctl history {record.job} --run {record.run_id})"
            )
        return record.as_dict()

    def _invocation(self, event: Any, lambda_context: Any) -> tuple[RunRecord, bool]:
        """The run's record, and whether the run failed for good in this invocation."""
        if lambda_context is None:
            lambda_context = CountdownContext(self.settings.timeout * 1000, function_name=self.settings.job)
        self._unsure_end = False
        try:
            record = self._handle(event, lambda_context)
            failed = record.status in FAILED_FOR_GOOD and not self._unsure_end
            if failed and self.alerts is not None and self.alerts.wants(record.status):
                self.alerts.send(record, lambda_context)  # after the record and the DLQ message
            return record, failed
        finally:
            drain_streams()  # the job's last partial line, masked, before the next invocation

    def _handle(self, event: Any, lambda_context: Any) -> RunRecord:
        now = self.clock.now()
        try:
            firing = Firing.from_event(event, self.settings.payload, now, max_attempts=self.retry.max_attempts)
        except InvalidEvent as refused:
            return self.endings.refused(self._new_run(refusal(event, refused, now), lambda_context, now), refused)
        run = self._new_run(firing, lambda_context, now)
        self._warn_about_abandoned(firing.run_id)
        lock = self.recorder.lock(run) if self.forbid else None
        history_ok = True
        try:
            self.store.begin(
                self.recorder.record(run, RunStatus.RUNNING, attempts=prior_attempts(firing)),
                lock=lock,
                continuing_attempt=firing.attempt if firing.continuation else None,
                now_epoch=int(now.timestamp()),
                # Retries of a throttled write must not eat the time the job needs.
                until=self.outbox.until(usable_ms(run, self.settings)),
            )
        except RunExists:
            return self.endings.duplicate(run)
        except LockHeld as held:
            return self.endings.skipped(run, held.holder)
        except Exception as exc:
            if self.skip_on_outage:
                return self.endings.not_started(run, exc)
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
        return self._finish(run, self.attempts.run(run), lock, history_ok)

    def _new_run(self, firing: Firing, lambda_context: Any, now: datetime) -> RunFacts:
        return RunFacts(
            firing=firing,
            lambda_context=lambda_context,
            started_at=firing.started_at or now,
            invoked_at=now,
            request_id=str(getattr(lambda_context, "aws_request_id", "") or uuid.uuid4()),
            function_name=str(
                getattr(lambda_context, "function_name", "") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
            ),
        )

    def _warn_about_abandoned(self, run_id: str) -> None:
        self._abandoned[:] = [t for t in self._abandoned if t.is_alive()]  # shared with self.attempts
        for thread in self._abandoned:
            stop_thread(thread)
            self.log.line(
                "warning",
                "an abandoned timed-out attempt is still running in this environment",
                run_id=run_id,
                thread=thread.name,
            )

    # ------------------------------------------------------------------ attempts

    # ------------------------------------------------------------------ endings

    def _finish(self, run: RunFacts, outcome: Outcome, lock: RunLock | None, history_ok: bool) -> RunRecord:
        drain_streams()  # the job's output before the wrapper's last lines (EMF needs whole lines)
        status = outcome.status
        handed, hand_over = None, None
        if status is RunStatus.RETRYING:
            handed, hand_over = self._hand_over(run, outcome)
            if hand_over is HandOver.DONE:
                return handed
            status = RunStatus.FAILED
        record = self.recorder.record(
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
        # Once ``retrying`` is recorded, the run is ended only if it still waits for the attempt
        # this invocation handed over: a continuation that did start owns the run (its end, its
        # DLQ message, its lock), and this write then changes nothing.
        expect = outcome.next_attempt if hand_over in (HandOver.NOT_INVOKED, HandOver.UNKNOWN) else None
        dead_letter = status in (RunStatus.FAILED, RunStatus.TIMED_OUT)
        # Both must fit before the hard kill: the record gets at most half the time left.
        until = self.outbox.final_until(remaining_ms(run.lambda_context))
        record_until = self.outbox.share(until) if dead_letter else until
        try:
            # Tried even when the first write failed: the table may be back, and the record matters.
            written = self.outbox.write(
                lambda: self.store.finish(
                    record,
                    release=release,
                    expect_attempt=expect,
                    expect_invocation=run.invocation_id if expect is not None else None,
                    until=record_until,
                ),
                record,
                record_until,
            )
        except RunExists:
            if handed is None:
                raise
            return self._taken_over(handed)
        if dead_letter and hand_over is HandOver.UNKNOWN and not written:
            # Nobody can tell whether a continuation owns the run: one message too few (the
            # body is in the log) rather than a second one or a `failed` one for a success.
            # Nor an alert or an error: the continuation, if it runs, ends the run itself.
            self.outbox.withhold_dead_letter(self.recorder.dead_letter_body(run, record), record)
            self._unsure_end = True
        elif dead_letter:
            self.outbox.dead_letter(
                self.recorder.dead_letter_body(run, record), record, history_written=written, until=until
            )
        self.log.line(
            "info" if status is RunStatus.SUCCEEDED else "error",
            "run finished",
            run_id=record.run_id,
            status=status.value,
            attempts=len(outcome.attempts),
            duration_ms=record.duration_ms,
        )
        self.recorder.metric(record)
        return record

    def _hand_over(self, run: RunFacts, outcome: Outcome) -> tuple[RunRecord, HandOver]:
        """Record ``retrying`` and invoke this function again for the next attempt. Unless the
        result is ``HandOver.DONE`` the run fails here (see ``_finish``)."""
        assert outcome.next_attempt is not None
        record = self.recorder.record(run, RunStatus.RETRYING, attempts=outcome.attempts, error=outcome.error)._replace(
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
        result = self.outbox.hand_over(record, target, event, remaining_ms(run.lambda_context))
        if result is HandOver.DONE:
            self.log.line(
                "warning",
                "attempt does not fit the time left; handed to a new invocation",
                run_id=record.run_id,
                next_attempt=outcome.next_attempt,
                remaining_ms=remaining_ms(run.lambda_context),
            )
        return record, result

    def _taken_over(self, handed: RunRecord) -> RunRecord:
        """The hand-over's invoke seemed to fail, but the record no longer waits for the attempt:
        the continuation did start and owns the run. Nothing more to send from here."""
        self.log.line(
            "warning",
            "the continuation took the run over although its invoke seemed to fail; it ends the run",
            run_id=handed.run_id,
            next_attempt=handed.next_attempt,
        )
        return handed
