"""``jobctl pause`` / ``jobctl resume``: switch a job's trigger off or on without a deploy and
record who did it and when.

Two records in the history table (``cronplane.runtime.schema``) record a pause:

- the ``PauseMarker`` (partition ``~paused``): present while the job is paused; the planner
  reads the partition (one Query) so a deploy does not silently undo it;
- a ``PauseEvent`` in the job's own partition, so ``jobctl history JOB`` shows it and
  ``jobctl audit`` can tell paused periods from missed runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from cronplane.aws.client import AwsCallError
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest import names
from cronplane.manifest.models import Manifest
from cronplane.ops.matching import PausePeriod as PausePeriod  # handed on (moved to the engine)
from cronplane.ops.matching import pause_periods as pause_periods
from cronplane.ops.switch import TriggerState, find_trigger, set_enabled
from cronplane.runtime.schema import (
    PAUSED_PARTITION,
    HistoryRecord,
    PauseAction,
    PauseEvent,
    PauseMarker,
    iso,
    item_key,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from cronplane.aws.client import AwsClient


class PauseCase(str, Enum):
    """What ``pause_job`` / ``resume_job`` found and did."""

    PAUSED = "paused"  # marker and event written, trigger disabled
    ALREADY_PAUSED = "already_paused"  # a marker and a disabled trigger: nothing to do
    PAUSE_RESTORED = "pause_restored"  # a marker, but someone re-enabled the trigger: disabled again
    RESUMED = "resumed"  # trigger enabled, event written, marker removed
    NOT_PAUSED = "not_paused"  # no marker and the trigger enabled: nothing to do


@dataclass(frozen=True)
class PauseOutcome:
    """Facts for the CLI to word (``cli/views/ops.pause_text``)."""

    job: str
    action: PauseAction
    case: PauseCase
    trigger: TriggerState
    actor: str | None = None  # who switched it now (None: nothing was switched by this call)
    at: datetime | None = None
    marker: PauseMarker | None = None  # the pause found before this call (who, since when)
    disabled_in_manifest: bool = False  # the manifest says enabled: false as well

    @property
    def changed(self) -> bool:
        """False when the job already was in the asked state."""
        return self.case not in (PauseCase.ALREADY_PAUSED, PauseCase.NOT_PAUSED)


class NotDeployedError(CronplaneError):
    """The job has no live trigger (never deployed, or destroyed)."""


def read_marker(dynamodb: DynamoDBClient, table: str, job: str) -> PauseMarker | None:
    try:
        found = dynamodb.get_item(TableName=table, Key=item_key(PAUSED_PARTITION, job), ConsistentRead=True)
    except AwsCallError as exc:
        if exc.not_found:
            return None  # no table yet: nothing can be paused
        raise
    return PauseMarker.from_item(found["Item"]) if "Item" in found else None


def list_markers(dynamodb: DynamoDBClient, table: str) -> list[PauseMarker]:
    """Every paused job of the namespace: one Query on the marker partition."""
    try:
        page = dynamodb.query(
            TableName=table,
            KeyConditionExpression="job = :p",
            ExpressionAttributeValues={":p": {"S": PAUSED_PARTITION}},
        )
    except AwsCallError as exc:
        if exc.not_found:
            return []
        raise
    return [PauseMarker.from_item(item) for item in page.get("Items", [])]


def pause_job(
    clients: AwsClient, manifest: Manifest, job_name: str, *, now: datetime, reason: str | None = None
) -> PauseOutcome:
    job = manifest.job(job_name)
    table = names.history_table(manifest.namespace)
    trigger = _live_trigger(clients, manifest, job_name)
    marker = read_marker(clients.dynamodb, table, job_name)
    if marker is not None:
        if trigger.enabled:
            # Someone re-enabled it behind the marker's back (console, old deploy): pause holds.
            set_enabled(clients, trigger, False)
            return PauseOutcome(job_name, PauseAction.PAUSE, PauseCase.PAUSE_RESTORED, trigger, marker=marker)
        return PauseOutcome(job_name, PauseAction.PAUSE, PauseCase.ALREADY_PAUSED, trigger, marker=marker)
    actor = clients.caller_arn()
    # The marker goes first: if switching the trigger then fails, the next `jobctl pause` finds
    # the marker and finishes the job; a deploy in between already keeps it paused.
    _put(clients.dynamodb, table, PauseMarker(job_name, actor, iso(now), reason))
    if trigger.enabled:
        set_enabled(clients, trigger, False)
    _put(clients.dynamodb, table, _event(manifest, job_name, PauseAction.PAUSE, actor, now, trigger, reason))
    return PauseOutcome(
        job_name,
        PauseAction.PAUSE,
        PauseCase.PAUSED,
        trigger,
        actor=actor,
        at=now,
        disabled_in_manifest=not job.enabled,
    )


def resume_job(
    clients: AwsClient, manifest: Manifest, job_name: str, *, now: datetime, reason: str | None = None
) -> PauseOutcome:
    job = manifest.job(job_name)
    table = names.history_table(manifest.namespace)
    trigger = _live_trigger(clients, manifest, job_name)
    marker = read_marker(clients.dynamodb, table, job_name)
    if marker is None and trigger.enabled:
        return PauseOutcome(job_name, PauseAction.RESUME, PauseCase.NOT_PAUSED, trigger)
    if not job.enabled:
        raise CronplaneError(
            f"{manifest.path}: {job_name} has enabled: false, so resuming would be undone by the next deploy; "
            f"set enabled: true and run `jobctl deploy`"
        )
    actor = clients.caller_arn()
    if not trigger.enabled:
        set_enabled(clients, trigger, True)
    _put(clients.dynamodb, table, _event(manifest, job_name, PauseAction.RESUME, actor, now, trigger, reason))
    if marker is not None:
        _delete_marker(clients.dynamodb, table, job_name)
    return PauseOutcome(job_name, PauseAction.RESUME, PauseCase.RESUMED, trigger, actor=actor, at=now, marker=marker)


def _live_trigger(clients: AwsClient, manifest: Manifest, job_name: str) -> TriggerState:
    trigger = find_trigger(clients, manifest, manifest.job(job_name))
    if trigger is None:
        raise NotDeployedError(
            f"{job_name} has no EventBridge rule or Scheduler schedule in namespace {manifest.namespace}: "
            f"deploy it first (`jobctl deploy`)"
        )
    return trigger


def _delete_marker(dynamodb: DynamoDBClient, table: str, job: str) -> None:
    dynamodb.delete_item(TableName=table, Key=item_key(PAUSED_PARTITION, job))


def _event(
    manifest: Manifest,
    job: str,
    action: PauseAction,
    actor: str,
    now: datetime,
    trigger: TriggerState,
    reason: str | None,
) -> PauseEvent:
    return PauseEvent.new(
        job, action, actor, now, retention_days=manifest.history.retention_days, trigger=trigger.label, reason=reason
    )


def _put(dynamodb: DynamoDBClient, table: str, record: HistoryRecord) -> None:
    try:
        dynamodb.put_item(TableName=table, Item=to_item(record))
    except AwsCallError as exc:
        if exc.not_found:
            raise AwsError(
                f"history table {table} does not exist: deploy the manifest first (`jobctl deploy`)"
            ) from exc
        raise
