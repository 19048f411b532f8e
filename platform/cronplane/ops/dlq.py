"""``jobctl dlq``: what is in a job's dead-letter queue, and replaying it.

Three producers write to the per-job DLQ, each in its own shape:

- the cronplane wrapper, on a run's final failure or timeout: a JSON body with
  ``"source": "cronplane"``, the run id, every attempt, the error and the original event;
- EventBridge (rule target) or Scheduler, when it could not deliver a firing to the function:
  the event as the body, and what went wrong in message attributes (``ERROR_CODE``,
  ``ERROR_MESSAGE``, ``RETRY_ATTEMPTS``, ``RULE_ARN`` or ``SCHEDULE_ARN`` ...);
- Lambda's on-failure destination, when the function itself crashed before the wrapper could
  record it: ``requestContext`` / ``requestPayload`` / ``responseContext`` / ``responsePayload``.

Listing must not consume anything: messages are received with a short visibility timeout
(so every receive returns ones not yet seen), then made visible again at once. Replay keeps the
chosen messages hidden while it works and deletes one only after Lambda accepted its replay;
a replay that fails makes its message visible again. A ``concurrency: forbid`` job's replays go
one at a time (``ops.waiting``): started together they would skip each other, and a skipped
replay ran nothing, so its message stays.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from cronplane.aws.client import AwsCallError
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest import names
from cronplane.ops.launch import Invoker, retry_envelope
from cronplane.ops.waiting import LockHeldError, RunWaiter
from cronplane.runtime.schema import RunStatus, Trigger, iso, new_run_id, parse_iso, scheduled_run_id

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

HOLD_SECONDS = 60  # how long listed messages stay hidden if releasing them fails
BATCH = 10  # SQS's maximum per receive / change-visibility batch


class DlqSource(str, Enum):
    WRAPPER = "wrapper"  # the cronplane runtime, after the run's last attempt
    DELIVERY = "delivery"  # EventBridge / Scheduler could not deliver the firing
    LAMBDA = "lambda"  # Lambda's on-failure destination: the function crashed
    UNKNOWN = "unknown"  # not written by any of the above; never replayed


@dataclass(frozen=True)
class DlqMessage:
    message_id: str
    receipt_handle: str
    source: DlqSource
    run_id: str | None  # the failed run (derived from the firing when it never started)
    when: str | None  # ISO time of the failure (or of the send)
    attempts: int | None
    error: str
    event: Any  # the event the failed invocation received
    trigger: str | None = None
    detail: str = ""  # rule / schedule ARN, or Lambda's condition
    payload: Any = None  # what the job's function got, and a replay gives it again; None: the job's configured payload

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "source": self.source.value,
            "run_id": self.run_id,
            "when": self.when,
            "attempts": self.attempts,
            "error": self.error,
            "trigger": self.trigger,
            "detail": self.detail,
            "event": self.event,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class ReplayResult:
    message: DlqMessage
    new_run_id: str | None
    accepted: bool
    deleted: bool
    error: str | None = None
    status: str | None = None  # the replay's final status, when it was waited for (forbid jobs)


class DlqNotFoundError(CronplaneError):
    """The job's dead-letter queue does not exist (not deployed)."""


def queue_url(sqs: SQSClient, namespace: str, job: str) -> str:
    """The URL of ``job``'s dead-letter queue, once its ``cronplane:namespace`` tag says it is
    this namespace's (``names.NotOursError`` otherwise: its messages are another namespace's
    runs, not to be listed, replayed or deleted from here)."""
    name = names.dlq_name(namespace, job)
    try:
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except AwsCallError as exc:
        if exc.not_found:
            raise DlqNotFoundError(f"{job} has no dead-letter queue {name}: deploy it first (`jobctl deploy`)") from exc
        raise
    tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
    names.check_owner(f"SQS queue {name}", namespace, tags, doing="read or replay its messages")
    return url


def list_messages(sqs: SQSClient, url: str, *, wait_seconds: int = 1) -> list[DlqMessage]:
    """Every message in the queue, oldest first, left in the queue and visible."""
    held = _receive_all(sqs, url, wait_seconds)
    _release(sqs, url, held)
    return held


def replay(
    sqs: SQSClient,
    url: str,
    invoker: Invoker,
    job: str,
    message_ids: Iterable[str],
    *,
    triggered_by: str,
    now: datetime,
    wait_seconds: int = 1,
    new_id: Callable[[], str] | None = None,
    waiter: RunWaiter | None = None,
) -> list[ReplayResult]:
    """Re-run each chosen message's event as a new ``retry`` run of ``job`` pointing at the
    failed run; delete the message only once Lambda accepted the replay (202).

    ``waiter`` (a ``concurrency: forbid`` job) makes the replays one at a time: each starts when
    the job's lock is free and is followed to its final status; one that yielded to an
    overlapping run (``skipped``) did not run, so its message stays."""
    wanted = set(message_ids)
    held = _receive_all(sqs, url, wait_seconds)
    chosen = [m for m in held if m.message_id in wanted]
    pending = {m.message_id: m for m in chosen}
    _release(sqs, url, [m for m in held if m.message_id not in wanted])
    results = []
    if waiter is not None:
        # One at a time, each up to two waits: keep every chosen message hidden (and its
        # receipt valid) until its turn is over, not just the first HOLD_SECONDS.
        for message in chosen:
            _hold(sqs, url, message, int(2 * waiter.limit_s * len(chosen)) + HOLD_SECONDS)
    try:
        for message in chosen:
            result = _replay_one(sqs, url, invoker, job, message, triggered_by, now, new_id, waiter)
            if result.deleted:
                del pending[message.message_id]
            results.append(result)
            if result.error and result.error.startswith(_STOPPED):
                break  # the lock is stuck: the rest would wait as long for nothing
    finally:
        # Whatever was not deleted (failed, skipped, or interrupted) goes back, visible.
        _release(sqs, url, list(pending.values()))
    return results


_STOPPED = "stopped: "


def _replay_one(
    sqs: SQSClient,
    url: str,
    invoker: Invoker,
    job: str,
    message: DlqMessage,
    triggered_by: str,
    now: datetime,
    new_id: Callable[[], str] | None,
    waiter: RunWaiter | None,
) -> ReplayResult:
    if message.source is DlqSource.UNKNOWN or message.run_id is None:
        return ReplayResult(message, None, False, False, "not a cronplane dead letter: left in the queue")
    status = None
    if waiter is not None:
        try:
            waiter.lock_free("replay")
        except LockHeldError as exc:
            return ReplayResult(message, None, False, False, f"{_STOPPED}{exc}")
    run_id = new_id() if new_id else new_run_id(now, Trigger.RETRY)
    envelope = retry_envelope(run_id, message.run_id, message.payload, triggered_by)
    outcome = invoker.invoke_async(job, envelope)
    if not outcome.accepted:
        return ReplayResult(message, run_id, False, False, outcome.error or "invoke not accepted")
    if waiter is not None:
        status = waiter.final_status(run_id)
        if status == RunStatus.SKIPPED.value:
            return ReplayResult(
                message, run_id, True, False, "it yielded to an overlapping run (skipped), so the message stays", status
            )
    try:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message.receipt_handle)
    except AwsError as exc:  # any failure: the replay itself went out, say so
        return ReplayResult(
            message, run_id, True, False, f"replayed, but the message could not be deleted: {exc}", status
        )
    return ReplayResult(
        message,
        run_id,
        True,
        True,
        None if status or waiter is None else "not final yet; follow it with `jobctl history`",
        status,
    )


def _hold(sqs: SQSClient, url: str, message: DlqMessage, seconds: int) -> None:
    # On failure it was hidden for HOLD_SECONDS already; at worst it shows again while we wait.
    with contextlib.suppress(AwsError):
        # 12 hours is SQS's longest visibility timeout.
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=min(seconds, 43_200)
        )


def replay_payload(event: Any) -> Any:
    """What a run of ``event`` gave the job, when only the event is known (the wrapper's own
    message says it outright): the envelope's payload override (manual runs, earlier replays),
    the raw event of a plain invoke, and otherwise None (the job's configured payload, as a
    scheduled or backfill run has)."""
    if isinstance(event, dict) and isinstance(event.get("cronplane"), dict):
        return event["cronplane"].get("payload")
    if isinstance(event, dict) and event.get("source") == "aws.events":
        return None
    return None if event in (None, {}) else event


# -- receiving ------------------------------------------------------------------------------
def _receive_all(sqs: SQSClient, url: str, wait_seconds: int) -> list[DlqMessage]:
    seen: dict[str, DlqMessage] = {}
    try:
        # Long polling asks every SQS server (short polls sample a few), but its last, empty
        # answer costs the whole wait: only wait while fewer than the queue's count were seen.
        counted = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        expected = int(counted.get("Attributes", {}).get("ApproximateNumberOfMessages", "0"))
        while True:
            wait = wait_seconds if len(seen) < expected else 0
            answer = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=BATCH,
                VisibilityTimeout=HOLD_SECONDS,
                WaitTimeSeconds=wait,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
            fresh = [m for m in answer.get("Messages", []) if m["MessageId"] not in seen]
            if not fresh:
                break
            for raw in fresh:
                seen[raw["MessageId"]] = parse_message(raw)
    except AwsError:
        _release(sqs, url, list(seen.values()))
        raise
    return sorted(seen.values(), key=lambda m: (m.when or "", m.message_id))


def _release(sqs: SQSClient, url: str, messages: list[DlqMessage]) -> None:
    for start in range(0, len(messages), BATCH):
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start : start + BATCH])
        ]
        # On failure they come back by themselves after HOLD_SECONDS; nothing is lost.
        with contextlib.suppress(AwsError):
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


# -- parsing --------------------------------------------------------------------------------
def parse_message(raw: Mapping[str, Any]) -> DlqMessage:
    """One SQS message as a ``DlqMessage``, whichever producer wrote it."""
    attributes = {k: v.get("StringValue", "") for k, v in (raw.get("MessageAttributes") or {}).items()}
    sent = _epoch_ms_iso(raw.get("Attributes", {}).get("SentTimestamp"))
    base = {"message_id": raw["MessageId"], "receipt_handle": raw["ReceiptHandle"]}
    try:
        body = json.loads(raw.get("Body") or "")
    except ValueError:
        body = raw.get("Body")
    if isinstance(body, dict) and body.get("source") == "cronplane":
        attempts = body.get("attempts") or []
        last = attempts[-1] if attempts else {}
        return DlqMessage(
            **base,
            source=DlqSource.WRAPPER,
            run_id=body.get("run_id"),
            when=last.get("started_at") or body.get("finished_at") or sent,
            attempts=len(attempts) or None,
            error=str(body.get("error") or _attempt_error(last)),
            event=body.get("event"),
            trigger=body.get("trigger"),
            detail=str(body.get("status") or ""),
            # The wrapper says what the job got; older bodies only carry the event.
            payload=body["payload"] if "payload" in body else replay_payload(body.get("event")),
        )
    if isinstance(body, dict) and "requestContext" in body and "requestPayload" in body:
        context = body.get("requestContext") or {}
        response = body.get("responsePayload") or {}
        error = response.get("errorMessage") if isinstance(response, dict) else None
        kind = response.get("errorType") if isinstance(response, dict) else None
        event = body.get("requestPayload")
        return DlqMessage(
            **base,
            source=DlqSource.LAMBDA,
            run_id=firing_run_id(event),
            when=_normal_time(body.get("timestamp")) or sent,
            attempts=context.get("approximateInvokeCount"),
            error=": ".join(p for p in (kind, error) if p) or str(context.get("condition", "")),
            event=event,
            trigger=_trigger_of(event),
            detail=str(context.get("condition") or ""),
            payload=replay_payload(event),
        )
    if "ERROR_CODE" in attributes or "RULE_ARN" in attributes or "SCHEDULE_ARN" in attributes:
        retries = attributes.get("RETRY_ATTEMPTS")
        error = ": ".join(p for p in (attributes.get("ERROR_CODE"), attributes.get("ERROR_MESSAGE")) if p)
        return DlqMessage(
            **base,
            source=DlqSource.DELIVERY,
            run_id=firing_run_id(body),
            when=sent,
            attempts=int(retries) + 1 if retries and retries.isdigit() else None,
            error=error,
            event=body,
            trigger=_trigger_of(body),
            detail=attributes.get("RULE_ARN") or attributes.get("SCHEDULE_ARN") or "",
            payload=replay_payload(body),
        )
    return DlqMessage(**base, source=DlqSource.UNKNOWN, run_id=None, when=sent, attempts=None, error="", event=body)


def firing_run_id(event: Any) -> str | None:
    """The run id the runtime gives (or would have given) this event: the envelope's own, or
    the one derived from a scheduled firing's time and event / execution id."""
    if not isinstance(event, dict):
        return None
    inner = event.get("cronplane")
    if isinstance(inner, dict):
        if inner.get("run_id"):
            return str(inner["run_id"])
        if inner.get("event_id") and inner.get("scheduled_for"):
            return _scheduled_id(inner["scheduled_for"], inner["event_id"])
        return None
    if event.get("source") == "aws.events" and event.get("id") and event.get("time"):
        return _scheduled_id(event["time"], event["id"])
    return None


def _scheduled_id(scheduled_for: Any, firing_id: Any) -> str | None:
    try:
        return scheduled_run_id(parse_iso(str(scheduled_for)), str(firing_id))
    except ValueError:  # an unsubstituted "<aws.scheduler.scheduled-time>"
        return None


def _trigger_of(event: Any) -> str | None:
    if isinstance(event, dict) and isinstance(event.get("cronplane"), dict):
        return str(event["cronplane"].get("trigger") or "") or None
    if isinstance(event, dict) and event.get("source") == "aws.events":
        return Trigger.SCHEDULE.value
    return None


def _attempt_error(attempt: dict[str, Any]) -> str:
    return ": ".join(str(p) for p in (attempt.get("error_type"), attempt.get("error_message")) if p)


def _normal_time(value: Any) -> str | None:
    """Lambda's ``2026-11-27T11:00:09.123Z`` as the records' second-precision form."""
    try:
        return iso(parse_iso(str(value)))
    except ValueError:
        return None


def _epoch_ms_iso(value: Any) -> str | None:
    try:
        moment = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
