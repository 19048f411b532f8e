"""CloudWatch alarms: one per job with alerts on failed or timed-out runs (``build.alerting``),
so teams find their jobs in the CloudWatch console and build on them. Found through the one
tagging-API query with their tags (no call of its own); the definition is a hidden setting,
recorded in the job's state record, and read (describe_alarms) only to show a plan's diff."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.export.context import tf_name
from cronplane.aws.export.hcl import Block
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind, tag_dict, tag_list
from cronplane.build.resources import JOB_ORDER, Kind, Resource
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext

# What describe_alarms answers that put_metric_alarm does not take (state, ARNs, timestamps).
DEFINITION_KEYS = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "AlarmActions",
    "Metrics",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)


class AlarmKind(ResourceKind):
    name = Kind.ALARM
    slots: ClassVar[Mapping[str, int]] = {"alarm": JOB_ORDER["alarm"]}
    tagging_type = "cloudwatch:alarm"
    reads_details = True

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        prefix = names.job_prefix(scope.namespace)
        found = []
        for arn, tags in scope.tagged.items():
            parts = arn.split(":", 6)  # arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME
            if len(parts) == 7 and parts[2] == "cloudwatch" and parts[5] == "alarm" and parts[6].startswith(prefix):
                found.append(LiveResource(self.name, parts[6], arn, tags=tags))
        return found

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return tag_dict(client.call("cloudwatch", "list_tags_for_resource", ResourceARN=res.arn).get("Tags", []))

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any]:
        alarms = client.call("cloudwatch", "describe_alarms", AlarmNames=[res.name], AlarmTypes=["MetricAlarm"])
        found = alarms.get("MetricAlarms", [])
        return {"alarm": {k: found[0][k] for k in DEFINITION_KEYS if k in found[0]}} if found else {}

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("cloudwatch", "delete_alarms", AlarmNames=[ctx.action.name])

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        # put_metric_alarm overwrites an alarm of that name: look first, so that one which is
        # not ours is refused, never replaced.
        existing = ctx.call("cloudwatch", "describe_alarms", AlarmNames=[res.name]).get("MetricAlarms", [])
        if existing:
            ctx.adopt(self.read_tags(ctx.client, LiveResource(self.name, res.name, res.arn)))
        ctx.call("cloudwatch", "put_metric_alarm", **res.hidden["alarm"], Tags=tag_list(res.tags))
        if existing:
            self._retag(ctx, force=True)  # put_metric_alarm sets tags only on a new alarm

    def update(self, ctx: ApplyContext) -> None:
        if ctx.needs("alarm"):
            ctx.call("cloudwatch", "put_metric_alarm", **ctx.res.hidden["alarm"])
        self._retag(ctx, force=False)

    def _retag(self, ctx: ApplyContext, *, force: bool) -> None:
        arn = ctx.res.arn
        ctx.retag(
            lambda tags: ctx.call("cloudwatch", "tag_resource", ResourceARN=arn, Tags=tag_list(tags)),
            lambda keys: ctx.call("cloudwatch", "untag_resource", ResourceARN=arn, TagKeys=keys),
            force=force,
        )

    # -- export ---------------------------------------------------------------------------------
    export_word = "FailuresAlarm"
    tf_type = "aws_cloudwatch_metric_alarm"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        a = res.hidden["alarm"]
        props = {k: ctx.text(v) for k, v in a.items() if k != "AlarmActions"}
        props["AlarmActions"] = [ctx.arn(action) for action in a["AlarmActions"]]
        props["Tags"] = ctx.tags(res)
        return {ctx.logical_id(res): {"Type": "AWS::CloudWatch::Alarm", "Properties": props}}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        a = res.hidden["alarm"]
        alarm = Block("resource", (self.tf_type, tf_name(res))).attr("alarm_name", ctx.text(a["AlarmName"]))
        alarm.attr("alarm_description", ctx.text(a["AlarmDescription"])).attr("actions_enabled", a["ActionsEnabled"])
        alarm.attr("alarm_actions", [ctx.arn(action) for action in a["AlarmActions"]])
        alarm.attr("evaluation_periods", a["EvaluationPeriods"]).attr("datapoints_to_alarm", a["DatapointsToAlarm"])
        alarm.attr("threshold", a["Threshold"]).attr("comparison_operator", a["ComparisonOperator"])
        alarm.attr("treat_missing_data", a["TreatMissingData"])
        for metric in a["Metrics"]:
            query = Block("metric_query").attr("id", metric["Id"])
            if "Expression" in metric:
                query.attr("expression", metric["Expression"]).attr("label", metric["Label"])
            query.attr("return_data", metric["ReturnData"])
            if "MetricStat" in metric:
                stat = metric["MetricStat"]
                dimensions = {d["Name"]: ctx.text(d["Value"]) for d in stat["Metric"]["Dimensions"]}
                query.block(
                    Block("metric")
                    .attr("namespace", stat["Metric"]["Namespace"])
                    .attr("metric_name", stat["Metric"]["MetricName"])
                    .attr("period", stat["Period"])
                    .attr("stat", stat["Stat"])
                    .attr("dimensions", dimensions)
                )
            alarm.block(query)
        return [alarm.attr("tags", ctx.tags(res))]


KIND = AlarmKind()
