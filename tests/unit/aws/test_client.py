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
    config = AwsConfig(region="eu-west-1")
    client = AwsClient(config, sleep=sleeps.append, session=config.session(), **kw)
    stub = Stubber(client.boto3_client(service))
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


def test_access_denied_names_the_action_aws_refused_not_the_call() -> None:
    """CreateFunction refused for want of iam:PassRole: the message asks for PassRole."""
    client, stub, _ = stubbed("lambda")
    stub.add_client_error(
        "create_function",
        "AccessDeniedException",
        "User: arn:aws:iam::1:user/bob is not authorized to perform: iam:PassRole on resource: "
        "arn:aws:iam::1:role/cronplane/x because no identity-based policy allows the iam:PassRole action",
    )
    with pytest.raises(AwsError, match=r"need permission for iam:PassRole\.?$"):
        client.call("lambda", "create_function", FunctionName="f", Role="r", Code={"ZipFile": b"z"})


def test_a_denied_transaction_names_the_item_actions() -> None:
    client, stub, _ = stubbed("dynamodb")
    stub.add_client_error("transact_write_items", "AccessDeniedException", "not authorized")
    with pytest.raises(AwsError, match=r"need permission for dynamodb:PutItem / dynamodb:UpdateItem"):
        client.call(
            "dynamodb",
            "transact_write_items",
            TransactItems=[{"Put": {"TableName": "t", "Item": {"job": {"S": "j"}}}}],
        )


def test_missing_credentials_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _stub, _ = stubbed("sts")

    def no_creds(**_: Any) -> None:
        raise NoCredentialsError()

    monkeypatch.setattr(client.boto3_client("sts"), "get_caller_identity", no_creds)
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


def test_service_accessors_go_through_the_door_counted_per_operation() -> None:
    client, stub, _ = stubbed("sqs")
    stub.add_response("list_queues", {"QueueUrls": []})
    stub.add_response("get_queue_url", {"QueueUrl": "https://sqs/q"})
    stub.add_client_error(
        "get_queue_url", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."
    )
    client.sqs.list_queues()
    assert client.sqs.get_queue_url(QueueName="q")["QueueUrl"] == "https://sqs/q"
    with pytest.raises(AwsCallError) as info:
        client.sqs.get_queue_url(QueueName="gone")
    assert info.value.not_found and info.value.code == "AWS.SimpleQueueService.NonExistentQueue"
    assert client.operation_counts() == {"sqs.ListQueues": 1, "sqs.GetQueueUrl": 2}
    assert (client.count("sqs"), client.count("dynamodb"), client.reads) == (3, 0, 3)


def test_botocore_exceptions_and_paginators_are_not_offered_by_the_accessors() -> None:
    client, _stub, _ = stubbed("dynamodb")
    with pytest.raises(AttributeError, match="catch AwsCallError"):
        _ = client.dynamodb.exceptions
    with pytest.raises(AttributeError, match=r"AwsClient\.paginate"):
        client.dynamodb.get_paginator("query")


def test_clients_are_built_only_for_the_services_a_command_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    config = AwsConfig(region="eu-west-1")
    session = config.session()
    built: list[str] = []
    real = session.create_client

    def client(service: str, **kw: Any) -> Any:
        built.append(service)
        return real(service, **kw)

    monkeypatch.setattr(session, "create_client", client)
    aws = AwsClient(config, session=session)
    _ = aws.dynamodb, aws.lambda_, aws.sqs  # naming a service builds nothing
    assert built == [] and aws.region == "eu-west-1"
    stub = Stubber(aws.boto3_client("sts"))
    stub.activate()
    stub.add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ana"})
    assert (aws.caller_arn(), aws.account_id()) == ("arn:aws:iam::123456789012:user/ana", "123456789012")
    assert built == ["sts"] and aws.operation_counts() == {"sts.GetCallerIdentity": 1}  # one identity call
    aws.boto3_client("sts")
    assert built == ["sts"]  # once per service


def test_access_denied_names_the_iam_action_not_the_api_name() -> None:
    client, stub, _ = stubbed("lambda")
    stub.add_client_error("invoke", "AccessDeniedException", "User: arn:aws:iam::1:user/bob is not authorized", 403)
    with pytest.raises(AwsCallError) as info:
        client.lambda_.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    assert str(info.value) == (
        "AWS lambda invoke failed: AccessDeniedException: User: arn:aws:iam::1:user/bob is not authorized "
        "— access denied. The credentials in use need permission for lambda:InvokeFunction."
    )


def test_an_invoke_whose_answer_was_lost_is_not_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second Invoke would start a second run of the job: say so instead of retrying."""
    from botocore.exceptions import ReadTimeoutError

    client, _stub, sleeps = stubbed("lambda")
    sent: list[dict[str, Any]] = []

    def lost(**params: Any) -> None:
        sent.append(params)
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1/invocations")

    monkeypatch.setattr(client.boto3_client("lambda"), "invoke", lost)
    with pytest.raises(AwsError, match="AWS lambda invoke failed: ReadTimeoutError"):
        client.lambda_.invoke(FunctionName="f", InvocationType="RequestResponse", Payload=b"{}")
    assert len(sent) == 1 and sleeps == []
