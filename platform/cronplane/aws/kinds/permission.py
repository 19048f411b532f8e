"""The resource-policy statement that lets a job's EventBridge rule invoke its function. A
sub-resource no list call shows: it exists when its function does and the job's state record
says it was applied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.kinds.base import ApplyContext, ResourceKind
from cronplane.build.resources import JOB_ORDER, PERMISSION_SID, Kind, Resource

if TYPE_CHECKING:
    from cronplane.aws.export.context import CfnContext, TfContext


class LambdaPermissionKind(ResourceKind):
    name = Kind.PERMISSION
    slots: ClassVar[Mapping[str, int]] = {"perm": JOB_ORDER["perm"]}
    tagged = False
    listed = False

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("lambda", "remove_permission", FunctionName=ctx.action.name, StatementId=PERMISSION_SID)

    def create(self, ctx: ApplyContext) -> None:
        h = ctx.res.hidden
        qualifier = {"Qualifier": h["qualifier"]} if h["qualifier"] else {}
        params: dict[str, Any] = dict(
            FunctionName=ctx.res.name,
            StatementId=h["sid"],
            Action="lambda:InvokeFunction",
            Principal=h["principal"],
            SourceArn=h["source_arn"],
            SourceAccount=h["source_account"],
            **qualifier,
        )

        def remove() -> None:
            ctx.ignore_missing(
                "lambda", "remove_permission", FunctionName=ctx.res.name, StatementId=h["sid"], **qualifier
            )

        if not ctx.creating or ctx.live is not None:
            # Also on a create for a function that already existed: a deploy interrupted before the
            # job's state record may have added it (AWS would refuse the duplicate; some emulators
            # keep both statements).
            remove()
        try:
            ctx.call("lambda", "add_permission", **params)
        except AwsCallError as exc:
            if exc.code != "ResourceConflictException":
                raise
            remove()
            ctx.call("lambda", "add_permission", **params)

    update = create  # a statement cannot be changed: remove it and add it again

    # -- export ---------------------------------------------------------------------------------
    export_word = "Permission"
    tf_type = "aws_lambda_permission"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        h = res.hidden
        function = ctx.id_of(Kind.ALIAS if h["qualifier"] else Kind.FUNCTION, res.name)
        props = {
            "Action": "lambda:InvokeFunction",
            # The alias's Ref is its ARN; the function's Ref its name: either names the target.
            "FunctionName": {"Ref": function},
            "Principal": h["principal"],
            "SourceArn": ctx.arn(h["source_arn"]),
            "SourceAccount": ctx.text(h["source_account"]),
        }
        return {ctx.logical_id(res): {"Type": "AWS::Lambda::Permission", "Properties": props}}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        h = res.hidden
        grant = Block("resource", (self.tf_type, tf_name(res))).attr("statement_id", h["sid"])
        grant.attr("action", "lambda:InvokeFunction")
        grant.attr("function_name", Raw(f"{ctx.address_of(Kind.FUNCTION, res.name)}.function_name"))
        if h["qualifier"]:
            grant.attr("qualifier", Raw(f"{ctx.address_of(Kind.ALIAS, res.name)}.name"))
        grant.attr("principal", h["principal"]).attr("source_arn", ctx.arn(h["source_arn"]))
        return [grant.attr("source_account", ctx.text(h["source_account"]))]


KIND = LambdaPermissionKind()
