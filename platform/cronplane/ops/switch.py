"""Finding and switching a deployed job's trigger: an EventBridge rule (UTC schedules) or an
EventBridge Scheduler schedule (timezones, at(), ``trigger_mode: scheduler``). Used by pause /
resume to switch it, and by audit to learn whether it is enabled and since when it exists.

How each trigger is read and switched belongs to its resource kind (``aws.kinds.rule``,
``aws.kinds.schedule``); this module only asks the registry's trigger kinds in the right order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronplane.aws.client import AwsCallError
from cronplane.aws.kinds import TriggerKind, TriggerState, trigger_kind, triggers
from cronplane.errors import AwsError
from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient


def expected_kind(manifest: Manifest, job: Job) -> TriggerKind:
    """What deploy creates for the job (the manifest's own rule for it)."""
    from cronplane.manifest.loader import on_scheduler

    return TriggerKind.SCHEDULE if on_scheduler(manifest, job) else TriggerKind.RULE


def find_trigger(aws: AwsClient, manifest: Manifest, job: Job, *, doing: str = "act on it") -> TriggerState | None:
    """The job's live trigger, looking first where deploy puts it, then at the other kinds (the
    manifest may have changed since the last deploy). None when there is none.

    Found by name, so it is checked to be this namespace's (its ``cronplane:namespace`` tag, or
    its group's) before anyone acts on it: ``NotOursError`` (saying it was about to ``doing``)
    when a trigger of that name belongs to another namespace, so pause, resume, audit and
    backfill never switch, judge or fill in another namespace's job."""
    first = expected_kind(manifest, job)
    for kind in sorted(triggers(), key=lambda k: k.trigger != first):
        state = kind.read_trigger(aws, manifest.namespace, job.name)
        if state is not None:
            tags = kind.trigger_owner_tags(aws, state)
            names.check_owner(kind.trigger_label(state), manifest.namespace, tags, doing=doing)
            return state
    return None


def set_enabled(aws: AwsClient, trigger: TriggerState, enabled: bool) -> None:
    """Switch the trigger on or off, leaving everything else about it as deployed."""
    try:
        trigger_kind(trigger.kind).set_enabled(aws, trigger, enabled)
    except AwsCallError as exc:
        if exc.not_found:
            action = "enable" if enabled else "disable"
            raise AwsError(f"could not {action} {trigger.label}: it no longer exists; run `jobctl deploy`") from exc
        raise


__all__ = ["TriggerKind", "TriggerState", "expected_kind", "find_trigger", "set_enabled"]
