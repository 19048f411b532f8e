"""``jobctl pause`` / ``jobctl resume``: switch a job's trigger off or on without a deploy and
record who did it and when.

Two kinds of item in the history table record a pause:

- the marker ``{job: "~paused", run_id: <job name>, actor, at, reason}``: present while the job
  is paused; the planner reads the partition (one Query) so a deploy does not silently undo it;
- an event ``{job, run_id: "<time_key>-event-pause|resume", kind: "event", action, actor, at}``
  in the job's own partition, so ``jobctl history JOB`` shows it and ``jobctl audit`` can tell
  paused periods from missed runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest import names
from cronplane.manifest.models import Manifest
from cronplane.ops.items import from_item, to_item
from cronplane.ops.switch import TriggerState, find_trigger, set_enabled
from cronplane.runtime.records import iso, parse_iso, time_key

PAUSED_PARTITION = "~paused"


class PauseAction(str, Enum):
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True)
class PauseMarker:
    job: str
    actor: str
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class PauseOutcome:
    job: str
    action: PauseAction
    changed: bool  # False when the job already was in the asked state
    message: str
    trigger: TriggerState


@dataclass(frozen=True)
class PausePeriod:
    start: datetime
    end: datetime | None  # None: still paused
    actor: str
    reason: str | None = None

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


class NotDeployedError(CronplaneError):
    """The job has no live trigger (never deployed, or destroyed)."""


def event_run_id(moment: datetime, action: PauseAction) -> str:
    return f"{time_key(moment)}-event-{action.value}"


def read_marker(dynamodb: Any, table: str, job: str) -> PauseMarker | None:
    try:
        found = dynamodb.get_item(
            TableName=table, Key={"job": {"S": PAUSED_PARTITION}, "run_id": {"S": job}}, ConsistentRead=True
        )
    except dynamodb.exceptions.ResourceNotFoundException:
        return None  # no table yet: nothing can be paused
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"could not read pause state from {table}: {exc}") from exc
    return _marker(from_item(found["Item"])) if "Item" in found else None


def list_markers(dynamodb: Any, table: str) -> list[PauseMarker]:
    """Every paused job of the namespace: one Query on the marker partition."""
    try:
        page = dynamodb.query(
            TableName=table,
            KeyConditionExpression="job = :p",
            ExpressionAttributeValues={":p": {"S": PAUSED_PARTITION}},
        )
    except dynamodb.exceptions.ResourceNotFoundException:
        return []
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"could not read pause state from {table}: {exc}") from exc
    return [_marker(from_item(item)) for item in page.get("Items", [])]


def _marker(item: dict[str, Any]) -> PauseMarker:
    return PauseMarker(
        job=item["run_id"], actor=item.get("actor") or "unknown", at=parse_iso(item["at"]), reason=item.get("reason")
    )


def pause_job(
    clients: Any, manifest: Manifest, job_name: str, *, now: datetime, reason: str | None = None
) -> PauseOutcome:
    job = manifest.job(job_name)
    table = names.history_table(manifest.namespace)
    trigger = _live_trigger(clients, manifest, job_name)
    marker = read_marker(clients.dynamodb, table, job_name)
    if marker is not None:
        if trigger.enabled:
            # Someone re-enabled it behind the marker's back (console, old deploy): pause holds.
            set_enabled(clients, trigger, False)
            return PauseOutcome(
                job_name,
                PauseAction.PAUSE,
                True,
                f"{job_name} was marked paused by {marker.actor} since {iso(marker.at)} but its "
                f"{trigger.label} was enabled; disabled it again",
                trigger,
            )
        return PauseOutcome(
            job_name,
            PauseAction.PAUSE,
            False,
            f"{job_name} is already paused (by {marker.actor} since {iso(marker.at)}); nothing to do",
            trigger,
        )
    actor = clients.caller_arn()
    # The marker goes first: if switching the trigger then fails, the next `jobctl pause` finds
    # the marker and finishes the job; a deploy in between already keeps it paused.
    _write_marker(clients.dynamodb, table, job_name, actor, now, reason)
    if trigger.enabled:
        set_enabled(clients, trigger, False)
    _write_event(clients.dynamodb, table, job_name, PauseAction.PAUSE, actor, now, reason, trigger, manifest)
    note = "" if job.enabled else " (it is also disabled in the manifest: enabled: false)"
    return PauseOutcome(
        job_name,
        PauseAction.PAUSE,
        True,
        f"paused {job_name}: {trigger.label} disabled by {actor} at {iso(now)}{note}",
        trigger,
    )


def resume_job(
    clients: Any, manifest: Manifest, job_name: str, *, now: datetime, reason: str | None = None
) -> PauseOutcome:
    job = manifest.job(job_name)
    table = names.history_table(manifest.namespace)
    trigger = _live_trigger(clients, manifest, job_name)
    marker = read_marker(clients.dynamodb, table, job_name)
    if marker is None and trigger.enabled:
        return PauseOutcome(
            job_name,
            PauseAction.RESUME,
            False,
            f"{job_name} is not paused ({trigger.label} is enabled); nothing to do",
            trigger,
        )
    if not job.enabled:
        raise CronplaneError(
            f"{manifest.path}: {job_name} has enabled: false, so resuming would be undone by the next deploy; "
            f"set enabled: true and run `jobctl deploy`"
        )
    actor = clients.caller_arn()
    if not trigger.enabled:
        set_enabled(clients, trigger, True)
    _write_event(clients.dynamodb, table, job_name, PauseAction.RESUME, actor, now, reason, trigger, manifest)
    if marker is not None:
        _delete_marker(clients.dynamodb, table, job_name)
        since = f" (paused by {marker.actor} since {iso(marker.at)})"
    else:
        since = " (it was disabled without `jobctl pause`)"
    return PauseOutcome(
        job_name,
        PauseAction.RESUME,
        True,
        f"resumed {job_name}: {trigger.label} enabled by {actor} at {iso(now)}{since}",
        trigger,
    )


def _live_trigger(clients: Any, manifest: Manifest, job_name: str) -> TriggerState:
    trigger = find_trigger(clients, manifest, manifest.job(job_name))
    if trigger is None:
        raise NotDeployedError(
            f"{job_name} has no EventBridge rule or Scheduler schedule in namespace {manifest.namespace}: "
            f"deploy it first (`jobctl deploy`)"
        )
    return trigger


def _write_marker(dynamodb: Any, table: str, job: str, actor: str, now: datetime, reason: str | None) -> None:
    item = to_item({"job": PAUSED_PARTITION, "run_id": job, "actor": actor, "at": iso(now), "reason": reason})
    _put(dynamodb, table, item)


def _delete_marker(dynamodb: Any, table: str, job: str) -> None:
    try:
        dynamodb.delete_item(TableName=table, Key={"job": {"S": PAUSED_PARTITION}, "run_id": {"S": job}})
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"could not clear the pause marker of {job} in {table}: {exc}") from exc


def _write_event(
    dynamodb: Any,
    table: str,
    job: str,
    action: PauseAction,
    actor: str,
    now: datetime,
    reason: str | None,
    trigger: TriggerState,
    manifest: Manifest,
) -> None:
    # Events expire with the runs they explain (same retention as run records).
    ttl = int((now + timedelta(days=manifest.history.retention_days)).timestamp())
    item = to_item(
        {
            "job": job,
            "run_id": event_run_id(now, action),
            "kind": "event",
            "action": action.value,
            "actor": actor,
            "at": iso(now),
            "reason": reason,
            "trigger": trigger.label,
            "ttl": ttl,
        }
    )
    _put(dynamodb, table, item)


def _put(dynamodb: Any, table: str, item: dict[str, Any]) -> None:
    try:
        dynamodb.put_item(TableName=table, Item=item)
    except dynamodb.exceptions.ResourceNotFoundException as exc:
        raise AwsError(f"history table {table} does not exist: deploy the manifest first (`jobctl deploy`)") from exc
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"could not write to the history table {table}: {exc}") from exc


def pause_periods(
    items: Iterable[dict[str, Any]], marker: PauseMarker | None, since: datetime, until: datetime
) -> list[PausePeriod]:
    """Paused stretches of [since, until] from the pause / resume events read with the window
    and the current marker. A window that opens with a resume, or has no events while the marker
    is present, started out paused."""
    events = sorted(
        (i for i in items if i.get("kind") == "event" and i.get("action") in ("pause", "resume")),
        key=lambda i: (i["at"], i["run_id"]),
    )
    periods: list[PausePeriod] = []
    start: datetime | None = None
    actor, reason = "unknown", None
    if events and events[0]["action"] == "resume":
        start, actor = since, "before the window"
    elif not events and marker is not None and marker.at <= until:
        start, actor, reason = max(since, marker.at), marker.actor, marker.reason
    for event in events:
        at = parse_iso(event["at"])
        if event["action"] == "pause" and start is None:
            start, actor, reason = at, event.get("actor") or "unknown", event.get("reason")
        elif event["action"] == "resume" and start is not None:
            periods.append(PausePeriod(start, at, actor, reason))
            start = None
    if start is not None:
        periods.append(PausePeriod(start, None, actor, reason))
    return periods
