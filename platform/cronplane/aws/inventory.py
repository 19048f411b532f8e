"""Stage 4 of the deploy pipeline: what exists in AWS right now. Reads only.

No state file: live state is found by name prefix (one paginated list call per service) and by
tags (one Resource Groups Tagging API query for the functions and the history table, which
carry the namespace tag and each job's ``cronplane:config`` record). That keeps an unchanged
deploy of 200 jobs at about 20 calls; per-resource reads (tags of a role, a queue's attributes)
happen only for resources the planner is about to touch (``fetch_tags``, ``fetch_details``).

Values are normalised to the shape of ``Resource.visible`` so the planner compares like with
like.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.build.resources import Kind, KindAndName
from cronplane.manifest import names
from cronplane.runtime.records import DEPLOY_LOCK_JOB  # noqa: F401 - documents the table layout

PAUSED_PARTITION = "~paused"  # history-table partition of pause markers (written by `jobctl pause`)
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFoundException",
    }
)


@dataclass(frozen=True)
class LiveResource(KindAndName):
    kind: Kind
    name: str
    arn: str
    visible: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] | None = None  # None: not read (only read when the planner needs them)
    url: str | None = None  # SQS queues are addressed by URL
    details: Mapping[str, Any] | None = None  # hidden settings, read only to show field diffs


@dataclass(frozen=True)
class Pause:
    job: str
    actor: str
    at: str


@dataclass(frozen=True)
class LiveState:
    namespace: str
    resources: Mapping[tuple[Kind, str], LiveResource]
    paused: Mapping[str, Pause] = field(default_factory=dict)

    def get(self, kind: Kind, name: str) -> LiveResource | None:
        return self.resources.get((kind, name))

    def with_resources(self, updated: Iterable[LiveResource]) -> LiveState:
        merged = dict(self.resources)
        for res in updated:
            merged[res.key] = res
        return replace(self, resources=merged)


class Inventory:
    def __init__(self, client: AwsClient) -> None:
        self.client = client

    def load(self, namespace: str) -> LiveState:
        c = self.client
        prefix = f"{namespace}-"
        found: list[LiveResource] = []
        tagged = self._tagged(namespace)

        for fn in c.paginate("lambda", "list_functions", "Functions"):
            name = fn["FunctionName"]
            if name.startswith(prefix):
                found.append(
                    LiveResource(
                        Kind.FUNCTION,
                        name,
                        fn["FunctionArn"],
                        function_visible(fn),
                        tags=tagged.get(_unqualified(fn["FunctionArn"])),
                    )
                )
        for role in c.paginate("iam", "list_roles", "Roles", PathPrefix=names.role_path(namespace), MaxItems=1000):
            found.append(LiveResource(Kind.ROLE, role["RoleName"], role["Arn"], role_visible(role)))
        for url in c.paginate("sqs", "list_queues", "QueueUrls", QueueNamePrefix=prefix, MaxResults=1000):
            name = url.rstrip("/").rsplit("/", 1)[-1]
            found.append(LiveResource(Kind.QUEUE, name, "", url=url))
        for group in c.paginate(
            "logs", "describe_log_groups", "logGroups", logGroupNamePrefix=names.log_group_name(namespace, "")
        ):
            found.append(
                LiveResource(
                    Kind.LOG_GROUP,
                    group["logGroupName"],
                    group["arn"].removesuffix(":*"),
                    {"retention": group.get("retentionInDays")},
                )
            )
        for rule in c.paginate("events", "list_rules", "Rules", NamePrefix=prefix, Limit=100):
            found.append(LiveResource(Kind.RULE, rule["Name"], rule["Arn"], rule_visible(rule)))
        found.extend(self._scheduler(namespace))
        table = names.history_table(namespace)
        for arn, tags in tagged.items():
            if arn.endswith(f":table/{table}"):
                found.append(LiveResource(Kind.TABLE, table, arn, tags=tags))
        paused = self._paused(table) if any(r.kind == Kind.TABLE for r in found) else {}
        return LiveState(namespace, {r.key: r for r in found}, paused)

    def _tagged(self, namespace: str) -> dict[str, dict[str, str]]:
        """Tags of this namespace's functions and history table, in one paginated query.
        TagsPerPage (not ResourcesPerPage) because our resources carry ~7 tags each: 500 tags
        a page is ~70 functions instead of 100 tags (~14 functions)."""
        items = self.client.paginate(
            "resourcegroupstaggingapi",
            "get_resources",
            "ResourceTagMappingList",
            TagFilters=[{"Key": names.NAMESPACE_TAG, "Values": [namespace]}],
            ResourceTypeFilters=["lambda:function", "dynamodb:table"],
            TagsPerPage=500,
        )
        return {_unqualified(i["ResourceARN"]): {t["Key"]: t["Value"] for t in i.get("Tags", [])} for i in items}

    def _scheduler(self, namespace: str) -> list[LiveResource]:
        """The namespace's schedule group (tags read directly: Scheduler is not in the tagging
        API) and the schedules in it. Schedules carry no tags; living in the group is what
        makes them ours."""
        group = names.schedule_group(namespace)
        c = self.client
        try:
            info = c.call("scheduler", "get_schedule_group", Name=group)
        except AwsCallError as exc:
            if exc.code in NOT_FOUND_CODES:
                return []
            raise
        arn = info["Arn"]
        tags = {
            t["Key"]: t["Value"] for t in c.call("scheduler", "list_tags_for_resource", ResourceArn=arn).get("Tags", [])
        }
        out = [LiveResource(Kind.SCHEDULE_GROUP, group, arn, tags=tags)]
        for sched in c.paginate("scheduler", "list_schedules", "Schedules", GroupName=group, MaxResults=100):
            out.append(
                LiveResource(
                    Kind.SCHEDULE,
                    sched["Name"],
                    sched["Arn"],
                    {"state": sched.get("State"), "target_arn": (sched.get("Target") or {}).get("Arn")},
                    tags=tags,  # a schedule belongs to whoever owns its group
                )
            )
        return out

    def _paused(self, table: str) -> dict[str, Pause]:
        items = self.client.paginate(
            "dynamodb",
            "query",
            "Items",
            TableName=table,
            KeyConditionExpression="#j = :p",
            ExpressionAttributeNames={"#j": "job"},
            ExpressionAttributeValues={":p": {"S": PAUSED_PARTITION}},
        )
        out: dict[str, Pause] = {}
        for item in items:
            job = item["run_id"]["S"]
            out[job] = Pause(job, item.get("actor", {}).get("S", "someone"), item.get("at", {}).get("S", "?"))
        return out

    # -- on demand ----------------------------------------------------------------------------
    def fetch_tags(self, live: LiveState, keys: Iterable[tuple[Kind, str]]) -> LiveState:
        """Tags of the listed resources whose tags the bulk query does not return: one read
        each, only for resources the planner would modify or delete."""
        updated = []
        for key in sorted(set(keys), key=lambda k: (k[0].value, k[1])):
            res = live.resources.get(key)
            if res is None or res.tags is not None:
                continue
            try:
                updated.append(replace(res, tags=self._tags_of(res)))
            except AwsCallError as exc:
                if exc.code not in NOT_FOUND_CODES:
                    raise
                updated.append(replace(res, tags={}))
        return live.with_resources(updated)

    def _tags_of(self, res: LiveResource) -> dict[str, str]:
        c = self.client
        if res.kind == Kind.ROLE:
            tags = c.paginate("iam", "list_role_tags", "Tags", RoleName=res.name)
            return {t["Key"]: t["Value"] for t in tags}
        if res.kind == Kind.QUEUE:
            return dict(c.call("sqs", "list_queue_tags", QueueUrl=res.url).get("Tags", {}))
        if res.kind == Kind.LOG_GROUP:
            return dict(c.call("logs", "list_tags_for_resource", resourceArn=res.arn).get("tags", {}))
        if res.kind == Kind.RULE:
            tags = c.call("events", "list_tags_for_resource", ResourceARN=res.arn).get("Tags", [])
            return {t["Key"]: t["Value"] for t in tags}
        if res.kind == Kind.FUNCTION:
            return dict(c.call("lambda", "list_tags", Resource=res.arn).get("Tags", {}))
        return {}

    def fetch_details(self, live: LiveState, keys: Iterable[tuple[Kind, str]], namespace: str) -> LiveState:
        """Hidden settings of resources whose recorded hash changed, in the shape of
        ``Resource.hidden``, so ``jobctl plan`` can show which field changed and how."""
        updated = []
        for key in sorted(set(keys), key=lambda k: (k[0].value, k[1])):
            res = live.resources.get(key)
            if res is None or res.details is not None:
                continue
            try:
                details = self._details_of(res, namespace)
            except AwsCallError as exc:
                if exc.code not in NOT_FOUND_CODES:
                    raise
                details = {}
            if details is not None:
                updated.append(replace(res, details=details))
        return live.with_resources(updated)

    def _details_of(self, res: LiveResource, namespace: str) -> dict[str, Any] | None:
        c = self.client
        if res.kind == Kind.ROLE:
            from cronplane.build.resources import POLICY_NAME

            doc = c.call("iam", "get_role_policy", RoleName=res.name, PolicyName=POLICY_NAME)["PolicyDocument"]
            return {"policy": _json(doc)}
        if res.kind == Kind.QUEUE:
            attrs = c.call("sqs", "get_queue_attributes", QueueUrl=res.url, AttributeNames=["All"]).get(
                "Attributes", {}
            )
            keep = ("SqsManagedSseEnabled", "MessageRetentionPeriod", "Policy")
            kept = {k: attrs[k] for k in keep if k in attrs}
            if "Policy" in kept:  # SQS hands the policy back re-serialised: compare documents, not text
                from cronplane.build.resources import canonical_json

                kept["Policy"] = canonical_json(_json(kept["Policy"]))
            return {"attributes": kept}
        if res.kind == Kind.RULE:
            targets = c.call("events", "list_targets_by_rule", Rule=res.name).get("Targets", [])
            return {"target": targets[0] if targets else None}
        if res.kind == Kind.FUNCTION:
            got = c.call("lambda", "get_function_concurrency", FunctionName=res.name)
            return {"reserved_concurrency": got.get("ReservedConcurrentExecutions")}
        if res.kind == Kind.SCHEDULE:
            s = c.call("scheduler", "get_schedule", Name=res.name, GroupName=names.schedule_group(namespace))
            target = s.get("Target", {})
            return {
                "group": s.get("GroupName"),
                "expression": s.get("ScheduleExpression"),
                "timezone": s.get("ScheduleExpressionTimezone"),
                "description": s.get("Description", ""),
                "action_after_completion": s.get("ActionAfterCompletion"),
                "role_arn": target.get("RoleArn"),
                "retry": target.get("RetryPolicy"),
                "dlq": (target.get("DeadLetterConfig") or {}).get("Arn"),
                "input": target.get("Input"),
            }
        return None


# --- normalisers: AWS list output -> Resource.visible shape -----------------------------------


def function_visible(fn: Mapping[str, Any]) -> dict[str, Any]:
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


def role_visible(role: Mapping[str, Any]) -> dict[str, Any]:
    return {"path": role.get("Path"), "trust": _json(role.get("AssumeRolePolicyDocument"))}


def rule_visible(rule: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "expression": rule.get("ScheduleExpression"),
        "state": rule.get("State"),
        "description": rule.get("Description") or "",
    }


def _json(doc: Any) -> Any:
    """IAM returns policy documents URL-decoded as dicts through boto3; some emulators hand
    back the string. Either way: a dict."""
    if isinstance(doc, str):
        from urllib.parse import unquote

        try:
            return json.loads(doc)
        except ValueError:
            return json.loads(unquote(doc))
    return doc


def _unqualified(arn: str) -> str:
    """A function ARN without a version/alias qualifier."""
    parts = arn.split(":")
    if len(parts) == 8 and parts[2] == "lambda":
        return ":".join(parts[:7])
    return arn
