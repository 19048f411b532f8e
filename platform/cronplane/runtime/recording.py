"""What a run says about itself: its ``RunRecord`` (scrubbed of secrets), the ``forbid`` lock it
takes, its DLQ message body and its metric line. ``Recorder`` builds them from the facts of the
run (``RunFacts``); ``Wrapper`` and ``Endings`` decide which to send."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cronplane.runtime.firing import Firing
from cronplane.runtime.metrics import emf_line
from cronplane.runtime.runlog import RunLog, trim_head, trim_tail
from cronplane.runtime.schema import Attempt, RunLock, RunRecord, RunStatus, iso
from cronplane.runtime.secrets import Scrubber
from cronplane.runtime.settings import RuntimeSettings

RESULT_LIMIT = 4096  # bytes of the JSON return value kept in the record
TRACEBACK_LIMIT = 2048
MESSAGE_LIMIT = 1024
# The forbid lock outlives its holder's Lambda timeout by this much: a clock a little off between
# hosts must not free the lock while the holder may still run; a crashed holder frees it soon.
LOCK_MARGIN_S = 10


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
class RunFacts:
    """Facts of the run being handled by this invocation."""

    firing: Firing
    lambda_context: Any
    started_at: datetime  # the run's start (a continuation keeps the first invocation's)
    invoked_at: datetime  # this invocation's start
    request_id: str
    function_name: str
    # Unique per handler call (a request id repeats when Lambda redelivers an invocation).
    invocation_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class Recorder:
    def __init__(self, settings: RuntimeSettings, scrubber: Scrubber, clock: Clock, log: RunLog) -> None:
        self.settings = settings
        self.scrubber = scrubber
        self.clock = clock
        self.log = log

    def record(
        self,
        run: RunFacts,
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

    def lock(self, run: RunFacts) -> RunLock:
        now = int(run.invoked_at.timestamp())
        return RunLock(
            job=self.settings.job,
            holder=run.firing.run_id,
            # A crashed holder (hard kill, lost environment) blocks at most until then.
            expires_at=now + self.settings.timeout + LOCK_MARGIN_S,
            ttl=now + self.settings.timeout + 86400,
            acquired_at=iso(run.started_at),
        )

    def dead_letter_body(self, run: RunFacts, record: RunRecord) -> dict[str, Any]:
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

    def metric(self, record: RunRecord) -> None:
        timestamp_ms = int(self.clock.now().timestamp() * 1000)
        duration = record.duration_ms if record.status in ("succeeded", "failed", "timed_out") else None
        self.log.raw(
            emf_line(self.settings.job, record.status, duration, timestamp_ms, record.run_id, self.settings.namespace)
        )

    def error_fields(self, error: BaseException, trace: str | None) -> dict[str, Any]:
        return {
            "error_type": type(error).__name__,
            "error_message": trim_head(self.scrubber.scrub(str(error)), MESSAGE_LIMIT),
            "traceback": trim_tail(self.scrubber.scrub(trace), TRACEBACK_LIMIT) if trace else None,
        }


def remaining_ms(lambda_context: Any) -> int:
    return int(lambda_context.get_remaining_time_in_millis())


def prior_attempts(firing: Firing) -> list[Attempt]:
    """Attempts made by earlier invocations of the run (carried in the continuation's event)."""
    return [Attempt.from_dict(a) for a in firing.prior_attempts]
