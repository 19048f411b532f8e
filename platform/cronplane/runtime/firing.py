"""First step of every invocation: turn whatever invoked the function into a ``Firing``
(which trigger, which run id, what payload, which attempt). Pure: no I/O.

Envelopes (built by the rule / schedule target, run-now, the dev server, backfill, DLQ replay
and the wrapper's own continuation invoke) look like ``{"cronplane": {"trigger": ...}}``; see
``Firing.from_event``. A plain EventBridge scheduled event counts as a schedule firing; any
other event is a manual run whose payload is the event itself.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronplane.runtime.schema import Trigger, new_run_id, parse_iso, scheduled_run_id

ENVELOPE_KEY = "cronplane"
# Keys the wrapper adds to an envelope when it hands a retry to a new invocation.
CONTINUATION_KEYS = ("run_id", "attempt", "continuation", "attempts", "started_at", "backoff_ms")


@dataclass(frozen=True)
class Firing:
    trigger: Trigger
    run_id: str
    payload: Any
    scheduled_for: datetime | None = None
    triggered_by: str | None = None
    retry_of: str | None = None
    attempt: int = 1  # the first attempt this invocation makes
    continuation: bool = False
    prior_attempts: tuple[Mapping[str, Any], ...] = ()  # attempts made by earlier invocations
    started_at: datetime | None = None  # when the run started (a continuation keeps the first)
    backoff_ms: int = 0  # wait chosen by the invocation that handed this attempt over
    # The envelope as first delivered (continuation keys removed): what DLQ replay needs.
    original_event: Any = field(default=None, compare=False)

    @classmethod
    def from_event(cls, event: Any, default_payload: Any, now: datetime) -> Firing:
        if isinstance(event, Mapping) and isinstance(event.get(ENVELOPE_KEY), Mapping):
            return _from_envelope(event, event[ENVELOPE_KEY], default_payload, now)
        if isinstance(event, Mapping) and event.get("source") == "aws.events" and "time" in event:
            scheduled_for = _parse_time(event.get("time"), now)
            event_id = str(event.get("id") or "")
            resources = event.get("resources") or []
            return cls(
                trigger=Trigger.SCHEDULE,
                run_id=scheduled_run_id(scheduled_for, event_id) if event_id else new_run_id(now, Trigger.SCHEDULE),
                payload=copy.deepcopy(default_payload),
                scheduled_for=scheduled_for,
                triggered_by=str(resources[0]) if resources else None,
                original_event=event,
            )
        # `aws lambda invoke` without a payload sends {} (or null): run with the job's payload.
        payload = copy.deepcopy(default_payload) if event in (None, {}) else event
        return cls(
            trigger=Trigger.MANUAL, run_id=new_run_id(now, Trigger.MANUAL), payload=payload, original_event=event
        )

    def envelope_for_attempt(
        self, attempt: int, attempts: Sequence[Mapping[str, Any]], started_at: str, backoff_ms: int
    ) -> dict[str, Any]:
        """The event of the continuation invocation that makes ``attempt``: the original
        envelope plus the run id, the attempt number and every attempt so far."""
        base = self.original_event if _is_envelope(self.original_event) else self._as_envelope()
        event = copy.deepcopy(dict(base))
        inner = dict(event[ENVELOPE_KEY])
        if "payload" not in inner and self.trigger in (Trigger.MANUAL, Trigger.RETRY):
            inner["payload"] = self.payload
        inner.update(
            run_id=self.run_id,
            attempt=attempt,
            continuation=True,
            attempts=list(attempts),
            started_at=started_at,
            backoff_ms=backoff_ms,
        )
        event[ENVELOPE_KEY] = inner
        return event

    def _as_envelope(self) -> dict[str, Any]:
        inner: dict[str, Any] = {"trigger": self.trigger.value, "run_id": self.run_id}
        if self.scheduled_for is not None:
            inner["scheduled_for"] = self.scheduled_for.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.triggered_by:
            inner["triggered_by"] = self.triggered_by
        if self.trigger is Trigger.MANUAL:
            inner["payload"] = self.payload
        return {ENVELOPE_KEY: inner}


def _from_envelope(event: Mapping[str, Any], inner: Mapping[str, Any], default_payload: Any, now: datetime) -> Firing:
    try:
        trigger = Trigger(str(inner.get("trigger", "manual")))
    except ValueError:
        trigger = Trigger.MANUAL
    scheduled_for = _parse_time(inner["scheduled_for"], now) if inner.get("scheduled_for") else None
    if trigger is Trigger.SCHEDULE and scheduled_for is None:
        scheduled_for = now
    run_id = inner.get("run_id")
    if not run_id:
        event_id = str(inner.get("event_id") or "")
        if trigger is Trigger.SCHEDULE and event_id and not _unsubstituted(event_id):
            run_id = scheduled_run_id(scheduled_for or now, event_id)
        else:
            run_id = new_run_id(now, trigger)
    # Manual runs and DLQ replays may override the job's payload; schedule and backfill never do.
    payload = copy.deepcopy(inner["payload"]) if "payload" in inner else copy.deepcopy(default_payload)
    continuation = bool(inner.get("continuation"))
    # What the first invocation received (the run id stays: it names the run being replayed).
    dropped = set(CONTINUATION_KEYS) - {"run_id"} if continuation else set()
    original = {**event, ENVELOPE_KEY: {k: v for k, v in inner.items() if k not in dropped}}
    started_at = _parse_time(inner["started_at"], now) if continuation and inner.get("started_at") else None
    return Firing(
        trigger=trigger,
        run_id=str(run_id),
        payload=payload,
        scheduled_for=scheduled_for,
        triggered_by=str(inner["triggered_by"]) if inner.get("triggered_by") else None,
        retry_of=str(inner["retry_of"]) if inner.get("retry_of") else None,
        attempt=max(1, int(inner.get("attempt", 1))) if continuation else 1,
        continuation=continuation,
        prior_attempts=tuple(dict(a) for a in inner.get("attempts", ()) or ()) if continuation else (),
        started_at=started_at,
        backoff_ms=max(0, int(inner.get("backoff_ms", 0))) if continuation else 0,
        original_event=original,
    )


def _is_envelope(event: Any) -> bool:
    return isinstance(event, Mapping) and isinstance(event.get(ENVELOPE_KEY), Mapping)


def _unsubstituted(value: str) -> bool:
    """A context attribute Scheduler did not fill in (e.g. a test invoke of the target)."""
    return value.startswith("<")


def _parse_time(value: Any, now: datetime) -> datetime:
    text = str(value or "")
    if not text or _unsubstituted(text):
        return now
    try:
        moment = parse_iso(text)
    except ValueError:
        return now
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
