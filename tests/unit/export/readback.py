"""Read an export back into the form of ``build.resources.Resource`` (kind, name, visible,
hidden, tags), to compare with what ``plan`` wants.

Written apart from the exporters on purpose: it knows the AWS resource types and how each
format writes a reference (CloudFormation ``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub``, Terraform
interpolations), works out every ARN from the AWS ARN formats itself, and resolves the inputs
to their defaults (or given values). It imports nothing of ``cronplane.aws.export``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hcl2

from cronplane.build.resources import Kind, canonical_json

Normalized = dict[tuple[str, str], dict[str, Any]]
MARK = "cronplane:exported-to"


def normalized(resources: Any, *, drop: Mapping[str, tuple[str, ...]] = {}) -> dict[str, Any]:
    """Desired ``Resource`` values in the compared form, without the ``drop``ped hidden keys."""
    out: Normalized = {}
    for res in resources:
        hidden = {k: v for k, v in res.hidden.items() if k not in drop.get(res.kind, ())}
        out[res.key] = {"visible": dict(res.visible), "hidden": hidden, "tags": dict(res.tags)}
    return _compared(out)


def _compared(out: Normalized) -> dict[str, Any]:
    return as_sets(json.loads(canonical_json({f"{k[0]}|{k[1]}": v for k, v in out.items()})))


def as_sets(value: Any) -> Any:
    """IAM reads a statement's Action and Resource lists as sets; a list sorted in build.iam may
    come out in another order when sorted with the export's placeholders in it."""
    if isinstance(value, dict):
        return {
            k: sorted(v) if k in ("Action", "Resource") and isinstance(v, list) else as_sets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [as_sets(v) for v in value]
    return value


def _entry(out: Normalized, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    entry = out.setdefault((kind, name), {"visible": {}, "hidden": {}, "tags": {}})
    for key, value in fields.items():
        entry[key].update(value)
    return entry


def _finish(out: Normalized, fmt: str) -> dict[str, Any]:
    for entry in out.values():
        if entry["tags"]:
            assert entry["tags"].pop(MARK) == fmt, entry  # every tagged resource says who deploys it
    return _compared(out)


def package_sha(folder: Path, file_name: str) -> str:
    data = (folder / file_name).read_bytes()
    assert Path(file_name).name == f"{hashlib.sha256(data).hexdigest()}.zip"  # named by content hash
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# --- CloudFormation ---------------------------------------------------------------------------

_ARN = {
    "AWS::IAM::Role": lambda p, a: f"arn:{a['partition']}:iam::{a['account']}:role{p['Path']}{p['RoleName']}",
    "AWS::SQS::Queue": lambda p, a: f"arn:{a['partition']}:sqs:{a['region']}:{a['account']}:{p['QueueName']}",
    "AWS::Lambda::Function": lambda p, a: (
        f"arn:{a['partition']}:lambda:{a['region']}:{a['account']}:function:{p['FunctionName']}"
    ),
    "AWS::Events::Rule": lambda p, a: f"arn:{a['partition']}:events:{a['region']}:{a['account']}:rule/{p['Name']}",
    "AWS::Scheduler::ScheduleGroup": lambda p, a: (
        f"arn:{a['partition']}:scheduler:{a['region']}:{a['account']}:schedule-group/{p['Name']}"
    ),
    "AWS::SNS::Topic": lambda p, a: f"arn:{a['partition']}:sns:{a['region']}:{a['account']}:{p['TopicName']}",
    "AWS::DynamoDB::Table": lambda p, a: (
        f"arn:{a['partition']}:dynamodb:{a['region']}:{a['account']}:table/{p['TableName']}"
    ),
}


class CfnReader:
    def __init__(self, template: dict[str, Any], folder: Path, aws: Mapping[str, str], params: Mapping[str, Any]):
        self.t = template
        self.folder = folder
        self.aws = aws
        self.params = {k: v.get("Default") for k, v in template["Parameters"].items()} | dict(params)
        self.pseudo = {"AWS::AccountId": aws["account"], "AWS::Region": aws["region"], "AWS::Partition": "aws"}

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.value(self.t["Resources"][logical_id]["Properties"])

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            value = self.params[name]
            return value.split(",") if self.t["Parameters"][name]["Type"].startswith("List") else value
        body = self.t["Resources"][name]
        p = self.props(name)
        return {
            "AWS::Lambda::Function": lambda: p["FunctionName"],
            "AWS::SQS::Queue": lambda: (
                f"https://sqs.{self.aws['region']}.amazonaws.com/{self.aws['account']}/{p['QueueName']}"
            ),
            "AWS::Scheduler::ScheduleGroup": lambda: p["Name"],
            "AWS::Lambda::Alias": lambda: f"{self.arn(p['FunctionName'])}:{p['Name']}",
            "AWS::SNS::Topic": lambda: _ARN["AWS::SNS::Topic"](p, {**self.aws, "partition": "aws"}),
            "AWS::KMS::Alias": lambda: p["AliasName"],
            "AWS::KMS::Key": lambda: name,  # its logical id: the alias reads the key's properties
        }[body["Type"]]()

    def arn(self, function_name: str) -> str:
        a = self.aws
        return f"arn:aws:lambda:{a['region']}:{a['account']}:function:{function_name}"

    def get_att(self, name: str, attribute: str) -> Any:
        body = self.t["Resources"][name]
        if attribute == "Version":
            return "1"
        assert attribute == "Arn", (name, attribute)
        return _ARN[body["Type"]](self.props(name), {**self.aws, "partition": "aws"})

    def sub(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if "." in name:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]*)\}", one, text)

    def value(self, v: Any) -> Any:
        if isinstance(v, dict):
            if set(v) == {"Ref"}:
                return self.ref(v["Ref"])
            if set(v) == {"Fn::GetAtt"}:
                return self.get_att(*v["Fn::GetAtt"])
            if set(v) == {"Fn::Sub"}:
                return self.sub(v["Fn::Sub"])
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v

    def read(self) -> dict[str, Any]:
        out: Normalized = {}
        policies: dict[str, Any] = {}
        topic_policies: dict[str, str] = {}
        subscriptions: list[tuple[str, str]] = []
        for logical_id, body in self.t["Resources"].items():
            p = self.props(logical_id)
            tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
            kind = body["Type"]
            if kind == "AWS::DynamoDB::Table":
                definition = {k: p[k] for k in ("TableName", "BillingMode", "AttributeDefinitions", "KeySchema")}
                definition["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
                definition["SSESpecification"] = {"Enabled": p["SSESpecification"]["SSEEnabled"]}
                assert p["TimeToLiveSpecification"]["Enabled"] is True
                hidden = {
                    "definition": definition,
                    "ttl": p["TimeToLiveSpecification"]["AttributeName"],
                    "pitr": p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
                }
                _entry(out, Kind.TABLE, p["TableName"], hidden=hidden, tags=tags)
            elif kind == "AWS::Scheduler::ScheduleGroup":
                _entry(out, Kind.SCHEDULE_GROUP, p["Name"], tags=tags)
            elif kind == "AWS::IAM::Role":
                [policy] = p["Policies"]
                assert policy["PolicyName"] == "cronplane"
                visible = {"path": p["Path"], "trust": p["AssumeRolePolicyDocument"]}
                _entry(
                    out,
                    Kind.ROLE,
                    p["RoleName"],
                    visible=visible,
                    hidden={"policy": policy["PolicyDocument"]},
                    tags=tags,
                )
            elif kind == "AWS::SQS::Queue":
                attributes = {
                    "SqsManagedSseEnabled": str(p["SqsManagedSseEnabled"]).lower(),
                    "MessageRetentionPeriod": str(p["MessageRetentionPeriod"]),
                }
                _entry(out, Kind.QUEUE, p["QueueName"], hidden={"attributes": attributes}, tags=tags)
            elif kind == "AWS::SQS::QueuePolicy":
                [url] = p["Queues"]
                policies[url.rsplit("/", 1)[1]] = canonical_json(p["PolicyDocument"])
            elif kind == "AWS::Logs::LogGroup":
                _entry(out, Kind.LOG_GROUP, p["LogGroupName"], visible={"retention": p["RetentionInDays"]}, tags=tags)
            elif kind == "AWS::Lambda::Function":
                self._function(out, p, tags)
            elif kind == "AWS::Lambda::EventInvokeConfig":
                hidden = {
                    "qualifier": None if p["Qualifier"] == "$LATEST" else p["Qualifier"],
                    "max_retry_attempts": p["MaximumRetryAttempts"],
                }
                if "DestinationConfig" in p:
                    hidden["on_failure"] = p["DestinationConfig"]["OnFailure"]["Destination"]
                _entry(out, Kind.INVOKE_CONFIG, p["FunctionName"], hidden=hidden)
            elif kind == "AWS::Lambda::Alias":
                provisioned = p["ProvisionedConcurrencyConfig"]["ProvisionedConcurrentExecutions"]
                _entry(out, Kind.ALIAS, p["FunctionName"], hidden={"provisioned": provisioned})
            elif kind == "AWS::Lambda::Permission":
                target = p["FunctionName"]
                function, _, qualifier = target.split(":function:")[-1].partition(":")
                hidden = {
                    "qualifier": qualifier or None,
                    "principal": p["Principal"],
                    "source_arn": p["SourceArn"],
                    "source_account": p["SourceAccount"],
                }
                assert p["Action"] == "lambda:InvokeFunction"
                _entry(out, Kind.PERMISSION, function, hidden=hidden)
            elif kind == "AWS::Events::Rule":
                [target] = p["Targets"]
                visible = {"expression": p["ScheduleExpression"], "state": p["State"], "description": p["Description"]}
                _entry(out, Kind.RULE, p["Name"], visible=visible, hidden={"target": target}, tags=tags)
            elif kind == "AWS::Scheduler::Schedule":
                _schedule(out, p["Name"], p, p["Target"])
            elif kind == "AWS::SNS::Topic":
                attributes = {"DisplayName": p["DisplayName"], "KmsMasterKeyId": p["KmsMasterKeyId"]}
                topic = _entry(out, Kind.TOPIC, p["TopicName"], hidden={"attributes": attributes}, tags=tags)
                topic["hidden"].setdefault("subscriptions", [])
            elif kind == "AWS::SNS::TopicPolicy":
                [arn] = p["Topics"]
                topic_policies[arn.rsplit(":", 1)[1]] = canonical_json(p["PolicyDocument"])
            elif kind == "AWS::SNS::Subscription":
                assert p["Protocol"] == "email"
                assert p["FilterPolicy"] == {"emails": [p["Endpoint"]]}  # only the alerts addressed to it
                subscriptions.append((p["TopicArn"].rsplit(":", 1)[1], p["Endpoint"]))
            elif kind == "AWS::KMS::Alias":
                key = self.props(p["TargetKeyId"])
                assert key["PendingWindowInDays"] == 7
                hidden = {
                    "description": key["Description"],
                    "rotation": key["EnableKeyRotation"],
                    "policy": canonical_json(key["KeyPolicy"]),
                }
                key_tags = {t["Key"]: t["Value"] for t in key["Tags"]}
                _entry(out, Kind.KEY, p["AliasName"], hidden=hidden, tags=key_tags)
            elif kind == "AWS::CloudWatch::Alarm":
                alarm = {k: v for k, v in p.items() if k != "Tags"}
                _entry(out, Kind.ALARM, p["AlarmName"], hidden={"alarm": alarm}, tags=tags)
            elif kind not in ("AWS::Lambda::Version", "AWS::KMS::Key"):  # a key: with its alias
                raise AssertionError(f"not read back: {kind}")
        for queue, policy in policies.items():
            out[(Kind.QUEUE, queue)]["hidden"]["attributes"]["Policy"] = policy
        _topics(out, topic_policies, subscriptions)
        return _finish(out, "cloudformation")

    def _function(self, out: Normalized, p: dict[str, Any], tags: dict[str, str]) -> None:
        vpc = p.get("VpcConfig")
        visible = {
            "runtime": p["Runtime"],
            "handler": p["Handler"],
            "role": p["Role"],
            "timeout": p["Timeout"],
            "memory": p["MemorySize"],
            "description": p["Description"],
            "environment": p["Environment"]["Variables"],
            "architecture": p["Architectures"][0],
            "vpc": {"subnets": vpc["SubnetIds"], "security_groups": vpc["SecurityGroupIds"]} if vpc else None,
            "kms_key": p.get("KmsKeyArn"),
            "code_sha256": package_sha(self.folder, p["Code"]["S3Key"]),
        }
        hidden = {"reserved_concurrency": p.get("ReservedConcurrentExecutions")}
        _entry(out, Kind.FUNCTION, p["FunctionName"], visible=visible, hidden=hidden, tags=tags)


def _topics(out: Normalized, policies: dict[str, str], subscriptions: list[tuple[str, str]]) -> None:
    for topic, policy in policies.items():
        out[(Kind.TOPIC, topic)]["hidden"]["attributes"]["Policy"] = policy
    for topic, address in subscriptions:
        addresses = out[(Kind.TOPIC, topic)]["hidden"]["subscriptions"]
        addresses[:] = sorted([*addresses, address])


def _schedule(out: Normalized, name: str, p: Mapping[str, Any], target: Mapping[str, Any], tf: bool = False) -> None:
    keys = ("GroupName", "ScheduleExpression", "ScheduleExpressionTimezone", "Description", "State")
    if tf:
        keys = ("group_name", "schedule_expression", "schedule_expression_timezone", "description", "state")
    group, expression, timezone, description, state = (p[k] for k in keys)
    hidden = {
        "group": group,
        "expression": expression,
        "timezone": timezone,
        "description": description,
        "role_arn": target["role_arn" if tf else "RoleArn"],
        "retry": target["retry"] if tf else target["RetryPolicy"],
        "dlq": target["dlq"] if tf else target["DeadLetterConfig"]["Arn"],
        "input": target["input" if tf else "Input"],
    }
    window = p["FlexibleTimeWindow"]
    if window == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": window.get("MaximumWindowInMinutes")}:
        hidden["start_window"] = window["MaximumWindowInMinutes"]  # only a job with one has it
    else:
        assert window == {"Mode": "OFF"}, window
    visible = {"state": state, "target_arn": target["arn" if tf else "Arn"]}
    _entry(out, Kind.SCHEDULE, name, visible=visible, hidden=hidden)


# --- Terraform --------------------------------------------------------------------------------


def _strip_blocks(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_blocks(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_strip_blocks(v) for v in value]
    return value


def _unquote_key(key: str) -> str:
    return json.loads(key) if key.startswith('"') else key


class TfReader:
    """A Terraform module's resources, with its expressions evaluated."""

    def __init__(self, folder: Path, aws: Mapping[str, str], variables: Mapping[str, Any] | None = None):
        self.folder = folder
        self.aws = aws
        self.resources: dict[str, dict[str, Any]] = {}
        self.vars: dict[str, Any] = {}
        for path in sorted(folder.glob("*.tf")):
            with path.open() as handle:
                parsed = _strip_blocks(hcl2.load(handle))
            for block in parsed.get("resource", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        self.resources[f"{_unquote_key(rtype)}.{_unquote_key(name)}"] = body
            for block in parsed.get("variable", []):
                for name, body in block.items():
                    self.vars[_unquote_key(name)] = self.value(body.get("default"))
        self.vars.update(variables or {})

    # expressions
    def expression(self, text: str) -> Any:
        text = text.strip()
        if text == "path.module":
            return "."
        data = {
            "data.aws_caller_identity.current.account_id": self.aws["account"],
            "data.aws_partition.current.partition": "aws",
        }
        if text in data:
            return data[text]
        parts = re.findall(r'[A-Za-z_][A-Za-z0-9_-]*|\["[^"]*"\]', text)
        assert "".join(p if p.startswith("[") else "." + p for p in parts).lstrip(".") == text, text
        keys = [json.loads(p[1:-1]) if p.startswith("[") else p for p in parts]
        if keys[0] == "var":
            value: Any = self.vars[keys[1]]
            for key in keys[2:]:
                value = value[key]
            return value
        rtype, name, attribute = keys
        return self.attribute(rtype, name, attribute)

    def attribute(self, rtype: str, name: str, attribute: str) -> Any:
        body = self.body(f"{rtype}.{name}")
        a = {**self.aws, "partition": "aws"}
        if attribute in ("name", "function_name") or (rtype == "aws_iam_role" and attribute == "id"):
            return body.get("name") or body.get("function_name")
        if attribute == "version":
            return "1"
        if rtype == "aws_kms_key" and attribute == "key_id":
            return name  # its Terraform name: the alias reads the key's block
        if rtype == "aws_sqs_queue" and attribute == "id":
            return f"https://sqs.{a['region']}.amazonaws.com/{a['account']}/{body['name']}"
        assert attribute == "arn", (rtype, attribute)
        if rtype == "aws_lambda_alias":
            return f"arn:aws:lambda:{a['region']}:{a['account']}:function:{body['function_name']}:{body['name']}"
        types = {
            "aws_sns_topic": "AWS::SNS::Topic",
            "aws_iam_role": "AWS::IAM::Role",
            "aws_sqs_queue": "AWS::SQS::Queue",
            "aws_lambda_function": "AWS::Lambda::Function",
            "aws_cloudwatch_event_rule": "AWS::Events::Rule",
            "aws_scheduler_schedule_group": "AWS::Scheduler::ScheduleGroup",
            "aws_dynamodb_table": "AWS::DynamoDB::Table",
        }
        props = {
            "Path": body.get("path"),
            "RoleName": body.get("name"),
            "QueueName": body.get("name"),
            "FunctionName": body.get("function_name"),
            "Name": body.get("name"),
            "TableName": body.get("name"),
            "TopicName": body.get("name"),
        }
        return _ARN[types[rtype]](props, a)

    def template(self, text: str) -> str:
        out, i = [], 0
        while i < len(text):
            if text.startswith("$${", i) or text.startswith("%%{", i):
                out.append(text[i + 1 : i + 3])
                i += 3
            elif text.startswith("${", i):
                end = text.index("}", i)
                while text.count("[", i, end) != text.count("]", i, end):
                    end = text.index("}", end + 1)
                out.append(str(self.expression(text[i + 2 : end])))
                i = end + 1
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            if v.startswith('"<<-EOT\n'):
                return self.template(textwrap.dedent(v[len('"<<-EOT\n') : -len('EOT"')]).rstrip("\n"))
            if v.startswith('"') and v.endswith('"'):
                inner = json.loads(v.replace("$${", "\u0000").replace("%%{", "\u0001"), strict=False)
                return self.template(inner.replace("\u0000", "$${").replace("\u0001", "%%{"))
            if v.startswith("${") and v.endswith("}"):
                return self.expression(v[2:-1])
            return v
        if isinstance(v, dict):
            return {_unquote_key(k): self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v

    def body(self, address: str) -> dict[str, Any]:
        raw = self.resources[address]
        return {k: self.value(v) for k, v in raw.items() if k not in ("depends_on", "lifecycle")}

    def read(self) -> dict[str, Any]:
        out: Normalized = {}
        readers: dict[str, Callable[[Normalized, dict[str, Any]], None]] = {
            "aws_dynamodb_table": _tf_table,
            "aws_scheduler_schedule_group": lambda o, b: _entry(o, Kind.SCHEDULE_GROUP, b["name"], tags=b["tags"]),
            "aws_iam_role": lambda o, b: _entry(
                o,
                Kind.ROLE,
                b["name"],
                visible={"path": b["path"], "trust": json.loads(b["assume_role_policy"])},
                tags=b["tags"],
            ),
            "aws_sqs_queue": _tf_queue,
            "aws_cloudwatch_log_group": lambda o, b: _entry(
                o, Kind.LOG_GROUP, b["name"], visible={"retention": b["retention_in_days"]}, tags=b["tags"]
            ),
            "aws_lambda_function": self._function,
            "aws_lambda_function_event_invoke_config": _tf_invoke_config,
            "aws_lambda_alias": lambda o, b: None,
            "aws_lambda_provisioned_concurrency_config": lambda o, b: _entry(
                o, Kind.ALIAS, b["function_name"], hidden={"provisioned": b["provisioned_concurrent_executions"]}
            ),
            "aws_lambda_permission": _tf_permission,
            "aws_cloudwatch_event_rule": lambda o, b: _entry(
                o,
                Kind.RULE,
                b["name"],
                visible={"expression": b["schedule_expression"], "state": b["state"], "description": b["description"]},
                tags=b["tags"],
            ),
            "aws_scheduler_schedule": _tf_schedule,
            "aws_sns_topic": lambda o, b: _entry(
                o,
                Kind.TOPIC,
                b["name"],
                hidden={
                    "attributes": {"DisplayName": b["display_name"], "KmsMasterKeyId": b["kms_master_key_id"]},
                    "subscriptions": [],
                },
                tags=b["tags"],
            ),
            "aws_cloudwatch_metric_alarm": _tf_alarm,
        }
        later = []
        for address in sorted(self.resources):
            rtype = address.split(".")[0]
            body = self.body(address)
            if rtype in readers:
                readers[rtype](out, body)
            else:
                later.append((rtype, body))
        for rtype, body in later:  # what adds to a resource read above
            if rtype == "aws_iam_role_policy":
                assert body["name"] == "cronplane"
                _entry(out, Kind.ROLE, body["role"], hidden={"policy": json.loads(body["policy"])})
            elif rtype == "aws_sqs_queue_policy":
                queue = body["queue_url"].rsplit("/", 1)[1]
                policy = canonical_json(json.loads(body["policy"]))
                out[(Kind.QUEUE, queue)]["hidden"]["attributes"]["Policy"] = policy
            elif rtype == "aws_cloudwatch_event_target":
                _tf_target(out, body)
            elif rtype == "aws_kms_alias":
                key = self.body(f"aws_kms_key.{body['target_key_id']}")
                assert key["deletion_window_in_days"] == 7
                hidden = {
                    "description": key["description"],
                    "rotation": key["enable_key_rotation"],
                    "policy": canonical_json(json.loads(key["policy"])),
                }
                _entry(out, Kind.KEY, body["name"], hidden=hidden, tags=key["tags"])
            elif rtype == "aws_kms_key":
                pass  # read with its alias
            elif rtype == "aws_sns_topic_policy":
                _topics(out, {body["arn"].rsplit(":", 1)[1]: canonical_json(json.loads(body["policy"]))}, [])
            elif rtype == "aws_sns_topic_subscription":
                assert body["protocol"] == "email"
                assert json.loads(body["filter_policy"]) == {"emails": [body["endpoint"]]}
                _topics(out, {}, [(body["topic_arn"].rsplit(":", 1)[1], body["endpoint"])])
            else:
                raise AssertionError(f"not read back: {rtype}")
        return _finish(out, "terraform")

    def _function(self, out: Normalized, b: dict[str, Any]) -> None:
        [env] = b["environment"]
        vpc = b.get("vpc_config")
        code_sha = package_sha(self.folder, b["filename"].removeprefix("./"))
        assert b["source_code_hash"] == code_sha
        visible = {
            "runtime": b["runtime"],
            "handler": b["handler"],
            "role": b["role"],
            "timeout": b["timeout"],
            "memory": b["memory_size"],
            "description": b["description"],
            "environment": env["variables"],
            "architecture": b["architectures"][0],
            "vpc": {"subnets": vpc[0]["subnet_ids"], "security_groups": vpc[0]["security_group_ids"]} if vpc else None,
            "kms_key": b.get("kms_key_arn"),
            "code_sha256": code_sha,
        }
        hidden = {"reserved_concurrency": b.get("reserved_concurrent_executions")}
        _entry(out, Kind.FUNCTION, b["function_name"], visible=visible, hidden=hidden, tags=b["tags"])


def _tf_table(out: Normalized, b: dict[str, Any]) -> None:
    [gsi] = b["global_secondary_index"]
    definition = {
        "TableName": b["name"],
        "BillingMode": b["billing_mode"],
        "AttributeDefinitions": [{"AttributeName": a["name"], "AttributeType": a["type"]} for a in b["attribute"]],
        "KeySchema": [
            {"AttributeName": b["hash_key"], "KeyType": "HASH"},
            {"AttributeName": b["range_key"], "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": gsi["name"],
                "KeySchema": [
                    {"AttributeName": gsi["hash_key"], "KeyType": "HASH"},
                    {"AttributeName": gsi["range_key"], "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": gsi["projection_type"]},
            }
        ],
        "SSESpecification": {"Enabled": b["server_side_encryption"][0]["enabled"]},
    }
    [ttl] = b["ttl"]
    assert ttl["enabled"] is True
    hidden = {"definition": definition, "ttl": ttl["attribute_name"], "pitr": b["point_in_time_recovery"][0]["enabled"]}
    _entry(out, Kind.TABLE, b["name"], hidden=hidden, tags=b["tags"])


def _tf_queue(out: Normalized, b: dict[str, Any]) -> None:
    attributes = {
        "SqsManagedSseEnabled": str(b["sqs_managed_sse_enabled"]).lower(),
        "MessageRetentionPeriod": str(b["message_retention_seconds"]),
    }
    _entry(out, Kind.QUEUE, b["name"], hidden={"attributes": attributes}, tags=b["tags"])


def _tf_invoke_config(out: Normalized, b: dict[str, Any]) -> None:
    hidden: dict[str, Any] = {"qualifier": b.get("qualifier"), "max_retry_attempts": b["maximum_retry_attempts"]}
    if "destination_config" in b:
        hidden["on_failure"] = b["destination_config"][0]["on_failure"][0]["destination"]
    _entry(out, Kind.INVOKE_CONFIG, b["function_name"], hidden=hidden)


def _tf_permission(out: Normalized, b: dict[str, Any]) -> None:
    assert b["action"] == "lambda:InvokeFunction"
    hidden = {
        "sid": b["statement_id"],
        "qualifier": b.get("qualifier"),
        "principal": b["principal"],
        "source_arn": b["source_arn"],
        "source_account": b["source_account"],
    }
    _entry(out, Kind.PERMISSION, b["function_name"], hidden=hidden)


def _tf_target(out: Normalized, b: dict[str, Any]) -> None:
    target: dict[str, Any] = {"Id": b["target_id"], "Arn": b["arn"]}
    if "input" in b:
        target["Input"] = b["input"]
    if "retry_policy" in b:
        retry = b["retry_policy"][0]
        target["RetryPolicy"] = {
            "MaximumRetryAttempts": retry["maximum_retry_attempts"],
            "MaximumEventAgeInSeconds": retry["maximum_event_age_in_seconds"],
        }
    if "dead_letter_config" in b:
        target["DeadLetterConfig"] = {"Arn": b["dead_letter_config"][0]["arn"]}
    if "input_transformer" in b:
        transformer = b["input_transformer"][0]
        target["InputTransformer"] = {
            "InputPathsMap": transformer["input_paths"],
            "InputTemplate": transformer["input_template"],
        }
    _entry(out, Kind.RULE, b["rule"], hidden={"target": target})


def _tf_alarm(out: Normalized, b: dict[str, Any]) -> None:
    metrics = []
    for query in b["metric_query"]:
        metric: dict[str, Any] = {"Id": query["id"]}
        if "metric" in query:
            [m] = query["metric"]
            dimensions = [{"Name": k, "Value": v} for k, v in m["dimensions"].items()]
            metric["MetricStat"] = {
                "Metric": {"Namespace": m["namespace"], "MetricName": m["metric_name"], "Dimensions": dimensions},
                "Period": m["period"],
                "Stat": m["stat"],
            }
        else:
            metric |= {"Expression": query["expression"], "Label": query["label"]}
        metrics.append(metric | {"ReturnData": query["return_data"]})
    alarm = {
        "AlarmName": b["alarm_name"],
        "AlarmDescription": b["alarm_description"],
        "ActionsEnabled": b["actions_enabled"],
        "AlarmActions": b["alarm_actions"],
        "Metrics": metrics,
        "EvaluationPeriods": b["evaluation_periods"],
        "DatapointsToAlarm": b["datapoints_to_alarm"],
        "Threshold": b["threshold"],
        "ComparisonOperator": b["comparison_operator"],
        "TreatMissingData": b["treat_missing_data"],
    }
    _entry(out, Kind.ALARM, b["alarm_name"], hidden={"alarm": alarm}, tags=b["tags"])


def _tf_schedule(out: Normalized, b: dict[str, Any]) -> None:
    [window] = b["flexible_time_window"]
    [target] = b["target"]
    retry = target["retry_policy"][0]
    flat = {
        "role_arn": target["role_arn"],
        "retry": {
            "MaximumRetryAttempts": retry["maximum_retry_attempts"],
            "MaximumEventAgeInSeconds": retry["maximum_event_age_in_seconds"],
        },
        "dlq": target["dead_letter_config"][0]["arn"],
        "input": target["input"],
        "arn": target["arn"],
    }
    flexible = {"Mode": window["mode"]}
    if "maximum_window_in_minutes" in window:
        flexible["MaximumWindowInMinutes"] = window["maximum_window_in_minutes"]
    _schedule(out, b["name"], {**b, "FlexibleTimeWindow": flexible}, flat, tf=True)
