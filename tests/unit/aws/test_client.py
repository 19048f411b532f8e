"""The intent-level client against botocore's Stubber: counting, retries with the injected
sleep, errors turned into one clear message."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import NoCredentialsError
from botocore.stub import Stubber

from cronplane.aws.client import AwsCallError, AwsClient, Call
from cronplane.aws.session import AwsConfig
from cronplane.errors import AwsError


def stubbed(service: str, **kw: Any) -> tuple[AwsClient, Stubber, list[float]]:
    sleeps: list[float] = []
    client = AwsClient(AwsConfig(region="eu-west-1"), sleep=sleeps.append, **kw)
    stub = Stubber(client._client(service))
    stub.activate()
    return client, stub, sleeps


def test_counts_reads_and_writes() -> None:
    client, stub, _ = stubbed("sqs")
    stub.add_response("list_queues", {"QueueUrls": []})
    stub.add_response("create_queue", {"QueueUrl": "https://sqs/q"})
    client.call("sqs", "list_queues")
    client.call("sqs", "create_queue", QueueName="q")
    assert (client.reads, client.writes) == (1, 1)
    assert client.write_calls() == ["sqs.create_queue"]


def test_throttling_is_retried_with_backoff_through_the_injected_sleep() -> None:
    client, stub, sleeps = stubbed("sqs")
    stub.add_client_error("create_queue", "ThrottlingException", "Rate exceeded")
    stub.add_client_error("create_queue", "RequestThrottled", "Rate exceeded")
    stub.add_response("create_queue", {"QueueUrl": "https://sqs/q"})
    assert client.call("sqs", "create_queue", QueueName="q")["QueueUrl"] == "https://sqs/q"
    assert len(sleeps) == 2 and all(0 <= s <= 20 for s in sleeps)
    assert client.writes == 3  # every attempt is a call AWS saw
    stub.assert_no_pending_responses()


def test_throttling_that_never_ends_becomes_one_message() -> None:
    client, stub, sleeps = stubbed("sqs", max_attempts=3)
    for _ in range(3):
        stub.add_client_error("list_queues", "Throttling", "Rate exceeded")
    with pytest.raises(AwsError, match="still throttled after retries; try again later"):
        client.call("sqs", "list_queues")
    assert len(sleeps) == 2


def test_iam_propagation_delay_is_retried() -> None:
    client, stub, sleeps = stubbed("lambda")
    stub.add_client_error(
        "create_function",
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    )
    stub.add_response("create_function", {"FunctionName": "f"})
    out = client.call(
        "lambda",
        "create_function",
        FunctionName="f",
        Role="arn:aws:iam::123456789012:role/r",
        Code={"ZipFile": b"z"},
        Runtime="python3.12",
        Handler="h.h",
    )
    assert out["FunctionName"] == "f" and len(sleeps) == 1


def test_other_invalid_parameter_errors_are_not_retried() -> None:
    client, stub, sleeps = stubbed("lambda")
    stub.add_client_error("get_function", "InvalidParameterValueException", "bad name")
    with pytest.raises(AwsCallError) as info:
        client.call("lambda", "get_function", FunctionName="f")
    assert info.value.code == "InvalidParameterValueException" and sleeps == []
    assert str(info.value) == "AWS lambda get_function failed: InvalidParameterValueException: bad name"


def test_access_denied_names_the_missing_permission() -> None:
    client, stub, _ = stubbed("iam")
    stub.add_client_error("create_role", "AccessDenied", "User: arn:aws:iam::1:user/bob is not authorized")
    with pytest.raises(AwsError, match=r"access denied\. The credentials in use need permission for iam:CreateRole"):
        client.call("iam", "create_role", RoleName="r", AssumeRolePolicyDocument="{}")


def test_missing_credentials_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _stub, _ = stubbed("sts")

    def no_creds(**_: Any) -> None:
        raise NoCredentialsError()

    monkeypatch.setattr(client._client("sts"), "get_caller_identity", no_creds)
    with pytest.raises(AwsError, match=r"No AWS credentials found. Set AWS_PROFILE"):
        client.account_id()


def test_before_write_hook_sees_writes_only_and_can_stop_them() -> None:
    seen: list[Call] = []

    def hook(call: Call) -> None:
        seen.append(call)
        raise AwsError("stop")

    client, stub, _ = stubbed("sqs", before_write=hook)
    stub.add_response("list_queues", {"QueueUrls": []})
    client.call("sqs", "list_queues")
    with pytest.raises(AwsError, match="stop"):
        client.call("sqs", "delete_queue", QueueUrl="https://sqs/q")
    assert seen == [Call("sqs", "delete_queue", True)]
    assert client.writes == 0  # the write never went out


def test_paginate_follows_tokens_one_counted_call_per_page() -> None:
    client, stub, _ = stubbed("events")
    stub.add_response("list_rules", {"Rules": [{"Name": "a"}], "NextToken": "t1"}, {"NamePrefix": "x"})
    stub.add_response("list_rules", {"Rules": [{"Name": "b"}]}, {"NamePrefix": "x", "NextToken": "t1"})
    assert [r["Name"] for r in client.paginate("events", "list_rules", "Rules", NamePrefix="x")] == ["a", "b"]
    assert client.reads == 2


def test_lambda_busy_is_retried_but_already_exists_is_not() -> None:
    client, stub, sleeps = stubbed("lambda")
    stub.add_client_error(
        "update_function_configuration",
        "ResourceConflictException",
        "The operation cannot be performed at this time. An update is in progress for resource: f",
    )
    stub.add_response("update_function_configuration", {"FunctionName": "f"})
    client.call("lambda", "update_function_configuration", FunctionName="f", Timeout=3)
    assert len(sleeps) == 1
    stub.add_client_error("create_function", "ResourceConflictException", "Function already exist: f")
    with pytest.raises(AwsCallError) as info:
        client.call(
            "lambda",
            "create_function",
            FunctionName="f",
            Role="arn:aws:iam::123456789012:role/r",
            Code={"ZipFile": b"z"},
            Runtime="python3.12",
            Handler="h.h",
        )
    assert info.value.code == "ResourceConflictException" and len(sleeps) == 1
