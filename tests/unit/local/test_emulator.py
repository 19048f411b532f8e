"""The emulator: moto in server mode on 127.0.0.1 with Lambda Invoke answered by running the
function's real code (through the local runner), everything else passed to moto."""

from __future__ import annotations

import base64
import io
import json
import socket
import textwrap
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from cronplane.local.emulator import Emulator
from cronplane.local.processes import RUNNER_MARKER, child_pids
from support.signing import send_signed

REGION = "eu-west-1"

APP = textwrap.dedent(
    """
    import json, os, time
    import boto3

    def handler(event, context):
        if event.get("queue_url"):
            # Reaches the emulator with the variables it injects (endpoint, region, credentials).
            boto3.client("sqs").send_message(QueueUrl=event["queue_url"], MessageBody=json.dumps(event))
        if event.get("sleep"):
            time.sleep(event["sleep"])
        print("hello from", context.function_name)
        if event.get("fail"):
            raise ValueError("boom: " + str(event["fail"]))
        return {
            "echo": event,
            "greeting": os.environ.get("GREETING"),
            "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
            "region": os.environ.get("AWS_REGION"),
            "remaining_ok": 0 < context.get_remaining_time_in_millis() <= int(os.environ["AWS_LAMBDA_FUNCTION_TIMEOUT"]) * 1000,
            "request_id": context.aws_request_id,
        }
    """
)


def make_zip(source: str = APP) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(port=0, async_retry_delay_s=0.0)
    emu.start()
    reset(emu)  # moto's backends are process-wide: start every test from an empty account
    try:
        yield emu
    finally:
        if not emu.stopped:
            reset(emu)
        emu.stop()


def reset(emu: Emulator) -> None:
    key = emu.credentials  # the emulator serves only requests signed with its session key
    answer = send_signed(f"{emu.endpoint_url}/moto-api/reset", key.access_key_id, key.secret_access_key)
    assert answer.status == 200, answer


def client(emu: Emulator, service: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=emu.endpoint_url,
        aws_access_key_id=emu.credentials.access_key_id,
        aws_secret_access_key=emu.credentials.secret_access_key,
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )


def create_function(emu: Emulator, name: str = "demo-fn", timeout: int = 10, **extra: Any) -> dict[str, Any]:
    iam = client(emu, "iam")
    try:
        role = iam.get_role(RoleName="demo-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = iam.create_role(RoleName="demo-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return client(emu, "lambda").create_function(  # type: ignore[no-any-return]
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": make_zip()},
        Timeout=timeout,
        MemorySize=256,
        Environment={"Variables": {"GREETING": "hej"}},
        **extra,
    )


def queue(emu: Emulator, name: str) -> tuple[str, str]:
    sqs = client(emu, "sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(emu: Emulator, url: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    sqs = client(emu, "sqs")
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages.extend(json.loads(m["Body"]) for m in got)
        if len(messages) < count:
            time.sleep(0.1)
    return messages


def test_request_response_runs_the_code_with_its_environment(emulator: Emulator) -> None:
    create_function(emulator)
    resp = client(emulator, "lambda").invoke(FunctionName="demo-fn", Payload=json.dumps({"n": 1}).encode())
    payload = json.loads(resp["Payload"].read())
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp
    assert resp["ExecutedVersion"] == "$LATEST"
    assert payload["echo"] == {"n": 1}
    assert payload["greeting"] == "hej"
    assert payload["endpoint"] == emulator.endpoint_url  # the function's own AWS calls land here
    assert payload["region"] == REGION
    assert payload["remaining_ok"] is True
    # Its log lands in CloudWatch Logs, where Lambda would put it.
    logs = client(emulator, "logs").filter_log_events(logGroupName="/aws/lambda/demo-fn")["events"]
    assert any("hello from demo-fn" in e["message"] for e in logs)


def test_function_error_is_reported_like_lambda(emulator: Emulator) -> None:
    create_function(emulator)
    resp = client(emulator, "lambda").invoke(FunctionName="demo-fn", Payload=b'{"fail": "x"}', LogType="Tail")
    payload = json.loads(resp["Payload"].read())
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "boom: x"
    log_tail = base64.b64decode(resp["LogResult"]).decode()
    assert "hello from demo-fn" in log_tail
    assert "REPORT RequestId" in log_tail


def test_timeout_kills_the_function(emulator: Emulator) -> None:
    create_function(emulator, timeout=1)
    resp = client(emulator, "lambda").invoke(FunctionName="demo-fn", Payload=b'{"sleep": 20}')
    payload = json.loads(resp["Payload"].read())
    assert resp["FunctionError"] == "Unhandled"
    assert "timed out after 1.00 seconds" in payload["errorMessage"]


def test_event_invocation_is_accepted_and_runs_in_background(emulator: Emulator) -> None:
    create_function(emulator)
    url, _ = queue(emulator, "seen")
    resp = client(emulator, "lambda").invoke(
        FunctionName="demo-fn", InvocationType="Event", Payload=json.dumps({"queue_url": url, "tag": "bg"}).encode()
    )
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    assert [m["tag"] for m in receive(emulator, url, 1)] == ["bg"]


def test_async_failure_goes_to_the_on_failure_destination(emulator: Emulator) -> None:
    create_function(emulator)
    _, dlq_arn = queue(emulator, "on-failure")
    dlq_url, _ = queue(emulator, "on-failure")
    lam = client(emulator, "lambda")
    lam.put_function_event_invoke_config(
        FunctionName="demo-fn", MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": dlq_arn}}
    )
    lam.invoke(FunctionName="demo-fn", InvocationType="Event", Payload=b'{"fail": "late"}')
    [record] = receive(emulator, dlq_url, 1)
    assert record["version"] == "1.0"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["functionArn"].endswith(":function:demo-fn:$LATEST")
    assert record["requestPayload"] == {"fail": "late"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_the_last_event_invoke_config_put_is_the_one_that_holds(emulator: Emulator) -> None:
    """A redeploy that drops the on-failure destination (cronplane's wrappers raise after sending
    their own DLQ message) must drop it here too: moto keeps every put, Lambda only the last."""
    from cronplane.local.functions import read_function

    create_function(emulator)
    _, dlq_arn = queue(emulator, "old-destination")
    lam = client(emulator, "lambda")
    lam.put_function_event_invoke_config(
        FunctionName="demo-fn", MaximumRetryAttempts=2, DestinationConfig={"OnFailure": {"Destination": dlq_arn}}
    )
    assert read_function("demo-fn", None, REGION, "123456789012").on_failure == dlq_arn
    lam.put_function_event_invoke_config(FunctionName="demo-fn", MaximumRetryAttempts=0)
    spec = read_function("demo-fn", None, REGION, "123456789012")
    assert spec.on_failure is None and spec.max_async_retries == 0


def test_async_retries_follow_maximum_retry_attempts(emulator: Emulator) -> None:
    create_function(emulator)
    seen_url, _ = queue(emulator, "attempts")
    dlq_url, dlq_arn = queue(emulator, "dest")
    lam = client(emulator, "lambda")
    lam.put_function_event_invoke_config(
        FunctionName="demo-fn", MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": dlq_arn}}
    )
    lam.invoke(
        FunctionName="demo-fn", InvocationType="Event", Payload=json.dumps({"fail": 1, "queue_url": seen_url}).encode()
    )
    [record] = receive(emulator, dlq_url, 1)
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert len(receive(emulator, seen_url, 2)) == 2  # the code ran twice: first try + one retry


def test_dry_run_checks_without_running(emulator: Emulator) -> None:
    create_function(emulator)
    url, _ = queue(emulator, "never")
    resp = client(emulator, "lambda").invoke(
        FunctionName="demo-fn", InvocationType="DryRun", Payload=json.dumps({"queue_url": url}).encode()
    )
    assert resp["StatusCode"] == 204
    time.sleep(0.5)
    assert receive(emulator, url, 1, timeout=0.5) == []


def test_invoke_without_a_payload_answers_instead_of_hanging(emulator: Emulator) -> None:
    # boto3 sends Content-Length: 0 when Payload is left out; reading the socket for more
    # would wait for the client's read timeout.
    create_function(emulator)
    lam = boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=emulator.endpoint_url,
        aws_access_key_id=emulator.credentials.access_key_id,
        aws_secret_access_key=emulator.credentials.secret_access_key,
        config=Config(retries={"max_attempts": 1}, read_timeout=5),
    )
    assert lam.invoke(FunctionName="demo-fn", InvocationType="DryRun")["StatusCode"] == 204
    resp = lam.invoke(FunctionName="demo-fn")
    assert resp["StatusCode"] == 200
    assert json.loads(resp["Payload"].read())["echo"] == {}


def test_alias_qualifier_and_arns_select_the_version(emulator: Emulator) -> None:
    created = create_function(emulator, Publish=True)
    lam = client(emulator, "lambda")
    lam.create_alias(FunctionName="demo-fn", Name="live", FunctionVersion="1")
    by_qualifier = lam.invoke(FunctionName="demo-fn", Qualifier="live", Payload=b"{}")
    assert by_qualifier["ExecutedVersion"] == "1"
    by_arn = lam.invoke(FunctionName=created["FunctionArn"] + ":live", Payload=b"{}")
    assert by_arn["ExecutedVersion"] == "1"
    assert json.loads(by_arn["Payload"].read())["greeting"] == "hej"


def test_placeholder_account_in_a_self_invoke_arn_still_finds_the_function(emulator: Emulator) -> None:
    # The local runner's context ARN carries account 000000000000; a continuation invoke
    # by that ARN must reach the same function.
    create_function(emulator)
    resp = client(emulator, "lambda").invoke(
        FunctionName=f"arn:aws:lambda:{REGION}:000000000000:function:demo-fn", Payload=b"{}"
    )
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp


def test_rejects_what_lambda_rejects(emulator: Emulator) -> None:
    create_function(emulator)
    lam = client(emulator, "lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="no-such-fn", Payload=b"{}")
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName="demo-fn", Payload=b"{not json")
    with pytest.raises(lam.exceptions.RequestTooLargeException):
        lam.invoke(FunctionName="demo-fn", InvocationType="Event", Payload=json.dumps({"x": "a" * 300_000}).encode())


def test_listeners_get_log_lines_and_results(emulator: Emulator) -> None:
    create_function(emulator)
    lines: list[str] = []
    done: list[Any] = []
    emulator.log_listeners.append(lambda spec, request_id, line: lines.append(f"{spec.job}|{line}"))
    emulator.done_listeners.append(done.append)
    resp = client(emulator, "lambda").invoke(FunctionName="demo-fn", Payload=b"{}")
    request_id = json.loads(resp["Payload"].read())["request_id"]
    assert "demo-fn|hello from demo-fn" in lines
    [finished] = done
    assert finished.request_id == request_id
    assert finished.result.function_error is None
    assert finished.invocation_type.value == "RequestResponse"


def test_stop_kills_running_functions_and_frees_the_port(emulator: Emulator) -> None:
    create_function(emulator, timeout=60)
    client(emulator, "lambda").invoke(FunctionName="demo-fn", InvocationType="Event", Payload=b'{"sleep": 50}')
    import os

    deadline = time.monotonic() + 10
    while not child_pids(os.getpid(), RUNNER_MARKER) and time.monotonic() < deadline:
        time.sleep(0.05)
    children = child_pids(os.getpid(), RUNNER_MARKER)
    assert children, "the function never started"
    port = emulator.port
    emulator.stop()
    for pid in children:
        assert not _alive(pid)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any restarted server does
        sock.bind(("127.0.0.1", port))  # would raise EADDRINUSE if the server still held it


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_busy_port_is_a_clear_error() -> None:
    from cronplane.errors import CronplaneError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(CronplaneError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            Emulator(port=port).start()
