"""First step of every invocation: turn whatever invoked the function into a ``Firing``
(which trigger, which run id, what payload, which attempt). Pure: no I/O.

Envelopes (built by the rule / schedule target, run-now, the dev server, backfill, DLQ replay
and the wrapper's own continuation invoke) look like ``{"cronplane": {"trigger": ...}}``; see
``Firing.from_event``. A plain EventBridge scheduled event counts as a schedule firing; any
other event is a manual run whose payload is the event itself.

Anyone allowed to invoke the function can send any envelope, so its fields are checked against
their documented formats before anything uses them (``InvalidEvent`` otherwise): the run id
becomes a sort key of the history table, and one like ``~lock`` would overwrite the job's lock.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronplane.runtime.exceptions import InvalidEvent
from cronplane.runtime.schema import (
    RUN_ID_FORMAT,
    Attempt,
    Trigger,
    is_run_id,
    new_run_id,
    parse_iso,
    scheduled_run_id,
    time_key,
)
from cronplane.runtime.schema.layout import run_id_time_key, run_id_triggers

ENVELOPE_KEY = "cronplane"
# Keys the wrapper adds to an envelope when it hands a retry to a new invocation.
CONTINUATION_KEYS = ("run_id", "attempt", "continuation", "attempts", "started_at", "backoff_ms")
MAX_ATTEMPTS = 20  # the manifest's largest retries.max_attempts
MAX_BACKOFF_MS = 900_000  # Lambda's longest timeout: no wait chosen by the wrapper is longer
MAX_TEXT = 1024  # triggered_by / retry_of: a caller's ARN or a run id, not a document


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
    def from_event(cls, event: Any, default_payload: Any, now: datetime, *, max_attempts: int = MAX_ATTEMPTS) -> Firing:
        """Raises ``InvalidEvent`` when an envelope field is outside its format (``max_attempts``:
        the job's own limit, which bounds a continuation's attempt number)."""
        if isinstance(event, Mapping) and isinstance(event.get(ENVELOPE_KEY), Mapping):
            inner = event[ENVELOPE_KEY]
            try:
                return _from_envelope(event, inner, default_payload, now, max_attempts)
            except InvalidEvent as exc:
                raise InvalidEvent(f"event refused: {exc}", _caller(inner)) from None
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


def _from_envelope(
    event: Mapping[str, Any], inner: Mapping[str, Any], default_payload: Any, now: datetime, max_attempts: int
) -> Firing:
    trigger = _trigger(inner.get("trigger", Trigger.MANUAL.value))
    scheduled_for = _parse_time(_optional_text(inner, "scheduled_for"), now) if inner.get("scheduled_for") else None
    if trigger is Trigger.SCHEDULE and scheduled_for is None:
        scheduled_for = now
    continuation = inner.get("continuation", False)
    if not isinstance(continuation, bool):
        raise InvalidEvent(f"continuation {_show(continuation)} is not true or false")
    run_id = inner.get("run_id")
    if run_id is not None and not is_run_id(run_id):
        raise InvalidEvent(
            f"run_id {_show(run_id)} is not a run id ({RUN_ID_FORMAT}); leave it out and the run gets a fresh one"
        )
    if run_id is not None:
        _check_run_id_fits(run_id, trigger, scheduled_for)
    if run_id is None:
        if continuation:
            raise InvalidEvent("a continuation (continuation: true) must name its run (run_id)")
        event_id = str(inner.get("event_id") or "")
        if trigger is Trigger.SCHEDULE and event_id and not _unsubstituted(event_id):
            run_id = scheduled_run_id(scheduled_for or now, event_id)
        else:
            run_id = new_run_id(now, trigger)
    attempt = _attempt(inner, continuation, max_attempts)
    # Manual runs and DLQ replays may override the job's payload; schedule and backfill never do.
    payload = copy.deepcopy(inner["payload"]) if "payload" in inner else copy.deepcopy(default_payload)
    # What the first invocation received (the run id stays: it names the run being replayed).
    dropped = set(CONTINUATION_KEYS) - {"run_id"} if continuation else set()
    original = {**event, ENVELOPE_KEY: {k: v for k, v in inner.items() if k not in dropped}}
    started_text = _optional_text(inner, "started_at")
    started_at = _parse_time(started_text, now) if continuation and started_text else None
    return Firing(
        trigger=trigger,
        run_id=str(run_id),
        payload=payload,
        scheduled_for=scheduled_for,
        triggered_by=_optional_text(inner, "triggered_by") or None,
        retry_of=_optional_text(inner, "retry_of") or None,
        attempt=attempt,
        continuation=continuation,
        prior_attempts=_prior_attempts(inner, max_attempts) if continuation else (),
        started_at=started_at,
        backoff_ms=_backoff_ms(inner) if continuation else 0,
        original_event=original,
    )


# -- the envelope's fields, each checked against its format ---------------------------------------
def _check_run_id_fits(run_id: str, trigger: Trigger, scheduled_for: datetime | None) -> None:
    """A well-formed run id may still name another trigger's run: ``<T>-backfill`` is known in
    advance, so a manual run under it would make the real backfill of ``T`` a duplicate."""
    if trigger not in run_id_triggers(run_id):
        forms = {
            Trigger.SCHEDULE: "<time>-<8 hex digits> or <time>-s<7 hex digits>",
            Trigger.MANUAL: "<time>-m<7 hex digits>",
            Trigger.RETRY: "<time>-r<7 hex digits>",
            Trigger.BACKFILL: "<time>-backfill or <time>-b<7 hex digits>",
        }
        raise InvalidEvent(
            f"run_id {_show(run_id)} is not a {trigger.value} run's id ({forms[trigger]}); "
            "leave it out and the run gets a fresh one"
        )
    if trigger is Trigger.BACKFILL and (scheduled_for is None or run_id_time_key(run_id) != time_key(scheduled_for)):
        when = "no scheduled_for" if scheduled_for is None else f"scheduled_for {time_key(scheduled_for)}"
        raise InvalidEvent(
            f"run_id {_show(run_id)} does not name the backfilled time ({when}); "
            "a backfill's run id starts with its scheduled_for"
        )


def _trigger(value: Any) -> Trigger:
    if isinstance(value, str):
        for trigger in Trigger:
            if trigger.value == value:
                return trigger
    names = ", ".join(t.value for t in Trigger)
    raise InvalidEvent(f"trigger {_show(value)} is not one of {names}")


def _attempt(inner: Mapping[str, Any], continuation: bool, max_attempts: int) -> int:
    """The attempt this invocation makes: 1, or in a continuation the one it was handed."""
    if "attempt" not in inner and not continuation:
        return 1
    value = inner.get("attempt")
    lowest = 2 if continuation else 1
    if not isinstance(value, int) or isinstance(value, bool) or not lowest <= value <= max_attempts:
        where = "a continuation makes attempt 2 or later" if continuation else "a run starts at attempt 1"
        raise InvalidEvent(
            f"attempt {_show(value)} is not an attempt of this job ({where}; the job makes at most {max_attempts})"
        )
    return value if continuation else 1


def _prior_attempts(inner: Mapping[str, Any], max_attempts: int) -> tuple[dict[str, Any], ...]:
    value = inner.get("attempts") or []
    if not isinstance(value, list) or len(value) >= max_attempts or not all(isinstance(a, Mapping) for a in value):
        raise InvalidEvent(f"attempts must be a list of at most {max_attempts - 1} earlier attempts")
    try:
        for entry in value:
            Attempt.from_dict(entry)  # what the wrapper reads from them later must read
    except (TypeError, ValueError) as exc:
        raise InvalidEvent(f"attempts holds an entry that is not an attempt ({exc})") from None
    return tuple(dict(a) for a in value)


def _backoff_ms(inner: Mapping[str, Any]) -> int:
    value = inner.get("backoff_ms", 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_BACKOFF_MS:
        raise InvalidEvent(f"backoff_ms {_show(value)} is not a wait from 0 to {MAX_BACKOFF_MS} ms")
    return value


def _optional_text(inner: Mapping[str, Any], key: str) -> str | None:
    value = inner.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InvalidEvent(f"{key} {_show(value)} is not a text of at most {MAX_TEXT} characters")
    return value


def _caller(inner: Mapping[str, Any]) -> str | None:
    """Who sent a refused envelope, when it says so in a usable form."""
    value = inner.get("triggered_by")
    return value if isinstance(value, str) and 0 < len(value) <= MAX_TEXT else None


def _show(value: Any) -> str:
    """A field's value for a message: its repr, cut short (the sender chose it)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


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
