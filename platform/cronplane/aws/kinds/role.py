"""IAM roles, two kinds:

- ``RoleKind``: a job's own execution role (slot "role") and, for a job on EventBridge Scheduler,
  the role Scheduler assumes to invoke it (slot "srole"). Listed by the namespace's IAM path; tags
  and the inline policy are read only when the planner needs them.
- ``TeamRoleKind`` (``role_mode: per_team``, ``build.team_roles``): the roles a team's jobs share
  (slot "trole") and the namespace's one Scheduler role (slot "tsrole"). Shared resources, like the
  history table: planned before every job, deleted after them. Listed under the namespace's
  shared-roles path; no call returns IAM tags in bulk, so the listing reads each one's tags (the
  planner needs them to know the role is ours, and the applied hash sits in its own
  ``cronplane:config`` tag, written last).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import ExportError, Skip, checkov_skips, skipped, tf_name
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
from cronplane.build.resources import CONFIG_TAG, JOB_ORDER, POLICY_NAME, Kind, Resource
from cronplane.build.team_roles import TEAM_ROLE
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
        path = names.role_path(scope.namespace)
        roles = client.paginate("iam", "list_roles", "Roles", PathPrefix=path, MaxItems=1000)
        _SHARED_LISTED.hand_on(client, scope.namespace, [r for r in roles if r.get("Path") != path])
        return [
            LiveResource(
                self.name,
                role["RoleName"],
                role["Arn"],
                {"path": role.get("Path"), "trust": json_document(role.get("AssumeRolePolicyDocument"))},
            )
            for role in roles
            if role.get("Path") == path  # the shared roles below it are TeamRoleKind's
        ]

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return tag_dict(client.paginate("iam", "list_role_tags", "Tags", RoleName=res.name))

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any]:
        doc = client.call("iam", "get_role_policy", RoleName=res.name, PolicyName=POLICY_NAME)["PolicyDocument"]
        return {"policy": json_document(doc)}

    def delete(self, ctx: ApplyContext) -> None:
        delete_role(ctx)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        made = create_role(ctx, res.visible["path"], res.visible["trust"], description(str(res.job), ctx.ns))
        self._configure(ctx, adopted=not made)

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


class _HandedOn:
    """The roles RoleKind's listing found below the namespace's own path, handed on to
    TeamRoleKind's listing of the same inventory read (by client and namespace, taken once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles: dict[tuple[int, str], list[dict[str, Any]]] = {}

    def hand_on(self, client: AwsClient, namespace: str, roles: list[dict[str, Any]]) -> None:
        with self._lock:
            self._roles[(id(client), namespace)] = roles

    def take(self, client: AwsClient, namespace: str) -> list[dict[str, Any]] | None:
        with self._lock:
            return self._roles.pop((id(client), namespace), None)


_SHARED_LISTED = _HandedOn()

# How a shared role's description ends once a deploy applied it: "... [cronplane:config=HASH]".
RECORD_MARK = f" [{CONFIG_TAG}="


def recorded_in(description: str) -> str | None:
    """The hash a deploy recorded at the end of a shared role's description, if any."""
    head, mark, tail = description.rpartition(RECORD_MARK)
    return tail[:-1] if mark and head and tail.endswith("]") and "]" not in tail[:-1] else None


def create_role(ctx: ApplyContext, path: str, trust: Any, described: str) -> bool:
    """Create ``ctx.res`` as a role; False when it already existed and, being ours (its
    namespace tag), was adopted (an interrupted deploy made it)."""
    res = ctx.res
    try:
        ctx.call(
            "iam",
            "create_role",
            RoleName=res.name,
            Path=path,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description=described,
            Tags=tag_list(res.tags),
        )
    except AwsCallError as exc:
        if exc.code != "EntityAlreadyExists":
            raise
        ctx.adopt(tag_dict(ctx.client.paginate("iam", "list_role_tags", "Tags", RoleName=res.name)))
        return False
    return True


def delete_role(ctx: ApplyContext) -> None:
    """Its inline and attached policies first: IAM deletes no role that has any."""
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


def description(job: str, namespace: str) -> str:
    """The role's description, as deploy sets it."""
    return f"cronplane job {job} ({namespace})"


def _skips(res: Resource) -> list[Skip]:
    statements = res.hidden["policy"].get("Statement", [])
    if not any(s.get("Resource") == "*" for s in statements):
        return []
    # Only the VPC statement has "*" (build.iam): AWS offers nothing narrower for these actions.
    return [("CKV_AWS_111", "Lambda's VPC network-interface actions work only on Resource *", "cloudformation")]


class TeamRoleKind(ResourceKind):
    """The shared roles of ``role_mode: per_team``: everything they are lives in ``hidden``
    (path, description, trust, policy), whose hash the role's own ``cronplane:config`` tag records."""

    name = TEAM_ROLE
    # After the shared resources the jobs' resources need (table, group, key, topic): before
    # every job in a deploy, after every job when deleted.
    slots: ClassVar[Mapping[str, int]] = {"trole": 4, "tsrole": 5}
    shared = True
    unused_reason = "no job runs with it any more"

    def slot_of(self, name: str) -> str:
        return "trole" if name.endswith(names.TEAM_ROLE_SUFFIX) else "tsrole"

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        path = names.shared_role_path(scope.namespace)
        # RoleKind's listing (the namespace's path) holds these too: waiting for it (an earlier
        # kind's read, ``Listing.found``) spares a second ListRoles.
        scope.found.get((Kind.ROLE, ""))
        roles = _SHARED_LISTED.take(client, scope.namespace)
        if roles is None:  # listed on its own (RoleKind did not list first)
            roles = client.paginate("iam", "list_roles", "Roles", PathPrefix=path, MaxItems=1000)
        # The hash a deploy recorded last in the description (``_record``) stands in for the
        # role's tags: ListRoles returns descriptions but no tags, and reading them would cost a
        # call per role on every deploy (~870 at 10,000 jobs). The planner reads the tags only
        # when that hash is not the desired one (``recorded_hash``).
        return [
            LiveResource(self.name, r["RoleName"], r["Arn"], {"recorded": recorded_in(str(r.get("Description", "")))})
            for r in roles
            if r.get("Path") == path
        ]

    records_in_listing = True

    def recorded_hash(self, res: LiveResource) -> str | None:
        recorded = res.visible.get("recorded")
        return str(recorded) if recorded else None

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return tag_dict(client.paginate("iam", "list_role_tags", "Tags", RoleName=res.name))

    def delete(self, ctx: ApplyContext) -> None:
        delete_role(ctx)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        if not create_role(ctx, res.hidden["path"], res.hidden["trust"], res.hidden["description"]):
            self.update(ctx)  # adopted: every setting again
            return
        self._policy(ctx)
        self._record(ctx)

    def update(self, ctx: ApplyContext) -> None:
        """Every setting again (the hash says something changed, not what), stale tags off,
        then the hash."""
        res = ctx.res
        ctx.call("iam", "update_assume_role_policy", RoleName=res.name, PolicyDocument=json.dumps(res.hidden["trust"]))
        ctx.call("iam", "update_role_description", RoleName=res.name, Description=res.hidden["description"])
        self._policy(ctx)
        ctx.retag(
            lambda tags: None,  # set with the hash below
            lambda keys: ctx.call("iam", "untag_role", RoleName=res.name, TagKeys=keys),
        )
        self._record(ctx)

    def _policy(self, ctx: ApplyContext) -> None:
        policy = json.dumps(ctx.res.hidden["policy"], separators=(",", ":"))
        ctx.call("iam", "put_role_policy", RoleName=ctx.res.name, PolicyName=POLICY_NAME, PolicyDocument=policy)

    def _record(self, ctx: ApplyContext) -> None:
        """The tags with the settings' hash, then the same hash in the description (which
        ListRoles returns, so an unchanged deploy reads no tags): last, so a role interrupted
        before is re-applied."""
        digest = ctx.res.hidden_hash()
        ctx.call("iam", "tag_role", RoleName=ctx.res.name, Tags=tag_list({**ctx.res.tags, CONFIG_TAG: digest}))
        described = f"{ctx.res.hidden['description']}{RECORD_MARK}{digest}]"
        ctx.call("iam", "update_role_description", RoleName=ctx.res.name, Description=described)

    # -- export ---------------------------------------------------------------------------------
    tf_type = "aws_iam_role"

    def export_word_of(self, res: Resource) -> str:
        """``TeamRoleBilling0`` / ``NamespaceSchedulerRole`` (a shared resource's logical id is
        this word alone: ``CfnContext.logical_id``)."""
        if res.slot == "tsrole":
            return "NamespaceSchedulerRole"
        label = res.name.removesuffix(names.TEAM_ROLE_SUFFIX).split(names.TEAM_ROLE_PREFIX, 1)[1]
        return "TeamRole" + "".join(word[:1].upper() + word[1:] for word in re.split(r"[-_]", label))

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        _unique_export_names(ctx, res, ctx.logical_id, "CloudFormation logical id")
        props = {
            "RoleName": ctx.text(res.name),
            "Path": ctx.text(res.hidden["path"]),
            "Description": ctx.text(res.hidden["description"]),
            "AssumeRolePolicyDocument": ctx.text(res.hidden["trust"]),
            "Policies": [{"PolicyName": POLICY_NAME, "PolicyDocument": ctx.text(res.hidden["policy"])}],
            "Tags": ctx.tags(res),
        }
        out: dict[str, Any] = {"Type": "AWS::IAM::Role", "Properties": props}
        out["Metadata"] = skipped(ctx.applicable(_skips(res)))
        return {ctx.logical_id(res): out}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        _unique_export_names(ctx, res, tf_name, "Terraform name")
        name = tf_name(res)  # what a function's reference to its role's policy uses too
        role = Block("resource", (self.tf_type, name))
        role.attr("name", ctx.text(res.name)).attr("path", ctx.text(res.hidden["path"]))
        role.attr("description", ctx.text(res.hidden["description"]))
        role.attr("assume_role_policy", ctx.document(res.hidden["trust"])).attr("tags", ctx.tags(res))
        policy = Block("resource", ("aws_iam_role_policy", name), comments=checkov_skips(ctx.applicable(_skips(res))))
        policy.attr("name", POLICY_NAME).attr("role", Raw(f"{self.tf_type}.{name}.id"))
        policy.attr("policy", ctx.document(res.hidden["policy"]))
        return [role, policy]


def _unique_export_names(
    ctx: CfnContext | TfContext, res: Resource, name_of: Callable[[Resource], str], what: str
) -> None:
    """Team names may hold ``-`` and ``_``, which an export's names cannot tell apart."""
    same = [other for other in ctx.desired.shared() if other.kind == res.kind and name_of(other) == name_of(res)]
    if len(same) > 1:
        teams = " and ".join(repr(other.tags.get(names.TEAM_TAG)) for other in same)
        raise ExportError(f"teams {teams} get the same {what} {name_of(res)!r} in an export; rename one of them")


KIND = RoleKind()
TEAM_KIND = TeamRoleKind()
