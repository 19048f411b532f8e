"""The namespace's run-history table (DynamoDB), shared by its jobs and kept by ``destroy``
unless ``--include-history``. Found through the one tagging-API query (no list call); its TTL
and point-in-time recovery are applied after it is ACTIVE, and the hash of those settings goes on
last in its own ``cronplane:config`` tag, so a table interrupted half-way is finished next time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind, tag_dict, tag_list
from cronplane.build.resources import CONFIG_TAG, Kind
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient


class Table(ResourceKind):
    name = Kind.TABLE
    slots: ClassVar[Mapping[str, int]] = {"table": 0}  # before everything: the deploy lock lives in it
    tagging_type = "dynamodb:table"
    shared = True
    kept = "run history"

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        table = names.history_table(scope.namespace)
        return [
            LiveResource(self.name, table, arn, tags=tags)
            for arn, tags in scope.tagged.items()
            if arn.endswith(f":table/{table}")
        ]

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("dynamodb", "delete_table", TableName=ctx.action.name)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        try:
            ctx.call("dynamodb", "create_table", **res.hidden["definition"], Tags=tag_list(res.tags))
        except AwsCallError as exc:
            if exc.code != "ResourceInUseException":
                raise
            tags = ctx.call("dynamodb", "list_tags_of_resource", ResourceArn=res.arn).get("Tags", [])
            ctx.adopt(tag_dict(tags))
        self._settle(ctx)

    def update(self, ctx: ApplyContext) -> None:
        res = ctx.res
        if not ctx.needs("settings"):
            # Only tags differ: no need to touch TTL / PITR.
            ctx.retag(
                lambda tags: ctx.call("dynamodb", "tag_resource", ResourceArn=res.arn, Tags=tag_list(tags)),
                lambda keys: ctx.call("dynamodb", "untag_resource", ResourceArn=res.arn, TagKeys=keys),
            )
            return
        self._settle(ctx)

    def _settle(self, ctx: ApplyContext) -> None:
        """TTL and point-in-time recovery once the table is ACTIVE, then the tags with the
        hash last."""
        res = ctx.res

        def active() -> bool:
            status = ctx.call("dynamodb", "describe_table", TableName=res.name)["Table"]["TableStatus"]
            return bool(status == "ACTIVE")

        ctx.wait_for(active, "the table is ACTIVE")
        try:
            ctx.call(
                "dynamodb",
                "update_time_to_live",
                TableName=res.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": res.hidden["ttl"]},
            )
        except AwsCallError as exc:
            if "already enabled" not in exc.detail.lower():
                raise
        ctx.call(
            "dynamodb",
            "update_continuous_backups",
            TableName=res.name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": bool(res.hidden["pitr"])},
        )
        if not ctx.creating:
            ctx.retag(
                lambda tags: None,
                lambda keys: ctx.call("dynamodb", "untag_resource", ResourceArn=res.arn, TagKeys=keys),
            )
        # The hash goes on last: a table interrupted before TTL/PITR is re-applied next time.
        tags = tag_list({**res.tags, CONFIG_TAG: res.hidden_hash()})
        ctx.call("dynamodb", "tag_resource", ResourceArn=res.arn, Tags=tags)


KIND = Table()
