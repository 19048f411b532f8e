"""A function's alias with provisioned concurrency (jobs with ``provisioned_concurrency``): a
new version is published on every change and the alias moved to it. A sub-resource no list call
shows: it exists when its function does and the job's state record says it was applied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.kinds.base import ApplyContext, ResourceKind
from cronplane.build.resources import JOB_ORDER, Kind
from cronplane.manifest import names


class Alias(ResourceKind):
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


KIND = Alias()
