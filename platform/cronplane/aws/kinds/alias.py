"""A function's alias with provisioned concurrency (jobs with ``provisioned_concurrency``): a
new version is published on every change and the alias moved to it. A sub-resource no list call
shows: it exists when its function does and the job's state record says it was applied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.kinds.base import ApplyContext, ResourceKind
from cronplane.build.resources import JOB_ORDER, Kind, Resource
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.export.context import CfnContext, TfContext


class AliasKind(ResourceKind):
    name = Kind.ALIAS
    slots: ClassVar[Mapping[str, int]] = {"alias": JOB_ORDER["alias"]}
    tagged = False
    listed = False

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("lambda", "delete_alias", FunctionName=ctx.action.name, Name=names.ALIAS_NAME)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        version = ctx.call("lambda", "publish_version", FunctionName=res.name)["Version"]
        try:
            ctx.call("lambda", "create_alias", FunctionName=res.name, Name=names.ALIAS_NAME, FunctionVersion=version)
        except AwsCallError as exc:
            if exc.code != "ResourceConflictException":
                raise
            ctx.call("lambda", "update_alias", FunctionName=res.name, Name=names.ALIAS_NAME, FunctionVersion=version)
        try:
            ctx.call(
                "lambda",
                "put_provisioned_concurrency_config",
                FunctionName=res.name,
                Qualifier=names.ALIAS_NAME,
                ProvisionedConcurrentExecutions=res.hidden["provisioned"],
            )
        except AwsCallError as exc:
            # moto (the `jobctl dev` emulator) has versions and aliases but no provisioned
            # concurrency; there it means nothing anyway. Real AWS never answers this.
            if "Not yet implemented" not in exc.detail:
                raise

    update = create  # publish, move the alias, set the concurrency: the same steps

    # -- export ---------------------------------------------------------------------------------
    export_word = "Alias"
    tf_type = "aws_lambda_alias"

    def cfn_arn(self, logical_id: str) -> Any:
        return {"Ref": logical_id}  # an alias's Ref is its ARN

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        function = {"Ref": ctx.id_of(Kind.FUNCTION, res.name)}
        version_id = ctx.logical_id(res, "Version")
        # A changed description replaces the version resource, which publishes a new version:
        # the fingerprint changes with the function's code and configuration, as in deploy.
        version = {"FunctionName": function, "Description": f"cronplane {res.hidden['fingerprint']}"}
        alias = {
            "FunctionName": function,
            "Name": names.ALIAS_NAME,
            "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
            "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": res.hidden["provisioned"]},
        }
        return {
            version_id: {"Type": "AWS::Lambda::Version", "Properties": version},
            ctx.logical_id(res): {"Type": "AWS::Lambda::Alias", "Properties": alias},
        }

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        function = ctx.address_of(Kind.FUNCTION, res.name)
        name = tf_name(res)
        alias = Block("resource", (self.tf_type, name)).attr("name", names.ALIAS_NAME)
        alias.attr("function_name", Raw(f"{function}.function_name"))
        alias.attr("function_version", Raw(f"{function}.version"))
        warm = Block("resource", ("aws_lambda_provisioned_concurrency_config", name))
        warm.attr("function_name", Raw(f"{function}.function_name"))
        warm.attr("qualifier", Raw(f"{self.tf_type}.{name}.name"))
        warm.attr("provisioned_concurrent_executions", res.hidden["provisioned"])
        return [alias, warm]


KIND = AliasKind()
