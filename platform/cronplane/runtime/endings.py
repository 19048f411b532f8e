"""The ends of a run other than its job's own result: a second delivery (``duplicate``), a run
that yielded to the ``forbid`` lock (``skipped``), a continuation that cannot make its attempt,
an event refused for its format, and a run not started because the history table is unwritable
(``on_history_outage: skip``). None of them runs the job."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from cronplane.runtime.exceptions import InvalidEvent, RunExists
from cronplane.runtime.firing import Firing
from cronplane.runtime.outbox import Outbox
from cronplane.runtime.recording import MESSAGE_LIMIT, Recorder, RunFacts, prior_attempts, remaining_ms
from cronplane.runtime.runlog import RunLog, describe, trim_head
from cronplane.runtime.schema import RunRecord, RunStatus, Trigger, duplicate_run_id, new_run_id
from cronplane.runtime.store import RunStore


class RetryYielded(Exception):
    """A continuation could not make its attempt: another run held the ``forbid`` lock."""


class HistoryOutage(Exception):
    """``on_history_outage: skip`` and the run's start could not be recorded."""


class Endings:
    def __init__(self, recorder: Recorder, outbox: Outbox, store: RunStore, log: RunLog) -> None:
        self.recorder = recorder
        self.outbox = outbox
        self.store = store
        self.log = log

    def duplicate(self, run: RunFacts) -> RunRecord:
        original = run.firing.run_id
        record = self.recorder.record(run, RunStatus.DUPLICATE, attempts=[], finished=True)._replace(
            # Keyed by the whole request id: every further delivery of the firing gets its own item.
            run_id=duplicate_run_id(original, run.request_id),
            duplicate_of=original,
            duration_ms=0,
        )
        self.log.line(
            "warning", "second delivery of a firing; not running it", run_id=original, duplicate=record.run_id
        )
        if not self.outbox.add(record, remaining_ms(run.lambda_context)):
            # The same request id again (a redelivered invocation): still a delivery of its own.
            record = record._replace(run_id=f"{record.run_id}-{uuid.uuid4().hex[:8]}")
            self.outbox.add(record, remaining_ms(run.lambda_context))
        self.recorder.metric(record)
        return record

    def skipped(self, run: RunFacts, holder: str | None) -> RunRecord:
        if run.firing.continuation:
            return self.retry_yielded(run, holder)
        record = self.recorder.record(run, RunStatus.SKIPPED, attempts=[], finished=True)._replace(
            yielded_to=holder, duration_ms=0
        )
        self.log.line(
            "warning",
            "another run holds the lock (concurrency: forbid); skipped",
            run_id=record.run_id,
            yielded_to=holder,
        )
        if not self.outbox.add(record, remaining_ms(run.lambda_context)):
            return self.duplicate(run)  # this firing's record exists: a second delivery
        self.recorder.metric(record)
        return record

    def retry_yielded(self, run: RunFacts, holder: str | None) -> RunRecord:
        """A continuation found another run holding the lock (this run's lock expired while the
        continuation waited in Lambda's queue). The retry cannot run, so the run has failed for
        good: ``failed`` with ``yielded_to``."""
        why = f"run {holder or '(unknown)'} holds the job's lock (concurrency: forbid)"
        return self.retry_not_made(
            run, RetryYielded(why), "the retry yielded to another run (concurrency: forbid); run failed", holder
        )

    def retry_not_made(self, run: RunFacts, error: Exception, message: str, yielded_to: str | None = None) -> RunRecord:
        """A continuation that cannot make its attempt ends the run as ``failed``, with its DLQ
        message, through a write conditional on the record still waiting for that attempt, so
        that a second delivery of the continuation becomes a duplicate, not a second message."""
        firing = run.firing
        prior = prior_attempts(firing)
        last = prior[-1] if prior else None
        failure = type(error)(
            f"attempt {firing.attempt} not started: {error}; last error {last and last.error_type}: "
            f"{last and last.error_message}"
        )
        record = self.recorder.record(run, RunStatus.FAILED, attempts=prior, finished=True, error=failure)._replace(
            yielded_to=yielded_to
        )
        self.log.line("error", message, run_id=record.run_id, yielded_to=yielded_to, error=record.error)
        until = self.outbox.final_until(remaining_ms(run.lambda_context))
        record_until = self.outbox.share(until)
        try:
            written = self.outbox.write(
                lambda: self.store.finish(record, expect_attempt=firing.attempt, until=record_until),
                record,
                record_until,
            )
        except RunExists:
            return self.duplicate(run)
        self.outbox.dead_letter(
            self.recorder.dead_letter_body(run, record), record, history_written=written, until=until
        )
        self.recorder.metric(record)
        return record

    def refused(self, run: RunFacts, error: InvalidEvent) -> RunRecord:
        """An event outside the envelope's format: the job does not run, and nothing is written
        under a key the event chose. The refusal is a ``failed`` record under a fresh run id (in
        ``jobctl history``, and the failure metric), without a DLQ message: nothing ran, so there
        is nothing to replay."""
        record = self.recorder.record(run, RunStatus.FAILED, attempts=[], finished=True, error=error)._replace(
            duration_ms=0
        )
        self.log.line(
            "error",
            "event refused; the job did not run",
            run_id=record.run_id,
            error=record.error,
            triggered_by=record.triggered_by,
            event=trim_head(
                json.dumps(self.recorder.scrubber.scrub_obj(run.firing.original_event), default=str), MESSAGE_LIMIT
            ),
        )
        self.outbox.add(record, remaining_ms(run.lambda_context))
        self.recorder.metric(record)
        return record

    def not_started(self, run: RunFacts, error: Exception) -> RunRecord:
        """``on_history_outage: skip``: the run's start (its lock, its duplicate check) could not
        be recorded, so the job does not run. A new firing is ``skipped``, its record in the log
        (``jobctl audit`` shows the firing as missed, and ``jobctl backfill`` runs it once); a
        continuation cannot make its attempt, and the run fails with its DLQ message."""
        why = f"the history table is unwritable ({describe(error)}) and the job has on_history_outage: skip"
        if run.firing.continuation:
            return self.retry_not_made(run, HistoryOutage(why), "the retry could not start (fail closed); run failed")
        record = self.recorder.record(
            run, RunStatus.SKIPPED, attempts=[], finished=True, error=HistoryOutage(f"not run: {why}")
        )
        record = record._replace(duration_ms=0)
        self.log.line("error", "history table unwritable; not running the job (fail closed)", run_id=record.run_id)
        self.outbox.log_record(record)
        self.recorder.metric(record)
        return record


def refusal(event: Any, refused: InvalidEvent, now: datetime) -> Firing:
    """What a refused event is recorded as: a manual firing under a fresh run id."""
    return Firing(
        trigger=Trigger.MANUAL,
        run_id=new_run_id(now, Trigger.MANUAL),
        payload=None,
        triggered_by=refused.triggered_by,
        original_event=event,
    )
