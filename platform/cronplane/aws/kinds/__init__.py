"""The registry of resource kinds: the one place that lists them. Inventory, planner, executor and
the ops commands ask it (``KINDS``, ``kind_of``) instead of knowing the kinds themselves.

Adding a kind is one new module in this package (a ``ResourceKind`` subclass, see ``base``) and
one line in ``_BUILT_IN`` below. The order of ``_BUILT_IN`` is the order inventory lists them in:
a kind may use what an earlier one found (a schedule needs its group).
"""

from __future__ import annotations

from cronplane.aws.kinds import (
    alarm,
    alias,
    function,
    invoke_config,
    kms_key,
    log_group,
    permission,
    queue,
    role,
    rule,
    schedule,
    schedule_group,
    table,
    topic,
)
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind, TriggerKind, TriggerState
from cronplane.build.resources import TAGS_VISIBLE
from cronplane.errors import CronplaneError

KINDS: dict[str, ResourceKind] = {}


def register(kind: ResourceKind) -> ResourceKind:
    """Make ``kind`` known to every deploy stage, under ``kind.name``."""
    if kind.name in KINDS:
        raise ValueError(f"resource kind {kind.name!r} is registered already")
    if kind.tags_listed != (kind.name in TAGS_VISIBLE):
        # The recorded hash leaves out exactly the tags the bulk read returns.
        raise ValueError(
            f"resource kind {kind.name!r}: tagging_type and build.resources.TAGS_VISIBLE must agree "
            "(a kind whose tags come with the tagging-API query keeps them out of its recorded hash)"
        )
    KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> ResourceKind:
    try:
        return KINDS[name]
    except KeyError:
        raise CronplaneError(
            f"unknown resource kind {name!r} (internal error): register it in cronplane/aws/kinds/__init__.py"
        ) from None


def triggers() -> list[ResourceKind]:
    """The kinds a job can be triggered by, in registry order."""
    return [kind for kind in KINDS.values() if kind.trigger is not None]


def trigger_kind(trigger: str) -> ResourceKind:
    """The kind behind a ``TriggerState.kind`` ("rule", "schedule")."""
    for kind in triggers():
        if kind.trigger == trigger:
            return kind
    raise CronplaneError(f"unknown trigger kind {trigger!r} (internal error)")


_BUILT_IN = (
    function.KIND,
    role.KIND,
    role.TEAM_KIND,  # role_mode: per_team's shared roles
    queue.KIND,
    log_group.KIND,
    rule.KIND,
    schedule_group.KIND,
    schedule.KIND,
    table.KIND,
    invoke_config.KIND,
    alias.KIND,
    permission.KIND,
    kms_key.KIND,
    topic.KIND,
    alarm.KIND,
)
for _kind in _BUILT_IN:
    register(_kind)

__all__ = [
    "KINDS",
    "ApplyContext",
    "Listing",
    "LiveResource",
    "ResourceKind",
    "TriggerKind",
    "TriggerState",
    "kind_of",
    "register",
    "trigger_kind",
    "triggers",
]
