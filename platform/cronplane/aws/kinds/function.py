"""Lambda functions: one per job. A function carries the job's state record (the
``cronplane:config`` tag with the hashes of everything list calls do not show), and its tags come
with the namespace's one tagging-API query."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import Skip, checkov_skips, skipped, tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind
from cronplane.build.resources import CONFIG_TAG, JOB_ORDER, Kind, Resource
from cronplane.errors import AwsError
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext

CONFIG_FIELDS = frozenset(
    {"runtime", "handler", "role", "timeout", "memory", "description", "environment", "vpc", "kms_key"}
)


class FunctionKind(ResourceKind):
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

    # -- export ---------------------------------------------------------------------------------
    export_word = "Function"
    tf_type = "aws_lambda_function"
    export_output = "function_arns"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        v = res.visible
        props: dict[str, Any] = {
            "FunctionName": ctx.text(res.name),
            "Role": ctx.arn(v["role"]),
            "Runtime": v["runtime"],
            "Handler": v["handler"],
            "Timeout": v["timeout"],
            "MemorySize": v["memory"],
            "Description": v["description"],
            "Architectures": [v["architecture"]],
            "Environment": {"Variables": ctx.text(dict(v["environment"]))},
            "Code": ctx.code(res),
            "Tags": ctx.tags(res),
        }
        if v["vpc"]:
            props["VpcConfig"] = {
                "SubnetIds": ctx.text(v["vpc"]["subnets"]),
                "SecurityGroupIds": ctx.text(v["vpc"]["security_groups"]),
            }
        if v["kms_key"]:
            props["KmsKeyArn"] = ctx.text(v["kms_key"])
        if res.hidden.get("reserved_concurrency") is not None:
            props["ReservedConcurrentExecutions"] = res.hidden["reserved_concurrency"]
        out: dict[str, Any] = {
            "Type": "AWS::Lambda::Function",
            "Properties": props,
            "Metadata": skipped(ctx.applicable(_skips(res))),
        }
        log = ctx.find(Kind.LOG_GROUP, names.LOG_GROUP_ROOT + res.name)
        if log is not None:  # ours, with its retention, before Lambda could make one without
            out["DependsOn"] = [ctx.logical_id(log)]
        return {ctx.logical_id(res): out}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        v = res.visible
        filename, code_hash = ctx.code(res)
        fn = Block("resource", (self.tf_type, tf_name(res)), comments=checkov_skips(ctx.applicable(_skips(res))))
        fn.attr("function_name", ctx.text(res.name)).attr("role", ctx.arn(v["role"]))
        fn.attr("runtime", v["runtime"]).attr("handler", v["handler"]).attr("timeout", v["timeout"])
        fn.attr("memory_size", v["memory"]).attr("description", v["description"])
        fn.attr("architectures", [v["architecture"]]).attr("filename", filename).attr("source_code_hash", code_hash)
        if ctx.find(Kind.ALIAS, res.name) is not None:
            fn.attr("publish", True)  # the alias with provisioned concurrency points at a version
        if res.hidden.get("reserved_concurrency") is not None:
            fn.attr("reserved_concurrent_executions", res.hidden["reserved_concurrency"])
        if v["kms_key"]:
            fn.attr("kms_key_arn", ctx.text(v["kms_key"]))
        fn.block(Block("environment").attr("variables", ctx.text(dict(v["environment"]))))
        if v["vpc"]:
            vpc = Block("vpc_config").attr("subnet_ids", ctx.text(v["vpc"]["subnets"]))
            fn.block(vpc.attr("security_group_ids", ctx.text(v["vpc"]["security_groups"])))
        fn.attr("tags", ctx.tags(res))
        after = []
        log = ctx.find(Kind.LOG_GROUP, names.LOG_GROUP_ROOT + res.name)
        if log is not None:
            after.append(Raw(ctx.address(log)))
        role = ctx.resource_with_arn(v["role"])
        if role is not None:  # its inline policy first: Lambda checks a VPC job's ENI rights on create
            after.append(Raw(f"aws_iam_role_policy.{tf_name(role)}"))
        if after:
            fn.attr("depends_on", after)
        return [fn]


def _skips(res: Resource) -> list[Skip]:
    """The checkov checks a job's function does not meet on purpose, each with why."""
    v = res.visible
    skips: list[Skip] = [
        ("CKV_AWS_116", "the runtime wrapper sends each failed run to the job's DLQ itself, once, with context"),
        ("CKV_AWS_272", "the package is cronplane's deterministic zip, pinned by its hash; no signing profile"),
        ("CKV_AWS_50", "no X-Ray: every run is recorded in the history table and its log", "terraform"),
    ]
    if not v["vpc"]:
        skips.append(("CKV_AWS_117", "jobs.yaml gives this job no vpc (set vpc to run it in one)"))
    if res.hidden.get("reserved_concurrency") is None:
        skips.append(("CKV_AWS_115", "jobs.yaml sets no reserved_concurrency; overlap is held off by the run lock"))
    if not v["kms_key"]:
        skips.append(("CKV_AWS_173", "environment encrypted with the AWS managed key (set kms_key for your own)"))
    return skips


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


KIND = FunctionKind()
