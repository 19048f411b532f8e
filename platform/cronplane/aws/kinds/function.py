"""Lambda functions: one per job. A function carries the job's state record (the
``cronplane:config`` tag with the hashes of everything list calls do not show), and its tags come
with the namespace's one tagging-API query."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind
from cronplane.build.resources import CONFIG_TAG, JOB_ORDER, Kind
from cronplane.errors import AwsError

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient

CONFIG_FIELDS = frozenset(
    {"runtime", "handler", "role", "timeout", "memory", "description", "environment", "vpc", "kms_key"}
)


class Function(ResourceKind):
    name = Kind.FUNCTION
    slots: ClassVar[Mapping[str, int]] = {"fn": JOB_ORDER["fn"]}
    tagging_type = "lambda:function"
    reads_details = True
    holds_job_record = True

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        out = []
        for fn in client.paginate("lambda", "list_functions", "Functions"):
            if fn["FunctionName"].startswith(scope.prefix):
                arn = fn["FunctionArn"]
                out.append(LiveResource(self.name, fn["FunctionName"], arn, visible(fn), tags=scope.tags_of(arn)))
        return out

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return dict(client.call("lambda", "list_tags", Resource=res.arn).get("Tags", {}))

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any]:
        got = client.call("lambda", "get_function_concurrency", FunctionName=res.name)
        return {"reserved_concurrency": got.get("ReservedConcurrentExecutions")}

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("lambda", "delete_function", FunctionName=ctx.action.name)

    def record(self, ctx: ApplyContext) -> None:
        ctx.call("lambda", "tag_resource", Resource=ctx.res.arn, Tags={CONFIG_TAG: ctx.action.fields[0].new})

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        v = res.visible
        _need_code(ctx)
        try:
            out = ctx.call(
                "lambda",
                "create_function",
                FunctionName=res.name,
                Code={"ZipFile": res.code},
                Architectures=[v["architecture"]],
                Tags=dict(res.tags),
                Publish=False,
                **_configuration(v),
            )
            _wait(ctx, out)
            fields = {"reserved_concurrency"} if res.hidden.get("reserved_concurrency") else set()
        except AwsCallError as exc:
            if exc.code != "ResourceConflictException":
                raise
            ctx.adopt(dict(ctx.call("lambda", "list_tags", Resource=res.arn).get("Tags", {})))
            fields = {"code_sha256", "runtime", "tags", "reserved_concurrency"}
        _apply_fields(ctx, fields)

    def update(self, ctx: ApplyContext) -> None:
        _apply_fields(ctx, {f.name for f in ctx.action.fields})


def _apply_fields(ctx: ApplyContext, fields: set[str]) -> None:
    """Apply the named fields, each through the one call that sets it."""
    res = ctx.res
    v = res.visible
    if fields & {"code_sha256", "architecture"}:
        _need_code(ctx)
        out = ctx.call(
            "lambda", "update_function_code", FunctionName=res.name, ZipFile=res.code, Architectures=[v["architecture"]]
        )
        _wait(ctx, out)
    if fields & CONFIG_FIELDS:
        out = ctx.call("lambda", "update_function_configuration", FunctionName=res.name, **_configuration(v))
        _wait(ctx, out)
    if "tags" in fields:
        ctx.retag(
            lambda tags: ctx.call("lambda", "tag_resource", Resource=res.arn, Tags=tags),
            lambda keys: ctx.call("lambda", "untag_resource", Resource=res.arn, TagKeys=keys),
            force=True,
        )
    if fields & {"reserved_concurrency", "settings"}:
        reserved = res.hidden.get("reserved_concurrency")
        if reserved is None:
            ctx.ignore_missing("lambda", "delete_function_concurrency", FunctionName=res.name)
        else:
            ctx.call("lambda", "put_function_concurrency", FunctionName=res.name, ReservedConcurrentExecutions=reserved)


def _configuration(v: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Role": v["role"],
        "Handler": v["handler"],
        "Runtime": v["runtime"],
        "Timeout": v["timeout"],
        "MemorySize": v["memory"],
        "Description": v["description"],
        "Environment": {"Variables": dict(v["environment"])},
        "VpcConfig": {"SubnetIds": v["vpc"]["subnets"], "SecurityGroupIds": v["vpc"]["security_groups"]}
        if v["vpc"]
        else {"SubnetIds": [], "SecurityGroupIds": []},
    }
    if v["kms_key"]:
        config["KMSKeyArn"] = v["kms_key"]
    return config


def _need_code(ctx: ApplyContext) -> None:
    if ctx.res.code is None:
        raise AwsError(f"{ctx.res.label}: no package built (internal error: plan-only desired state)")


def _wait(ctx: ApplyContext, out: Mapping[str, Any]) -> None:
    """Real Lambda refuses the next change while a create/update is still in progress."""
    if out.get("State") not in (None, "Pending") and out.get("LastUpdateStatus") != "InProgress":
        return

    def ready() -> bool:
        cfg = ctx.call("lambda", "get_function_configuration", FunctionName=ctx.res.name)
        if cfg.get("State") == "Failed" or cfg.get("LastUpdateStatus") == "Failed":
            raise AwsError(f"{ctx.res.label}: {cfg.get('StateReason') or cfg.get('LastUpdateStatusReason')}")
        return cfg.get("State") == "Active" and cfg.get("LastUpdateStatus") in (None, "Successful")

    ctx.wait_for(ready, "the function is Active")


def visible(fn: Mapping[str, Any]) -> dict[str, Any]:
    """``list_functions`` output in the shape of ``Resource.visible``."""
    vpc = fn.get("VpcConfig") or {}
    subnets = sorted(vpc.get("SubnetIds") or [])
    groups = sorted(vpc.get("SecurityGroupIds") or [])
    return {
        "runtime": fn.get("Runtime"),
        "handler": fn.get("Handler"),
        "role": fn.get("Role"),
        "timeout": fn.get("Timeout"),
        "memory": fn.get("MemorySize"),
        "description": fn.get("Description") or "",
        "environment": dict((fn.get("Environment") or {}).get("Variables") or {}),
        "architecture": (fn.get("Architectures") or ["x86_64"])[0],
        "vpc": {"subnets": subnets, "security_groups": groups} if subnets or groups else None,
        "kms_key": fn.get("KMSKeyArn") or None,
        "code_sha256": fn.get("CodeSha256"),
    }


KIND = Function()
