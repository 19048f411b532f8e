"""CloudWatch log groups: one per job's function, created ahead of the function so its
retention and tags are ours. Vouched for by the job's state record (``aws.vouch``): listed by name
prefix with their retention only with ``--refresh`` or when the records cannot vouch (50 a page:
200 calls for 10,000 jobs); else read one by one when the plan needs one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import Skip, checkov_skips, skipped, tf_name
from cronplane.aws.export.hcl import Block
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind
from cronplane.build.resources import JOB_ORDER, Kind, Resource
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext


class LogGroupKind(ResourceKind):
    name = Kind.LOG_GROUP
    slots: ClassVar[Mapping[str, int]] = {"log": JOB_ORDER["log"]}
    vouched = True
    list_page = 50  # DescribeLogGroups' most per call

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        prefix = names.log_group_listing_prefix(scope.namespace)
        groups = client.paginate("logs", "describe_log_groups", "logGroups", logGroupNamePrefix=prefix)
        return [self._found(group) for group in groups]

    def named_for(self, namespace: str, job: str) -> str:
        return names.log_group_name(namespace, job)

    def stand_in(self, scope: Listing, job: str, function: LiveResource) -> LiveResource:
        name = self.named_for(scope.namespace, job)
        partition, _, region, account = function.arn.split(":")[1:5]
        return LiveResource(self.name, name, f"arn:{partition}:logs:{region}:{account}:log-group:{name}", vouched=True)

    def read_one(self, client: AwsClient, scope: Listing, name: str) -> LiveResource | None:
        groups = client.paginate("logs", "describe_log_groups", "logGroups", logGroupNamePrefix=name)
        found = next((self._found(g) for g in groups if g["logGroupName"] == name), None)
        # Its tags too: the planner asks for them whenever it reads one (the hash covers them).
        return None if found is None else replace(found, tags=self.read_tags(client, found))

    def _found(self, group: Mapping[str, Any]) -> LiveResource:
        arn = group["arn"].removesuffix(":*")
        return LiveResource(self.name, group["logGroupName"], arn, {"retention": group.get("retentionInDays")})

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return dict(client.call("logs", "list_tags_for_resource", resourceArn=res.arn).get("tags", {}))

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("logs", "delete_log_group", logGroupName=ctx.action.name)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        try:
            ctx.call("logs", "create_log_group", logGroupName=res.name, tags=dict(res.tags))
        except AwsCallError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise
            ctx.adopt(self.read_tags(ctx.client, LiveResource(self.name, res.name, res.arn)))
            self._put_retention(ctx)
            self._retag(ctx, force=True)
            return
        self._put_retention(ctx)

    def update(self, ctx: ApplyContext) -> None:
        if ctx.action.changed("retention"):
            self._put_retention(ctx)
        self._retag(ctx, force=False)

    def _put_retention(self, ctx: ApplyContext) -> None:
        ctx.call(
            "logs", "put_retention_policy", logGroupName=ctx.res.name, retentionInDays=ctx.res.visible["retention"]
        )

    def _retag(self, ctx: ApplyContext, *, force: bool) -> None:
        arn = ctx.res.arn
        ctx.retag(
            lambda tags: ctx.call("logs", "tag_resource", resourceArn=arn, tags=tags),
            lambda keys: ctx.call("logs", "untag_resource", resourceArn=arn, tagKeys=keys),
            force=force,
        )

    # -- export ---------------------------------------------------------------------------------
    export_word = "LogGroup"
    tf_type = "aws_cloudwatch_log_group"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        props = {
            "LogGroupName": ctx.text(res.name),
            "RetentionInDays": res.visible["retention"],
            "Tags": ctx.tags(res),
        }
        body = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",  # as jobctl deploy deletes a removed job's log group
            "UpdateReplacePolicy": "Delete",
            "Properties": props,
            "Metadata": skipped(ctx.applicable(_skips(res))),
        }
        return {ctx.logical_id(res): body}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        group = Block("resource", (self.tf_type, tf_name(res)), comments=checkov_skips(ctx.applicable(_skips(res))))
        group.attr("name", ctx.text(res.name)).attr("retention_in_days", res.visible["retention"])
        return [group.attr("tags", ctx.tags(res))]


def _skips(res: Resource) -> list[Skip]:
    skips: list[Skip] = [("CKV_AWS_158", "encrypted by CloudWatch Logs' own key, as jobctl deploy leaves it")]
    if res.visible["retention"] < 365:
        skips.append(("CKV_AWS_338", "kept for the job's log_retention_days from jobs.yaml", "terraform"))
    return skips


KIND = LogGroupKind()
