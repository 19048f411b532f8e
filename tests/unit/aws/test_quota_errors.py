"""Quota errors are not throttling: AWS's answer is injected with botocore's event hooks on the
client behind the door (moto answers everything else); a full quota is tried once and named with
its way out, real throttling is still retried, and a deploy stops on the first quota error."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.aws.deployer import Deployer
from cronplane.aws.session import AwsConfig
from cronplane.errors import CronplaneError
from cronplane.manifest.loader import load_manifest

REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parents[3]
RULES_FULL = "The requested resource exceeds the maximum number allowed."


def client_with(sleeps: list[float]) -> AwsClient:
    return AwsClient(AwsConfig(region=REGION), sleep=sleeps.append)


def answer(aws: AwsClient, service: str, operation: str, *errors: tuple[str, str, int]) -> list[int]:
    """The next calls of ``operation`` answer ``errors`` in turn (code, message, HTTP status);
    later ones reach moto. Returns the list the hook counts its calls in."""
    seen: list[int] = []
    queue = list(errors)

    def hook(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        seen.append(1)
        if not queue:
            return None
        code, message, status = queue.pop(0)
        parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse(f"https://{service}.{REGION}.amazonaws.com/", status, HTTPHeaders(), None), parsed

    aws.service(service).meta.events.register(f"before-call.{service}.{operation}", hook)
    return seen


def attempts(aws: AwsClient, service: str, operation: str) -> int:
    return sum(1 for c in aws.calls if (c.service, c.operation) == (service, operation))


def test_rules_quota_on_put_rule_is_tried_once_and_names_the_quota_and_the_way_out(aws: None) -> None:
    sleeps: list[float] = []
    client = client_with(sleeps)
    answer(client, "events", "PutRule", ("LimitExceededException", RULES_FULL, 400))
    with pytest.raises(AwsCallError) as info:
        client.events.put_rule(Name="acme-jobs--nightly", ScheduleExpression="rate(5 minutes)")
    assert attempts(client, "events", "put_rule") == 1 and sleeps == []
    err = info.value
    assert err.quota_exceeded and err.code == "LimitExceededException"
    assert str(err) == (
        "AWS events put_rule failed: LimitExceededException: The requested resource exceeds the maximum number "
        "allowed. — the EventBridge rules per event bus quota is full, and retrying cannot help: set "
        "`trigger_mode: scheduler` (or leave `trigger_mode: auto`, which moves the namespace's UTC jobs to "
        "EventBridge Scheduler when rules do not fit), or request an increase of Service Quotas code L-244521F2."
    )
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("service", "operation", "call", "code", "quota", "way_out"),
    [
        (
            "iam",
            "CreateRole",
            lambda c: c.iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}"),
            "LimitExceeded",
            "the IAM roles per account quota is full",
            "set `role_mode: per_team`",
        ),
        (
            "lambda",
            "PublishVersion",
            lambda c: c.lambda_.publish_version(FunctionName="f"),
            "CodeStorageExceededException",
            "the Lambda function and layer storage quota is full",
            "Service Quotas code L-2ACBD22F",
        ),
        (
            "scheduler",
            "CreateSchedule",
            lambda c: c.scheduler.create_schedule(
                Name="s",
                ScheduleExpression="rate(5 minutes)",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={"Arn": "arn:aws:lambda:eu-west-1:123456789012:function:f", "RoleArn": "arn:aws:iam::1:role/r"},
            ),
            "ServiceQuotaExceededException",
            "the EventBridge Scheduler schedules per account per Region quota is full",
            "request an increase",
        ),
        (
            "iam",
            "PutRolePolicy",
            lambda c: c.iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument="{}"),
            "LimitExceeded",
            "the IAM inline policy size per role",
            "role_mode: per_job",
        ),
    ],
)
def test_other_quota_errors_are_not_retried(
    aws: None, service: str, operation: str, call: Callable[[AwsClient], Any], code: str, quota: str, way_out: str
) -> None:
    sleeps: list[float] = []
    client = client_with(sleeps)
    seen = answer(client, service, operation, (code, "Cannot exceed quota", 400))
    with pytest.raises(AwsCallError) as info:
        call(client)
    assert len(seen) == 1 and client.count(service) == 1 and sleeps == []
    assert info.value.quota_exceeded and quota in str(info.value) and way_out in str(info.value)


@pytest.mark.parametrize(
    ("service", "operation", "code", "status", "call"),
    [
        (
            "events",
            "PutRule",
            "ThrottlingException",
            400,
            lambda c: c.events.put_rule(Name="r", ScheduleExpression="rate(1 hour)"),
        ),
        ("lambda", "ListFunctions", "TooManyRequestsException", 429, lambda c: c.lambda_.list_functions()),
        # DynamoDB's LimitExceededException is its control plane's "too many at once": it passes.
        ("dynamodb", "ListTables", "LimitExceededException", 400, lambda c: c.dynamodb.list_tables()),
    ],
)
def test_throttling_is_still_retried(
    aws: None, service: str, operation: str, code: str, status: int, call: Callable[[AwsClient], Any]
) -> None:
    sleeps: list[float] = []
    client = client_with(sleeps)
    seen = answer(client, service, operation, (code, "Rate exceeded", status), (code, "Rate exceeded", status))
    call(client)  # the third attempt reaches moto
    assert len(seen) == 3 and client.count(service) == 3 and len(sleeps) == 2


def test_a_quota_code_that_speaks_of_a_request_rate_is_throttling(aws: None) -> None:
    """Scheduler files request-rate throttling under ServiceQuotaExceededException too."""
    sleeps: list[float] = []
    client = client_with(sleeps)
    seen = answer(
        client,
        "scheduler",
        "ListSchedules",
        ("ServiceQuotaExceededException", "ListSchedules request rate exceeded", 402),
    )
    assert client.scheduler.list_schedules()["Schedules"] == []
    assert len(seen) == 2 and len(sleeps) == 1


def test_a_deploy_stops_at_the_first_quota_error_with_the_quota_named(tmp_path: Path, aws: None) -> None:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    manifest = load_manifest(str(tmp_path / "jobs.yaml"))
    sleeps: list[float] = []
    client = client_with(sleeps)
    answer(client, "events", "PutRule", *[("LimitExceededException", RULES_FULL, 400)] * 20)
    with pytest.raises(CronplaneError) as info:
        Deployer(client, workers=1).deploy(manifest)
    assert attempts(client, "events", "put_rule") == 1 and sleeps == []
    assert "EventBridge rules per event bus quota is full" in str(info.value)
    assert "trigger_mode: scheduler" in str(info.value)
