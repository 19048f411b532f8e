"""EventBridge rules: the trigger of a job on a UTC schedule. Listed by name prefix with their
expression, state and description; the target is a hidden detail. ``jobctl pause`` / ``resume``
switch a rule with enable_rule / disable_rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.kinds.base import (
    ApplyContext,
    Listing,
    LiveResource,
    ResourceKind,
    TriggerKind,
    TriggerState,
    tag_dict,
    tag_list,
)
from cronplane.build.resources import JOB_ORDER, Kind, Resource
from cronplane.errors import AwsError
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext


class RuleKind(ResourceKind):
    name = Kind.RULE
    slots: ClassVar[Mapping[str, int]] = {"rule": JOB_ORDER["rule"]}
    reads_details = True
    trigger = TriggerKind.RULE

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        rules = client.paginate("events", "list_rules", "Rules", NamePrefix=scope.prefix, Limit=100)
        return [
            LiveResource(
                self.name,
                rule["Name"],
                rule["Arn"],
                {
                    "expression": rule.get("ScheduleExpression"),
                    "state": rule.get("State"),
                    "description": rule.get("Description") or "",
                },
            )
            for rule in rules
        ]

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return tag_dict(client.call("events", "list_tags_for_resource", ResourceARN=res.arn).get("Tags", []))

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any]:
        targets = client.call("events", "list_targets_by_rule", Rule=res.name).get("Targets", [])
        return {"target": targets[0] if targets else None}

    def delete(self, ctx: ApplyContext) -> None:
        name = ctx.action.name
        try:
            targets = ctx.call("events", "list_targets_by_rule", Rule=name).get("Targets", [])
            if targets:
                ctx.call("events", "remove_targets", Rule=name, Ids=[t["Id"] for t in targets])
        except AwsCallError as exc:
            if not exc.not_found:
                raise
        ctx.ignore_missing("events", "delete_rule", Name=name)

    def create(self, ctx: ApplyContext) -> None:
        self._put(ctx)

    def update(self, ctx: ApplyContext) -> None:
        self._put(ctx)
        res = ctx.res
        ctx.retag(
            lambda tags: ctx.call("events", "tag_resource", ResourceARN=res.arn, Tags=tag_list(tags)),
            lambda keys: ctx.call("events", "untag_resource", ResourceARN=res.arn, TagKeys=keys),
        )

    def _put(self, ctx: ApplyContext) -> None:
        """The rule itself when a visible setting changed (put_rule replaces them all), then
        its target when that changed."""
        res = ctx.res
        v = res.visible
        if ctx.creating or any(f.name in v for f in ctx.action.fields):
            extra = {"Tags": tag_list(res.tags)} if ctx.creating else {}
            ctx.call(
                "events",
                "put_rule",
                Name=res.name,
                ScheduleExpression=v["expression"],
                State=v["state"],
                Description=v["description"],
                **extra,
            )
        if ctx.needs("target"):
            out = ctx.call("events", "put_targets", Rule=res.name, Targets=[dict(res.hidden["target"])])
            if out.get("FailedEntryCount"):
                raise AwsError(f"{res.label}: put_targets failed: {out.get('FailedEntries')}")

    # -- pause / resume / audit -----------------------------------------------------------------
    def read_trigger(self, client: AwsClient, namespace: str, job: str) -> TriggerState | None:
        name = names.rule_name(namespace, job)
        try:
            rule = client.call("events", "describe_rule", Name=name)
        except AwsCallError as exc:
            if exc.not_found:
                return None
            raise
        return TriggerState(TriggerKind.RULE, name, None, rule.get("State") == "ENABLED", None, rule.get("Arn", ""))

    def set_enabled(self, client: AwsClient, state: TriggerState, enabled: bool) -> None:
        client.call("events", "enable_rule" if enabled else "disable_rule", Name=state.name)

    def trigger_label(self, state: TriggerState) -> str:
        return f"EventBridge rule {state.name}"

    def trigger_owner_tags(self, client: AwsClient, state: TriggerState) -> Mapping[str, str]:
        return self.read_tags(client, LiveResource(self.name, state.name, state.arn))

    # -- export ---------------------------------------------------------------------------------
    export_word = "Rule"
    tf_type = "aws_cloudwatch_event_rule"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        v, target = res.visible, res.hidden["target"]
        # A job's target retries into its DLQ with the firing's id; the watchdog's has a fixed input.
        written = {"Id": target["Id"], "Arn": ctx.arn(target["Arn"])}
        written |= {k: ctx.text(target[k]) for k in ("RetryPolicy", "InputTransformer", "Input") if k in target}
        if "DeadLetterConfig" in target:
            written["DeadLetterConfig"] = {"Arn": ctx.arn(target["DeadLetterConfig"]["Arn"])}
        props = {
            "Name": ctx.text(res.name),
            "ScheduleExpression": v["expression"],
            "State": v["state"],
            "Description": v["description"],
            "Targets": [written],
            "Tags": ctx.tags(res),
        }
        return {ctx.logical_id(res): {"Type": "AWS::Events::Rule", "Properties": props}}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        v, target = res.visible, res.hidden["target"]
        name = tf_name(res)
        rule = Block("resource", (self.tf_type, name)).attr("name", ctx.text(res.name))
        rule.attr("schedule_expression", v["expression"]).attr("state", v["state"])
        rule.attr("description", v["description"]).attr("tags", ctx.tags(res))
        out = Block("resource", ("aws_cloudwatch_event_target", name))
        out.attr("rule", Raw(f"{self.tf_type}.{name}.name")).attr("target_id", target["Id"])
        out.attr("arn", ctx.arn(target["Arn"]))
        if "Input" in target:
            out.attr("input", ctx.text(target["Input"]))
        if "RetryPolicy" in target:
            retry = target["RetryPolicy"]
            out.block(
                Block("retry_policy")
                .attr("maximum_retry_attempts", retry["MaximumRetryAttempts"])
                .attr("maximum_event_age_in_seconds", retry["MaximumEventAgeInSeconds"])
            )
        if "DeadLetterConfig" in target:
            out.block(Block("dead_letter_config").attr("arn", ctx.arn(target["DeadLetterConfig"]["Arn"])))
        if "InputTransformer" in target:
            transformer = target["InputTransformer"]
            out.block(
                Block("input_transformer")
                .attr("input_paths", dict(transformer["InputPathsMap"]))
                .attr("input_template", transformer["InputTemplate"])
            )
        return [rule, out]


KIND = RuleKind()
