"""IAM roles: a job's execution role (slot "role") and, for a job on EventBridge Scheduler, the
role Scheduler assumes to invoke it (slot "srole"). Listed by the namespace's IAM path; tags and
the inline policy are read only when the planner needs them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import Skip, checkov_skips, skipped, tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.export.inputs import NAMESPACE
from cronplane.aws.kinds.base import (
    ApplyContext,
    Listing,
    LiveResource,
    ResourceKind,
    json_document,
    tag_dict,
    tag_list,
)
from cronplane.build.resources import JOB_ORDER, POLICY_NAME, Kind, Resource
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext


class RoleKind(ResourceKind):
    name = Kind.ROLE
    slots: ClassVar[Mapping[str, int]] = {"role": JOB_ORDER["role"], "srole": JOB_ORDER["srole"]}
    reads_details = True

    def slot_of(self, name: str) -> str:
        return "srole" if name.endswith("-sched") else "role"

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        roles = client.paginate(
            "iam", "list_roles", "Roles", PathPrefix=names.role_path(scope.namespace), MaxItems=1000
        )
        return [
            LiveResource(
                self.name,
                role["RoleName"],
                role["Arn"],
                {"path": role.get("Path"), "trust": json_document(role.get("AssumeRolePolicyDocument"))},
            )
            for role in roles
        ]

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return tag_dict(client.paginate("iam", "list_role_tags", "Tags", RoleName=res.name))

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any]:
        doc = client.call("iam", "get_role_policy", RoleName=res.name, PolicyName=POLICY_NAME)["PolicyDocument"]
        return {"policy": json_document(doc)}

    def delete(self, ctx: ApplyContext) -> None:
        name = ctx.action.name
        try:
            for policy in ctx.client.paginate("iam", "list_role_policies", "PolicyNames", RoleName=name):
                ctx.call("iam", "delete_role_policy", RoleName=name, PolicyName=policy)
            for att in ctx.client.paginate("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=name):
                ctx.call("iam", "detach_role_policy", RoleName=name, PolicyArn=att["PolicyArn"])
        except AwsCallError as exc:
            if not exc.not_found:
                raise
        ctx.ignore_missing("iam", "delete_role", RoleName=name)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        try:
            ctx.call(
                "iam",
                "create_role",
                RoleName=res.name,
                Path=res.visible["path"],
                AssumeRolePolicyDocument=json.dumps(res.visible["trust"]),
                Description=description(str(res.job), ctx.ns),
                Tags=tag_list(res.tags),
            )
        except AwsCallError as exc:
            if exc.code != "EntityAlreadyExists":
                raise
            ctx.adopt(tag_dict(ctx.client.paginate("iam", "list_role_tags", "Tags", RoleName=res.name)))
            self._configure(ctx, adopted=True)
            return
        self._configure(ctx, adopted=False)

    def update(self, ctx: ApplyContext) -> None:
        self._configure(ctx, adopted=False)

    def _configure(self, ctx: ApplyContext, *, adopted: bool) -> None:
        """Trust, inline policy and tags, as far as they must change (all of them for a role
        adopted after an interrupted deploy: nothing is known about it)."""
        res = ctx.res
        if adopted or ctx.action.changed("trust"):
            ctx.call(
                "iam", "update_assume_role_policy", RoleName=res.name, PolicyDocument=json.dumps(res.visible["trust"])
            )
        if adopted or ctx.needs("policy"):
            ctx.call(
                "iam",
                "put_role_policy",
                RoleName=res.name,
                PolicyName=POLICY_NAME,
                PolicyDocument=json.dumps(res.hidden["policy"]),
            )
        if not ctx.creating or adopted:
            ctx.retag(
                lambda tags: ctx.call("iam", "tag_role", RoleName=res.name, Tags=tag_list(tags)),
                lambda keys: ctx.call("iam", "untag_role", RoleName=res.name, TagKeys=keys),
                force=adopted,
            )

    # -- export ---------------------------------------------------------------------------------
    tf_type = "aws_iam_role"

    def export_word_of(self, res: Resource) -> str:
        return "SchedulerRole" if res.slot == "srole" else "Role"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        props = {
            "RoleName": ctx.text(res.name),
            "Path": ctx.text(res.visible["path"]),
            "Description": ctx.text(description(str(res.job), NAMESPACE)),
            "AssumeRolePolicyDocument": ctx.text(res.visible["trust"]),
            "Policies": [{"PolicyName": POLICY_NAME, "PolicyDocument": ctx.text(res.hidden["policy"])}],
            "Tags": ctx.tags(res),
        }
        out: dict[str, Any] = {"Type": "AWS::IAM::Role", "Properties": props}
        out["Metadata"] = skipped(ctx.applicable(_skips(res)))
        return {ctx.logical_id(res): out}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        name = tf_name(res)
        role = Block("resource", (self.tf_type, name))
        role.attr("name", ctx.text(res.name)).attr("path", ctx.text(res.visible["path"]))
        role.attr("description", ctx.text(description(str(res.job), NAMESPACE)))
        role.attr("assume_role_policy", ctx.document(res.visible["trust"])).attr("tags", ctx.tags(res))
        policy = Block("resource", ("aws_iam_role_policy", name), comments=checkov_skips(ctx.applicable(_skips(res))))
        policy.attr("name", POLICY_NAME).attr("role", Raw(f"{self.tf_type}.{name}.id"))
        policy.attr("policy", ctx.document(res.hidden["policy"]))
        return [role, policy]


def description(job: str, namespace: str) -> str:
    """The role's description, as deploy sets it."""
    return f"cronplane job {job} ({namespace})"


def _skips(res: Resource) -> list[Skip]:
    statements = res.hidden["policy"].get("Statement", [])
    if not any(s.get("Resource") == "*" for s in statements):
        return []
    # Only the VPC statement has "*" (build.iam): AWS offers nothing narrower for these actions.
    return [("CKV_AWS_111", "Lambda's VPC network-interface actions work only on Resource *", "cloudformation")]


KIND = RoleKind()
