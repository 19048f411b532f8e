"""The typed records of the history table, and the only conversion between them and DynamoDB
items (``to_item`` / ``from_item``). Standard library only.

Every record has two forms besides itself: its item (what DynamoDB stores) and its plain form
(``as_dict``: the item's attributes as JSON values, which is also what the runtime returns to
Lambda, logs and puts in DLQ messages). ``Record.from_item`` reads an item the caller knows the
kind of; ``from_item`` tells the kind by the item's keys. Times are ``iso()`` strings, exactly as
stored; statuses, triggers and actions are the stored text (a record written by a newer runtime
still reads).

Records are ``NamedTuple``s: immutable and typed like frozen dataclasses, at a quarter of the
class-creation cost that every cold start pays (``tests/unit/runtime/test_entry.py``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from cronplane.runtime.schema.layout import (
    ALERT_SORT_PREFIX,
    DEPLOY_LOCK_JOB,
    GSI_PK_VALUE,
    KIND_EVENT,
    KIND_LOCK,
    KIND_RUN,
    LOCK_SORT_KEY,
    PAUSED_PARTITION,
)

if TYPE_CHECKING:
    from cronplane.runtime.schema.control import AlertRecord, DeployLockRecord, PauseEvent, PauseMarker, WatchStart

Item: TypeAlias = dict[str, Any]  # DynamoDB's typed form: {"job": {"S": "..."}, ...}


class Attempt(NamedTuple):
    """One attempt of a run, as kept in the run record's ``attempts`` list."""

    attempt: int
    started_at: str | None = None
    request_id: str | None = None
    duration_ms: int | None = None
    error_type: str | None = None  # None: the attempt succeeded (or has not ended)
    error_message: str | None = None
    traceback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "started_at": self.started_at,
            "request_id": self.request_id,
            "duration_ms": self.duration_ms,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "traceback": self.traceback,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Attempt:
        return cls(
            attempt=int_or_zero(values.get("attempt")),
            started_at=text_or_none(values.get("started_at")),
            request_id=text_or_none(values.get("request_id")),
            duration_ms=int_or_none(values.get("duration_ms")),
            error_type=text_or_none(values.get("error_type")),
            error_message=text_or_none(values.get("error_message")),
            traceback=text_or_none(values.get("traceback")),
        )


# Written only when set (every other field of a run record is always there, None as NULL).
_RUN_OPTIONAL = ("retry_of", "yielded_to", "duplicate_of", "next_attempt")


class RunRecord(NamedTuple):
    """A run (or a ``duplicate`` / ``skipped`` marker, which is a run record of that status):
    item (job, run_id) with ``kind = "run"`` and ``gsi_pk = "run"``. Written by the runtime."""

    job: str
    run_id: str
    status: str = ""  # a RunStatus value (never ``lost``: that is derived on read)
    trigger: str | None = None  # a Trigger value
    namespace: str | None = None
    scheduled_for: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    attempts: tuple[Attempt, ...] = ()
    duration_ms: int | None = None
    request_id: str | None = None
    triggered_by: str | None = None
    result: str | None = None  # the job's return value as JSON text, cut at 4 KB
    error: str | None = None  # "Type: message"
    ttl: int | None = None  # epoch seconds
    deadline: str | None = None  # when a `running` record counts as lost
    function_name: str | None = None
    invocation_id: str | None = None  # unique per handler call: tells our own late write apart
    retry_of: str | None = None  # a retry (DLQ replay): the run it re-runs
    yielded_to: str | None = None  # skipped (concurrency: forbid): the run holding the lock
    duplicate_of: str | None = None  # a second delivery: the run it duplicates
    next_attempt: int | None = None  # retrying: the attempt the continuation makes

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "job": self.job,
            "run_id": self.run_id,
            "kind": KIND_RUN,
            "gsi_pk": GSI_PK_VALUE,
            "namespace": self.namespace,
            "trigger": self.trigger,
            "scheduled_for": self.scheduled_for,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "attempts": [a.as_dict() for a in self.attempts],
            "duration_ms": self.duration_ms,
            "request_id": self.request_id,
            "triggered_by": self.triggered_by,
            "result": self.result,
            "error": self.error,
            "ttl": self.ttl,
            "deadline": self.deadline,
            "function_name": self.function_name,
            "invocation_id": self.invocation_id,
        }
        for name in _RUN_OPTIONAL:
            if getattr(self, name) is not None:
                values[name] = getattr(self, name)
        return values

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RunRecord:
        return cls.from_dict(plain_item(item))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunRecord:
        attempts = values.get("attempts") or ()
        return cls(
            job=text(values.get("job")),
            run_id=text(values.get("run_id")),
            status=text(values.get("status")),
            trigger=text_or_none(values.get("trigger")),
            namespace=text_or_none(values.get("namespace")),
            scheduled_for=text_or_none(values.get("scheduled_for")),
            started_at=text_or_none(values.get("started_at")),
            finished_at=text_or_none(values.get("finished_at")),
            attempts=tuple(Attempt.from_dict(a) for a in attempts if isinstance(a, Mapping)),
            duration_ms=int_or_none(values.get("duration_ms")),
            request_id=text_or_none(values.get("request_id")),
            triggered_by=text_or_none(values.get("triggered_by")),
            result=text_or_none(values.get("result")),
            error=text_or_none(values.get("error")),
            ttl=int_or_none(values.get("ttl")),
            deadline=text_or_none(values.get("deadline")),
            function_name=text_or_none(values.get("function_name")),
            invocation_id=text_or_none(values.get("invocation_id")),
            retry_of=text_or_none(values.get("retry_of")),
            yielded_to=text_or_none(values.get("yielded_to")),
            duplicate_of=text_or_none(values.get("duplicate_of")),
            next_attempt=int_or_none(values.get("next_attempt")),
        )


class RunLock(NamedTuple):
    """The per-job overlap lock of ``concurrency: forbid``: item (job, "~lock")."""

    job: str
    holder: str  # run id of the run holding it
    expires_at: int  # epoch seconds: started + function timeout; free again after that
    ttl: int | None = None
    acquired_at: str | None = None

    def held_at(self, now_epoch: int) -> bool:
        """Whether the lock still holds at ``now_epoch``: an item without a holder or an expiry
        (not a lock at all) never does, so a bad item under the lock's key cannot block the job.
        The runtime's conditional write (``store.LOCK_FREE_CONDITION``) applies the same rule."""
        return bool(self.holder) and self.expires_at >= now_epoch

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "run_id": LOCK_SORT_KEY,
            "kind": KIND_LOCK,
            "holder": self.holder,
            "expires_at": self.expires_at,
            "acquired_at": self.acquired_at,
            "ttl": self.ttl,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RunLock:
        return cls.from_dict(plain_item(item))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunLock:
        return cls(
            job=text(values.get("job")),
            holder=text(values.get("holder")),
            expires_at=int_or_zero(values.get("expires_at")),
            ttl=int_or_none(values.get("ttl")),
            acquired_at=text_or_none(values.get("acquired_at")),
        )


HistoryRecord: TypeAlias = (
    "RunRecord | RunLock | PauseEvent | PauseMarker | DeployLockRecord | AlertRecord | WatchStart"
)


def to_item(record: HistoryRecord) -> Item:
    """The record as DynamoDB stores it."""
    return {name: _attribute(value) for name, value in record.as_dict().items()}


def from_item(item: Mapping[str, Any]) -> HistoryRecord:
    """Whichever record ``item`` is, told by its keys and ``kind``. A projected item (a Query
    that reads a few attributes) gives a record with the rest at their defaults."""
    values = plain_item(item)
    return _record_class(values).from_dict(values)


def _record_class(values: Mapping[str, Any]) -> type[HistoryRecord]:
    job = values.get("job")
    sort_key = str(values.get("run_id") or "")
    alert = sort_key.startswith(ALERT_SORT_PREFIX)
    if job not in (PAUSED_PARTITION, DEPLOY_LOCK_JOB) and values.get("kind") != KIND_EVENT and not alert:
        return RunLock if sort_key == LOCK_SORT_KEY else RunRecord
    from cronplane.runtime.schema import control  # only jobctl writes these: not loaded at cold start

    if alert:
        return control.WatchStart if sort_key == control.WATCH_SORT_KEY else control.AlertRecord
    if job == PAUSED_PARTITION:
        return control.PauseMarker
    if job == DEPLOY_LOCK_JOB:
        return control.DeployLockRecord
    return control.PauseEvent


# -- attribute values -----------------------------------------------------------------------
def _attribute(value: Any) -> dict[str, Any]:
    """Plain value -> DynamoDB attribute value (no sets; numbers as N)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": str(value)}  # str(): a str-valued Enum goes in as its value
    if isinstance(value, Mapping):
        return {"M": {str(k): _attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_attribute(v) for v in value]}
    return {"S": str(value)}


def _plain(attribute: Mapping[str, Any]) -> Any:
    """DynamoDB attribute value -> plain value (numbers as int when whole)."""
    ((kind, value),) = attribute.items()
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return bool(value)
    if kind == "N":
        return _decimal(value)
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    if kind == "L":
        return [_plain(v) for v in value]
    if kind == "NS":
        return [_decimal(v) for v in value]
    if kind == "B":
        return base64.b64encode(bytes(value)).decode()
    if kind == "BS":
        return [base64.b64encode(bytes(v)).decode() for v in value]
    return list(value) if kind == "SS" else value


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _plain(value) for name, value in item.items()}


def _decimal(text: str) -> int | float:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(number)


def without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def text(value: Any, default: str = "") -> str:
    """A text field; ``default`` only when the item does not have it (an empty one stays empty)."""
    return default if value is None else str(value)


def int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def int_or_zero(value: Any) -> int:
    return int(value or 0)
