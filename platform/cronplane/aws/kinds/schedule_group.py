"""The namespace's EventBridge Scheduler schedule group, shared by its jobs on Scheduler. Read
directly (Scheduler is not in the tagging API) with its tags; its settings' hash is recorded in
its own ``cronplane:config`` tag. Deleted when no job uses Scheduler any more."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import tf_name
from cronplane.aws.export.hcl import Block
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind, tag_dict, tag_list
from cronplane.build.resources import CONFIG_TAG, Kind, Resource
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext


class ScheduleGroupKind(ResourceKind):
    name = Kind.SCHEDULE_GROUP
    slots: ClassVar[Mapping[str, int]] = {"group": 1}  # after the history table
    shared = True
    unused_reason = "no job uses Scheduler"

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        group = names.schedule_group(scope.namespace)
        try:
            arn = client.call("scheduler", "get_schedule_group", Name=group)["Arn"]
        except AwsCallError as exc:
            if exc.not_found:
                return []
            raise
        tags = tag_dict(client.call("scheduler", "list_tags_for_resource", ResourceArn=arn).get("Tags", []))
        return [LiveResource(self.name, group, arn, tags=tags)]

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("scheduler", "delete_schedule_group", Name=ctx.action.name)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        try:
            ctx.call("scheduler", "create_schedule_group", Name=res.name, Tags=self._tags(ctx))
            return
        except AwsCallError as exc:
            if exc.code != "ConflictException":
                raise
        live = ctx.call("scheduler", "list_tags_for_resource", ResourceArn=res.arn).get("Tags", [])
        ctx.adopt(tag_dict(live))
        ctx.call("scheduler", "tag_resource", ResourceArn=res.arn, Tags=self._tags(ctx))

    def update(self, ctx: ApplyContext) -> None:
        arn = ctx.res.arn
        ctx.retag(lambda _: None, lambda keys: ctx.call("scheduler", "untag_resource", ResourceArn=arn, TagKeys=keys))
        ctx.call("scheduler", "tag_resource", ResourceArn=arn, Tags=self._tags(ctx))

    def _tags(self, ctx: ApplyContext) -> list[dict[str, str]]:
        return tag_list({**ctx.res.tags, CONFIG_TAG: ctx.res.hidden_hash()})

    # -- export ---------------------------------------------------------------------------------
    export_word = "ScheduleGroup"
    tf_type = "aws_scheduler_schedule_group"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        props = {"Name": ctx.text(res.name), "Tags": ctx.tags(res)}
        return {ctx.logical_id(res): {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": props}}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        group = Block("resource", (self.tf_type, tf_name(res)))
        return [group.attr("name", ctx.text(res.name)).attr("tags", ctx.tags(res))]


KIND = ScheduleGroupKind()
