"""The AWS calls behind each planned action: one small applier per resource kind, used by the
executor. Every create is idempotent so that re-running an interrupted deploy converges: when
AWS says "already exists", the resource is adopted if it carries this namespace's tag (and then
updated) and refused otherwise.

All calls go through ``AwsClient.call``: counted, retried, errors made readable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.aws.planner import Action, Op
from cronplane.build.resources import CONFIG_TAG, PERMISSION_SID, POLICY_NAME, Kind, Resource
from cronplane.errors import AwsError
from cronplane.manifest import names

FUNCTION_CONFIG_FIELDS = frozenset(
    {"runtime", "handler", "role", "timeout", "memory", "description", "environment", "vpc", "kms_key"}
)
NOT_FOUND = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    }
)


def apply(client: AwsClient, action: Action, namespace: str) -> None:
    handler = APPLIERS[action.kind]
    handler(_Ctx(client, action, namespace))


class _Ctx:
    def __init__(self, client: AwsClient, action: Action, namespace: str) -> None:
        self.client = client
        self.action = action
        self.ns = namespace

    @property
    def res(self) -> Resource:
        assert self.action.desired is not None, self.action
        return self.action.desired

    @property
    def op(self) -> Op:
        return self.action.op

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        return self.client.call(service, operation, **params)

    def ignore_missing(self, service: str, operation: str, **params: Any) -> None:
        try:
            self.call(service, operation, **params)
        except AwsCallError as exc:
            if exc.code not in NOT_FOUND:
                raise

    def needs(self, *names_: str) -> bool:
        """Whether any of these settings must be (re)applied: on create, when the plan names
        one of them, or when it names only the opaque "settings" (hash changed, details
        unknown — e.g. a stale state record), which re-applies everything."""
        return self.op == Op.CREATE or any(self.action.changed(n) for n in (*names_, "settings"))

    def retag(
        self, put: Callable[[dict[str, str]], Any], remove: Callable[[list[str]], Any], force: bool = False
    ) -> None:
        """Make the live tags the manifest's: remove the keys no longer wanted (a tag deleted
        from jobs.yaml, an owner dropped), set those that are new or changed. With the live
        tags unknown, set them all (``force``, or a "tags" change without old values)."""
        change = next((f for f in self.action.fields if f.name == "tags"), None)
        want = dict(self.res.tags)
        if change is not None and isinstance(change.old, dict):
            stale = sorted(k for k in change.old if k not in want and k != CONFIG_TAG and not k.startswith("aws:"))
            if stale:
                remove(stale)
            updated = {k: v for k, v in want.items() if change.old.get(k) != v}
            if updated:
                put(updated)
        elif change is not None or force or self.action.changed("settings"):
            put(want)

    def adopt(self, tags: dict[str, str]) -> None:
        """An "already exists" answer: carry on only if the resource is ours."""
        if tags.get(names.NAMESPACE_TAG) != self.ns:
            raise AwsError(
                f"{self.res.label} already exists and is not managed by cronplane namespace {self.ns} "
                f"(no {names.NAMESPACE_TAG}={self.ns} tag). Rename the job or delete that resource."
            )

    def wait_for(self, check: Callable[[], bool], what: str, attempts: int = 60) -> None:
        for _ in range(attempts):
            if check():
                return
            self.client.sleep(1.0)
        raise AwsError(f"{self.res.label}: timed out waiting until {what}")


def _tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


# --- shared --------------------------------------------------------------------------------------


def table(ctx: _Ctx) -> None:
    if ctx.op == Op.DELETE:
        ctx.ignore_missing("dynamodb", "delete_table", TableName=ctx.action.name)
        return
    res = ctx.res
    if ctx.op == Op.CREATE:
        try:
            ctx.call("dynamodb", "create_table", **res.hidden["definition"], Tags=_tag_list(dict(res.tags)))
        except AwsCallError as exc:
            if exc.code != "ResourceInUseException":
                raise
            tags = ctx.call("dynamodb", "list_tags_of_resource", ResourceArn=res.arn).get("Tags", [])
            ctx.adopt({t["Key"]: t["Value"] for t in tags})

    def active() -> bool:
        status = ctx.call("dynamodb", "describe_table", TableName=res.name)["Table"]["TableStatus"]
        return bool(status == "ACTIVE")

    if ctx.op == Op.UPDATE and not ctx.needs("settings"):
        # Only tags differ: no need to touch TTL / PITR.
        ctx.retag(
            lambda tags: ctx.call("dynamodb", "tag_resource", ResourceArn=res.arn, Tags=_tag_list(tags)),
            lambda keys: ctx.call("dynamodb", "untag_resource", ResourceArn=res.arn, TagKeys=keys),
        )
        return
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
    if ctx.op == Op.UPDATE:
        ctx.retag(
            lambda tags: None, lambda keys: ctx.call("dynamodb", "untag_resource", ResourceArn=res.arn, TagKeys=keys)
        )
    # The hash goes on last: a table interrupted before TTL/PITR is re-applied next time.
    ctx.call(
        "dynamodb", "tag_resource", ResourceArn=res.arn, Tags=_tag_list({**res.tags, CONFIG_TAG: res.hidden_hash()})
    )


def schedule_group(ctx: _Ctx) -> None:
    if ctx.op == Op.DELETE:
        ctx.ignore_missing("scheduler", "delete_schedule_group", Name=ctx.action.name)
        return
    res = ctx.res
    tags = _tag_list({**res.tags, CONFIG_TAG: res.hidden_hash()})
    if ctx.op == Op.CREATE:
        try:
            ctx.call("scheduler", "create_schedule_group", Name=res.name, Tags=tags)
            return
        except AwsCallError as exc:
            if exc.code != "ConflictException":
                raise
            live = ctx.call("scheduler", "list_tags_for_resource", ResourceArn=res.arn).get("Tags", [])
            ctx.adopt({t["Key"]: t["Value"] for t in live})
    if ctx.op == Op.UPDATE:
        ctx.retag(
            lambda _: None, lambda keys: ctx.call("scheduler", "untag_resource", ResourceArn=res.arn, TagKeys=keys)
        )
    ctx.call("scheduler", "tag_resource", ResourceArn=res.arn, Tags=tags)


# --- per job -------------------------------------------------------------------------------------


def role(ctx: _Ctx) -> None:
    if ctx.op == Op.DELETE:
        name = ctx.action.name
        try:
            for policy in ctx.client.paginate("iam", "list_role_policies", "PolicyNames", RoleName=name):
                ctx.call("iam", "delete_role_policy", RoleName=name, PolicyName=policy)
            for att in ctx.client.paginate("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=name):
                ctx.call("iam", "detach_role_policy", RoleName=name, PolicyArn=att["PolicyArn"])
        except AwsCallError as exc:
            if exc.code not in NOT_FOUND:
                raise
        ctx.ignore_missing("iam", "delete_role", RoleName=name)
        return
    res = ctx.res
    trust = json.dumps(res.visible["trust"])
    adopted = False
    if ctx.op == Op.CREATE:
        try:
            ctx.call(
                "iam",
                "create_role",
                RoleName=res.name,
                Path=res.visible["path"],
                AssumeRolePolicyDocument=trust,
                Description=f"cronplane job {res.job} ({ctx.ns})",
                Tags=_tag_list(dict(res.tags)),
            )
        except AwsCallError as exc:
            if exc.code != "EntityAlreadyExists":
                raise
            tags = ctx.client.paginate("iam", "list_role_tags", "Tags", RoleName=res.name)
            ctx.adopt({t["Key"]: t["Value"] for t in tags})
            adopted = True
    if adopted or ctx.action.changed("trust"):
        ctx.call("iam", "update_assume_role_policy", RoleName=res.name, PolicyDocument=trust)
    if adopted or ctx.needs("policy"):
        ctx.call(
            "iam",
            "put_role_policy",
            RoleName=res.name,
            PolicyName=POLICY_NAME,
            PolicyDocument=json.dumps(res.hidden["policy"]),
        )
    if ctx.op != Op.CREATE or adopted:
        ctx.retag(
            lambda tags: ctx.call("iam", "tag_role", RoleName=res.name, Tags=_tag_list(tags)),
            lambda keys: ctx.call("iam", "untag_role", RoleName=res.name, TagKeys=keys),
            force=adopted,
        )


def queue(ctx: _Ctx) -> None:
    if ctx.op == Op.DELETE:
        assert ctx.action.live is not None
        ctx.ignore_missing("sqs", "delete_queue", QueueUrl=ctx.action.live.url)
        return
    res = ctx.res
    attrs = dict(res.hidden["attributes"])
    if ctx.op == Op.CREATE:
        try:
            ctx.call("sqs", "create_queue", QueueName=res.name, Attributes=attrs, tags=dict(res.tags))
            return
        except AwsCallError as exc:
            if exc.code not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            url = ctx.call("sqs", "get_queue_url", QueueName=res.name)["QueueUrl"]
            ctx.adopt(dict(ctx.call("sqs", "list_queue_tags", QueueUrl=url).get("Tags", {})))
        ctx.call("sqs", "set_queue_attributes", QueueUrl=url, Attributes=attrs)
        ctx.call("sqs", "tag_queue", QueueUrl=url, Tags=dict(res.tags))
        return
    assert ctx.action.live is not None
    url = str(ctx.action.live.url)
    if ctx.needs("attributes"):
        ctx.call("sqs", "set_queue_attributes", QueueUrl=url, Attributes=attrs)
    ctx.retag(
        lambda tags: ctx.call("sqs", "tag_queue", QueueUrl=url, Tags=tags),
        lambda keys: ctx.call("sqs", "untag_queue", QueueUrl=url, TagKeys=keys),
    )


def log_group(ctx: _Ctx) -> None:
    if ctx.op == Op.DELETE:
        ctx.ignore_missing("logs", "delete_log_group", logGroupName=ctx.action.name)
        return
    res = ctx.res
    adopted = False
    if ctx.op == Op.CREATE:
        try:
            ctx.call("logs", "create_log_group", logGroupName=res.name, tags=dict(res.tags))
        except AwsCallError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise
            ctx.adopt(dict(ctx.call("logs", "list_tags_for_resource", resourceArn=res.arn).get("tags", {})))
            adopted = True
    if ctx.op == Op.CREATE or ctx.action.changed("retention"):
        ctx.call("logs", "put_retention_policy", logGroupName=res.name, retentionInDays=res.visible["retention"])
    if ctx.op != Op.CREATE or adopted:
        ctx.retag(
            lambda tags: ctx.call("logs", "tag_resource", resourceArn=res.arn, tags=tags),
            lambda keys: ctx.call("logs", "untag_resource", resourceArn=res.arn, tagKeys=keys),
            force=adopted,
        )


def function(ctx: _Ctx) -> None:
    if ctx.op == Op.DELETE:
        ctx.ignore_missing("lambda", "delete_function", FunctionName=ctx.action.name)
        return
    if ctx.op == Op.RECORD:
        ctx.call("lambda", "tag_resource", Resource=ctx.res.arn, Tags={CONFIG_TAG: ctx.action.fields[0].new})
        return
    res = ctx.res
    v = res.visible
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
    fields = {f.name for f in ctx.action.fields}
    if ctx.op == Op.CREATE:
        if res.code is None:
            raise AwsError(f"{res.label}: no package built (internal error: plan-only desired state)")
        try:
            out = ctx.call(
                "lambda",
                "create_function",
                FunctionName=res.name,
                Code={"ZipFile": res.code},
                Architectures=[v["architecture"]],
                Tags=dict(res.tags),
                Publish=False,
                **config,
            )
            _wait_function(ctx, out)
            fields = {"reserved_concurrency"} if res.hidden.get("reserved_concurrency") else set()
        except AwsCallError as exc:
            if exc.code != "ResourceConflictException":
                raise
            ctx.adopt(dict(ctx.call("lambda", "list_tags", Resource=res.arn).get("Tags", {})))
            fields = {"code_sha256", "runtime", "tags", "reserved_concurrency"}
    if fields & {"code_sha256", "architecture"}:
        if res.code is None:
            raise AwsError(f"{res.label}: no package built (internal error: plan-only desired state)")
        out = ctx.call(
            "lambda", "update_function_code", FunctionName=res.name, ZipFile=res.code, Architectures=[v["architecture"]]
        )
        _wait_function(ctx, out)
    if fields & FUNCTION_CONFIG_FIELDS:
        out = ctx.call("lambda", "update_function_configuration", FunctionName=res.name, **config)
        _wait_function(ctx, out)
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


def _wait_function(ctx: _Ctx, out: dict[str, Any]) -> None:
    """Real Lambda refuses the next change while a create/update is still in progress."""
    if out.get("State") not in (None, "Pending") and out.get("LastUpdateStatus") != "InProgress":
        return

    def ready() -> bool:
        cfg = ctx.call("lambda", "get_function_configuration", FunctionName=ctx.res.name)
        if cfg.get("State") == "Failed" or cfg.get("LastUpdateStatus") == "Failed":
            raise AwsError(f"{ctx.res.label}: {cfg.get('StateReason') or cfg.get('LastUpdateStatusReason')}")
        return cfg.get("State") == "Active" and cfg.get("LastUpdateStatus") in (None, "Successful")

    ctx.wait_for(ready, "the function is Active")


def invoke_config(ctx: _Ctx) -> None:
    qualifier = (
        {"Qualifier": ctx.res.hidden["qualifier"]} if ctx.op != Op.DELETE and ctx.res.hidden["qualifier"] else {}
    )
    if ctx.op == Op.DELETE:
        ctx.ignore_missing("lambda", "delete_function_event_invoke_config", FunctionName=ctx.action.name)
        return
    h = ctx.res.hidden
    ctx.call(
        "lambda",
        "put_function_event_invoke_config",
        FunctionName=ctx.res.name,
        MaximumRetryAttempts=h["max_retry_attempts"],
        DestinationConfig={"OnFailure": {"Destination": h["on_failure"]}},
        **qualifier,
    )


def alias(ctx: _Ctx) -> None:
    if ctx.op == Op.DELETE:
        ctx.ignore_missing("lambda", "delete_alias", FunctionName=ctx.action.name, Name=names.ALIAS_NAME)
        return
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


def permission(ctx: _Ctx) -> None:
    if ctx.op == Op.DELETE:
        ctx.ignore_missing("lambda", "remove_permission", FunctionName=ctx.action.name, StatementId=PERMISSION_SID)
        return
    h = ctx.res.hidden
    qualifier = {"Qualifier": h["qualifier"]} if h["qualifier"] else {}
    params = dict(
        FunctionName=ctx.res.name,
        StatementId=h["sid"],
        Action="lambda:InvokeFunction",
        Principal=h["principal"],
        SourceArn=h["source_arn"],
        SourceAccount=h["source_account"],
        **qualifier,
    )
    if ctx.op == Op.UPDATE or ctx.action.live is not None:
        # Also on a create for a function that already existed: a deploy interrupted before the
        # job's state record may have added it (AWS would refuse the duplicate; some emulators
        # keep both statements).
        ctx.ignore_missing("lambda", "remove_permission", FunctionName=ctx.res.name, StatementId=h["sid"], **qualifier)
    try:
        ctx.call("lambda", "add_permission", **params)
    except AwsCallError as exc:
        if exc.code != "ResourceConflictException":
            raise
        ctx.ignore_missing("lambda", "remove_permission", FunctionName=ctx.res.name, StatementId=h["sid"], **qualifier)
        ctx.call("lambda", "add_permission", **params)


def rule(ctx: _Ctx) -> None:
    if ctx.op == Op.DELETE:
        name = ctx.action.name
        try:
            targets = ctx.call("events", "list_targets_by_rule", Rule=name).get("Targets", [])
            if targets:
                ctx.call("events", "remove_targets", Rule=name, Ids=[t["Id"] for t in targets])
        except AwsCallError as exc:
            if exc.code not in NOT_FOUND:
                raise
        ctx.ignore_missing("events", "delete_rule", Name=name)
        return
    res = ctx.res
    v = res.visible
    visible_changed = ctx.op == Op.CREATE or any(f.name in v for f in ctx.action.fields)
    if visible_changed:
        extra = {"Tags": _tag_list(dict(res.tags))} if ctx.op == Op.CREATE else {}
        ctx.call(
            "events",
            "put_rule",
            Name=res.name,
            ScheduleExpression=v["expression"],
            State=v["state"],
            Description=v["description"],
            **extra,
        )
    if ctx.needs("target"):
        out = ctx.call("events", "put_targets", Rule=res.name, Targets=[dict(res.hidden["target"])])
        if out.get("FailedEntryCount"):
            raise AwsError(f"{res.label}: put_targets failed: {out.get('FailedEntries')}")
    if ctx.op == Op.UPDATE:
        ctx.retag(
            lambda tags: ctx.call("events", "tag_resource", ResourceARN=res.arn, Tags=_tag_list(tags)),
            lambda keys: ctx.call("events", "untag_resource", ResourceARN=res.arn, TagKeys=keys),
        )


def schedule(ctx: _Ctx) -> None:
    group = names.schedule_group(ctx.ns)
    if ctx.op == Op.DELETE:
        ctx.ignore_missing("scheduler", "delete_schedule", Name=ctx.action.name, GroupName=group)
        return
    res = ctx.res
    h = res.hidden
    params: dict[str, Any] = {
        "Name": res.name,
        "GroupName": h["group"],
        "ScheduleExpression": h["expression"],
        "ScheduleExpressionTimezone": h["timezone"],
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Description": h["description"],
        "State": res.visible["state"],
        "Target": {
            "Arn": res.visible["target_arn"],
            "RoleArn": h["role_arn"],
            "RetryPolicy": dict(h["retry"]),
            "DeadLetterConfig": {"Arn": h["dlq"]},
            "Input": h["input"],
        },
    }
    if h.get("action_after_completion"):
        params["ActionAfterCompletion"] = h["action_after_completion"]
    if ctx.op == Op.CREATE:
        try:
            ctx.call("scheduler", "create_schedule", **params)
            return
        except AwsCallError as exc:
            if exc.code != "ConflictException":
                raise
    ctx.call("scheduler", "update_schedule", **params)


APPLIERS: dict[Kind, Callable[[_Ctx], None]] = {
    Kind.TABLE: table,
    Kind.SCHEDULE_GROUP: schedule_group,
    Kind.ROLE: role,
    Kind.QUEUE: queue,
    Kind.LOG_GROUP: log_group,
    Kind.FUNCTION: function,
    Kind.INVOKE_CONFIG: invoke_config,
    Kind.ALIAS: alias,
    Kind.PERMISSION: permission,
    Kind.RULE: rule,
    Kind.SCHEDULE: schedule,
}
