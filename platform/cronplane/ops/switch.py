"""Finding and switching a deployed job's trigger: an EventBridge rule (UTC schedules) or an
EventBridge Scheduler schedule (timezones, at(), ``trigger_mode: scheduler``). Used by pause /
resume to switch it, and by audit to learn whether it is enabled and since when it exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cronplane.errors import AwsError
from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest

# get_schedule returns these next to the definition; update_schedule rejects them.
_SCHEDULE_READ_ONLY = ("Arn", "CreationDate", "LastModificationDate", "ResponseMetadata")


class TriggerKind(str, Enum):
    RULE = "rule"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class TriggerState:
    kind: TriggerKind
    name: str
    group: str | None  # the Scheduler group; None for a rule
    enabled: bool
    created: datetime | None  # Scheduler's CreationDate; rules do not tell

    @property
    def label(self) -> str:
        if self.kind is TriggerKind.RULE:
            return f"EventBridge rule {self.name}"
        return f"Scheduler schedule {self.group}/{self.name}"


def expected_kind(manifest: Manifest, job: Job) -> TriggerKind:
    """What deploy creates for the job (the manifest's own rule for it)."""
    from cronplane.manifest.loader import on_scheduler

    return TriggerKind.SCHEDULE if on_scheduler(manifest, job) else TriggerKind.RULE


def find_trigger(clients: Any, manifest: Manifest, job: Job) -> TriggerState | None:
    """The job's live trigger, looking first where deploy puts it, then at the other kind (the
    manifest may have changed since the last deploy). None when neither exists."""
    first = expected_kind(manifest, job)
    order = [first, TriggerKind.RULE if first is TriggerKind.SCHEDULE else TriggerKind.SCHEDULE]
    for kind in order:
        state = (
            _read_rule(clients, manifest, job) if kind is TriggerKind.RULE else _read_schedule(clients, manifest, job)
        )
        if state is not None:
            return state
    return None


def _read_rule(clients: Any, manifest: Manifest, job: Job) -> TriggerState | None:
    name = names.rule_name(manifest.namespace, job.name)
    try:
        rule = clients.events.describe_rule(Name=name)
    except clients.events.exceptions.ResourceNotFoundException:
        return None
    return TriggerState(TriggerKind.RULE, name, None, rule.get("State") == "ENABLED", None)


def _read_schedule(clients: Any, manifest: Manifest, job: Job) -> TriggerState | None:
    name = names.schedule_name(manifest.namespace, job.name)
    group = names.schedule_group(manifest.namespace)
    try:
        schedule = clients.scheduler.get_schedule(Name=name, GroupName=group)
    except clients.scheduler.exceptions.ResourceNotFoundException:
        return None
    created = schedule.get("CreationDate")
    if isinstance(created, datetime):
        created = created.astimezone(UTC)
    return TriggerState(TriggerKind.SCHEDULE, name, group, schedule.get("State") == "ENABLED", created)


def set_enabled(clients: Any, trigger: TriggerState, enabled: bool) -> None:
    """Switch the trigger on or off, leaving everything else about it as deployed."""
    try:
        if trigger.kind is TriggerKind.RULE:
            if enabled:
                clients.events.enable_rule(Name=trigger.name)
            else:
                clients.events.disable_rule(Name=trigger.name)
            return
        # update_schedule replaces the whole definition: send back what get_schedule returned.
        current = clients.scheduler.get_schedule(Name=trigger.name, GroupName=trigger.group)
        definition = {k: v for k, v in current.items() if k not in _SCHEDULE_READ_ONLY}
        definition["State"] = "ENABLED" if enabled else "DISABLED"
        clients.scheduler.update_schedule(**definition)
    except (BotoCoreError, ClientError) as exc:
        action = "enable" if enabled else "disable"
        raise AwsError(f"could not {action} {trigger.label}: {exc}") from exc
