"""EventBridge Scheduler schedules: the trigger of a job with a timezone, an ``at()`` or
``trigger_mode: scheduler``. A schedule cannot carry tags: it belongs to whoever owns its group,
the namespace's schedule group. Its state and target are visible settings, the rest of the
definition a hidden detail. Vouched for by the job's state record (``aws.vouch``): listed from the
group only with ``--refresh`` or when the records cannot vouch (100 a page); else read one by one
(GetSchedule, definition included) when the plan needs one. ``jobctl pause`` / ``resume`` switch
its state."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import Skip, checkov_skips, tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.kinds.base import (
    ApplyContext,
    Listing,
    LiveResource,
    ResourceKind,
    TriggerKind,
    TriggerState,
    tag_dict,
)
from cronplane.build.resources import JOB_ORDER, Kind, Resource
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext

SKIPS: tuple[Skip, ...] = (
    ("CKV_AWS_297", "encrypted with an AWS owned key, as jobctl deploy creates it", "terraform"),
)
# get_schedule returns these next to the definition; update_schedule rejects them.
READ_ONLY = ("Arn", "CreationDate", "LastModificationDate", "ResponseMetadata")


class SchedulerScheduleKind(ResourceKind):
    name = Kind.SCHEDULE
    slots: ClassVar[Mapping[str, int]] = {"sched": JOB_ORDER["sched"]}
    tagged = False
    reads_details = True
    trigger = TriggerKind.SCHEDULE
    vouched = True  # listed only with --refresh (100 a page): see aws.vouch

    def owner(self, namespace: str) -> tuple[str, str]:
        return (Kind.SCHEDULE_GROUP, names.schedule_group(namespace))

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        group = scope.found.get(self.owner(scope.namespace))
        if group is None:
            return []  # no group, no schedules (the group kind is listed first)
        schedules = client.paginate("scheduler", "list_schedules", "Schedules", GroupName=group.name, MaxResults=100)
        return [
            LiveResource(
                self.name,
                sched["Name"],
                sched["Arn"],
                {"state": sched.get("State"), "target_arn": (sched.get("Target") or {}).get("Arn")},
                tags=group.tags,  # a schedule belongs to whoever owns its group
            )
            for sched in schedules
        ]

    def named_for(self, namespace: str, job: str) -> str:
        return names.schedule_name(namespace, job)

    def stand_in(self, scope: Listing, job: str, function: LiveResource) -> LiveResource | None:
        group = scope.found.get(self.owner(scope.namespace))
        if group is None:
            return None  # recorded, but its group is gone (and its schedules with it): read it
        name = self.named_for(scope.namespace, job)
        arn = f"{group.arn.replace(':schedule-group/', ':schedule/')}/{name}"
        return LiveResource(self.name, name, arn, tags=group.tags, vouched=True)

    def read_one(self, client: AwsClient, scope: Listing, name: str) -> LiveResource | None:
        group = scope.found.get(self.owner(scope.namespace))
        if group is None:
            return None
        try:
            s = client.call("scheduler", "get_schedule", Name=name, GroupName=group.name)
        except AwsCallError as exc:
            if exc.not_found:
                return None
            raise
        # The one read holds the definition too: its details come with it.
        shown = {"state": s.get("State"), "target_arn": (s.get("Target") or {}).get("Arn")}
        return LiveResource(self.name, name, s["Arn"], shown, tags=group.tags, details=_details(s))

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any]:
        group = names.schedule_group(namespace)
        return _details(client.call("scheduler", "get_schedule", Name=res.name, GroupName=group))

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("scheduler", "delete_schedule", Name=ctx.action.name, GroupName=names.schedule_group(ctx.ns))

    def create(self, ctx: ApplyContext) -> None:
        try:
            ctx.call("scheduler", "create_schedule", **_definition(ctx))
        except AwsCallError as exc:
            if exc.code != "ConflictException":
                raise
            self.update(ctx)  # left by an interrupted deploy: make it what the manifest says

    def update(self, ctx: ApplyContext) -> None:
        ctx.call("scheduler", "update_schedule", **_definition(ctx))

    # -- pause / resume / audit -----------------------------------------------------------------
    def read_trigger(self, client: AwsClient, namespace: str, job: str) -> TriggerState | None:
        name = names.schedule_name(namespace, job)
        group = names.schedule_group(namespace)
        try:
            schedule = client.call("scheduler", "get_schedule", Name=name, GroupName=group)
        except AwsCallError as exc:
            if exc.not_found:
                return None
            raise
        created = schedule.get("CreationDate")
        if isinstance(created, datetime):
            created = created.astimezone(UTC)
        enabled = schedule.get("State") == "ENABLED"
        return TriggerState(TriggerKind.SCHEDULE, name, group, enabled, created, schedule.get("Arn", ""))

    def set_enabled(self, client: AwsClient, state: TriggerState, enabled: bool) -> None:
        # update_schedule replaces the whole definition: send back what get_schedule returned.
        current = client.call("scheduler", "get_schedule", Name=state.name, GroupName=state.group)
        definition = {k: v for k, v in current.items() if k not in READ_ONLY}
        definition["State"] = "ENABLED" if enabled else "DISABLED"
        client.call("scheduler", "update_schedule", **definition)

    def trigger_label(self, state: TriggerState) -> str:
        return f"Scheduler schedule {state.group}/{state.name}"

    def trigger_owner_tags(self, client: AwsClient, state: TriggerState) -> Mapping[str, str]:
        # A schedule carries no tags: it is whoever's its group is. The group's ARN is the
        # schedule's with "schedule/GROUP/NAME" turned into "schedule-group/GROUP".
        head, _, _ = state.arn.partition(":schedule/")
        group_arn = f"{head}:schedule-group/{state.group}"
        return tag_dict(client.call("scheduler", "list_tags_for_resource", ResourceArn=group_arn).get("Tags", []))

    # -- export ---------------------------------------------------------------------------------
    # ActionAfterCompletion (NONE for an at() job) is left out of both: CloudFormation has no
    # such property, and NONE is what Scheduler does without it.
    export_word = "Schedule"
    tf_type = "aws_scheduler_schedule"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        h = res.hidden
        props = {
            "Name": ctx.text(res.name),
            "GroupName": {"Ref": ctx.id_of(Kind.SCHEDULE_GROUP, h["group"])},
            "ScheduleExpression": h["expression"],
            "ScheduleExpressionTimezone": h["timezone"],
            "FlexibleTimeWindow": flexible_time_window(h),
            "Description": h["description"],
            "State": res.visible["state"],
            "Target": {
                "Arn": ctx.arn(res.visible["target_arn"]),
                "RoleArn": ctx.arn(h["role_arn"]),
                "RetryPolicy": dict(h["retry"]),
                "DeadLetterConfig": {"Arn": ctx.arn(h["dlq"])},
                "Input": h["input"],
            },
        }
        return {ctx.logical_id(res): {"Type": "AWS::Scheduler::Schedule", "Properties": props}}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        h = res.hidden
        skips = checkov_skips(ctx.applicable(SKIPS))
        schedule = Block("resource", (self.tf_type, tf_name(res)), comments=skips).attr("name", ctx.text(res.name))
        schedule.attr("group_name", Raw(f"{ctx.address_of(Kind.SCHEDULE_GROUP, h['group'])}.name"))
        schedule.attr("schedule_expression", h["expression"])
        schedule.attr("schedule_expression_timezone", h["timezone"])
        schedule.attr("description", h["description"]).attr("state", res.visible["state"])
        window = flexible_time_window(h)
        flexible = Block("flexible_time_window").attr("mode", window["Mode"])
        if "MaximumWindowInMinutes" in window:
            flexible.attr("maximum_window_in_minutes", window["MaximumWindowInMinutes"])
        schedule.block(flexible)
        target = Block("target").attr("arn", ctx.arn(res.visible["target_arn"]))
        target.attr("role_arn", ctx.arn(h["role_arn"])).attr("input", h["input"])
        target.block(
            Block("retry_policy")
            .attr("maximum_retry_attempts", h["retry"]["MaximumRetryAttempts"])
            .attr("maximum_event_age_in_seconds", h["retry"]["MaximumEventAgeInSeconds"])
        )
        target.block(Block("dead_letter_config").attr("arn", ctx.arn(h["dlq"])))
        return [schedule.block(target)]


def _definition(ctx: ApplyContext) -> dict[str, Any]:
    res = ctx.res
    h = res.hidden
    params: dict[str, Any] = {
        "Name": res.name,
        "GroupName": h["group"],
        "ScheduleExpression": h["expression"],
        "ScheduleExpressionTimezone": h["timezone"],
        "FlexibleTimeWindow": flexible_time_window(h),
        "Description": h["description"],
        "State": res.visible["state"],
        "Target": {
            "Arn": res.visible["target_arn"],
            "RoleArn": h["role_arn"],
            "RetryPolicy": dict(h["retry"]),
            "DeadLetterConfig": {"Arn": h["dlq"]},
            "Input": h["input"],
        },
    }
    if h.get("action_after_completion"):
        params["ActionAfterCompletion"] = h["action_after_completion"]
    return params


def _details(s: Mapping[str, Any]) -> dict[str, Any]:
    """A get_schedule answer in the shape of ``Resource.hidden``."""
    target = s.get("Target", {})
    return {
        "group": s.get("GroupName"),
        "expression": s.get("ScheduleExpression"),
        "timezone": s.get("ScheduleExpressionTimezone"),
        "description": s.get("Description", ""),
        "action_after_completion": s.get("ActionAfterCompletion"),
        "role_arn": target.get("RoleArn"),
        "retry": target.get("RetryPolicy"),
        "dlq": (target.get("DeadLetterConfig") or {}).get("Arn"),
        "input": target.get("Input"),
        **_window_details(s.get("FlexibleTimeWindow")),
    }


def flexible_time_window(hidden: Mapping[str, Any]) -> dict[str, Any]:
    """The job's ``start_window`` as Scheduler's FlexibleTimeWindow: it starts each firing at a
    moment of its choosing within that many minutes after the time; without one, on time."""
    minutes = hidden.get("start_window") or 0
    return {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": minutes} if minutes else {"Mode": "OFF"}


def _window_details(window: Mapping[str, Any] | None) -> dict[str, Any]:
    """``start_window`` as the desired hidden settings hold it: only when there is one (see
    ``build.resources.job_resources``)."""
    if (window or {}).get("Mode") != "FLEXIBLE":
        return {}
    return {"start_window": (window or {}).get("MaximumWindowInMinutes")}


KIND = SchedulerScheduleKind()
