"""The namespace's run-history table (DynamoDB), shared by its jobs and kept by ``destroy``
unless ``--include-history``. Found through the one tagging-API query (no list call); its TTL
and point-in-time recovery are applied after it is ACTIVE, and the hash of those settings goes on
last in its own ``cronplane:config`` tag, so a table interrupted half-way is finished next time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import Skip, checkov_skips, skipped, tf_name
from cronplane.aws.export.hcl import Block
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind, tag_dict, tag_list
from cronplane.build.resources import CONFIG_TAG, Kind, Resource
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext


class TableKind(ResourceKind):
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

    # -- export ---------------------------------------------------------------------------------
    export_word = "HistoryTable"
    tf_type = "aws_dynamodb_table"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        d = res.hidden["definition"]
        props = {
            "TableName": ctx.text(res.name),
            "BillingMode": d["BillingMode"],
            "AttributeDefinitions": d["AttributeDefinitions"],
            "KeySchema": d["KeySchema"],
            "GlobalSecondaryIndexes": d["GlobalSecondaryIndexes"],
            "SSESpecification": {"SSEEnabled": d["SSESpecification"]["Enabled"]},
            "TimeToLiveSpecification": {"AttributeName": res.hidden["ttl"], "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": res.hidden["pitr"]},
            "Tags": ctx.tags(res),
        }
        return {
            ctx.logical_id(res): {
                "Type": "AWS::DynamoDB::Table",
                # The run history outlives the stack, as it outlives `jobctl destroy` (self.kept).
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": props,
                "Metadata": skipped(ctx.applicable(SKIPS)),
            }
        }

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        d = res.hidden["definition"]
        keys = {k["KeyType"]: k["AttributeName"] for k in d["KeySchema"]}
        table = Block("resource", (self.tf_type, tf_name(res)), comments=checkov_skips(ctx.applicable(SKIPS)))
        table.attr("name", ctx.text(res.name)).attr("billing_mode", d["BillingMode"])
        table.attr("hash_key", keys["HASH"]).attr("range_key", keys["RANGE"])
        for attribute in d["AttributeDefinitions"]:
            table.block(
                Block("attribute").attr("name", attribute["AttributeName"]).attr("type", attribute["AttributeType"])
            )
        for index in d["GlobalSecondaryIndexes"]:
            index_keys = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
            gsi = Block("global_secondary_index").attr("name", index["IndexName"])
            gsi.attr("hash_key", index_keys["HASH"]).attr("range_key", index_keys["RANGE"])
            table.block(gsi.attr("projection_type", index["Projection"]["ProjectionType"]))
        table.block(Block("server_side_encryption").attr("enabled", d["SSESpecification"]["Enabled"]))
        table.block(Block("ttl").attr("attribute_name", res.hidden["ttl"]).attr("enabled", True))
        table.block(Block("point_in_time_recovery").attr("enabled", res.hidden["pitr"]))
        table.attr("tags", ctx.tags(res))
        # The run history outlives `terraform destroy` unless taken out of the state first, as
        # it outlives `jobctl destroy` without --include-history.
        return [table.block(Block("lifecycle").attr("prevent_destroy", True))]


SKIPS: tuple[Skip, ...] = (("CKV_AWS_119", "encrypted with the AWS managed DynamoDB key, as jobctl deploy creates it"),)

KIND = TableKind()
