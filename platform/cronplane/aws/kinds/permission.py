"""The resource-policy statement that lets a job's EventBridge rule invoke its function. A
sub-resource no list call shows: it exists when its function does and the job's state record
says it was applied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.kinds.base import ApplyContext, ResourceKind
from cronplane.build.resources import JOB_ORDER, PERMISSION_SID, Kind


class Permission(ResourceKind):
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


KIND = Permission()
