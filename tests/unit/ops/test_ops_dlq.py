"""jobctl dlq: listing the three producers' messages without consuming them, and replay that
deletes a message only after Lambda accepted its replay."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from ops_fixtures import NAMESPACE, make_job, make_manifest, put_run, utc

from cronplane.manifest import names
from cronplane.manifest.models import Concurrency
from cronplane.ops.dlq import DlqSource, list_messages, queue_url, replay
from cronplane.ops.launch import InvokeResult, LambdaInvoker
from cronplane.runtime.schema import RunLock, scheduled_run_id, to_item

WRAPPER_BODY = {
    "source": "cronplane",
    "job": "invoice-sync",
    "run_id": "20261127T090000Z-1a2b3c4d",
    "trigger": "schedule",
    "status": "failed",
    "scheduled_for": "2026-11-27T09:00:00Z",
    "attempts": [
        {
            "attempt": 1,
            "started_at": "2026-11-27T09:00:01Z",
            "duration_ms": 50,
            "error_type": "ConnectionError",
            "error_message": "reset",
        },
        {
            "attempt": 2,
            "started_at": "2026-11-27T09:00:03Z",
            "duration_ms": 40,
            "error_type": "ConnectionError",
            "error_message": "reset",
        },
    ],
    "error": "ConnectionError: reset",
    "payload": {"fail_attempts": 1, "batch_size": 25},
    "event": {"cronplane": {"trigger": "schedule", "event_id": "ev-1", "scheduled_for": "2026-11-27T09:00:00Z"}},
}
SCHEDULED_EVENT = {
    "version": "0",
    "id": "ev-2",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "time": "2026-11-27T09:15:00Z",
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/x"],
    "detail": {},
}
LAMBDA_BODY = {
    "version": "1.0",
    "timestamp": "2026-11-27T09:30:05.123Z",
    "requestContext": {
        "requestId": "req-3",
        "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 1,
    },
    "requestPayload": {
        "cronplane": {"trigger": "manual", "run_id": "20261127T093000Z-mabc1234", "payload": {"batch_size": 5}}
    },
    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
    "responsePayload": {"errorMessage": "Runtime exited", "errorType": "Runtime.ExitError"},
}


@pytest.fixture
def job_setup(deploy: Any) -> tuple[Any, str]:
    job = make_job("invoice-sync", "rate(15 minutes)")
    manifest = make_manifest(job)
    url = deploy(manifest, job)["queue_url"]
    return manifest, url


def send_three(url: str) -> None:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(WRAPPER_BODY))
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(SCHEDULED_EVENT),
        MessageAttributes={
            "RULE_ARN": {
                "DataType": "String",
                "StringValue": "arn:aws:events:eu-west-1:123456789012:rule/acme-jobs--invoice-sync",
            },
            "ERROR_CODE": {"DataType": "String", "StringValue": "NO_PERMISSIONS"},
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": "Function policy does not allow events"},
            "RETRY_ATTEMPTS": {"DataType": "String", "StringValue": "0"},
        },
    )
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(LAMBDA_BODY))


def visible(url: str) -> int:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def capture_invokes(clients: Any) -> list[dict[str, Any]]:
    """Every Invoke request the ops code sends, decoded (moto does not run the function)."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(
            {
                "FunctionName": params["FunctionName"],
                "InvocationType": params["InvocationType"],
                "event": json.loads(params["Payload"]),
            }
        )

    clients.lambda_.meta.events.register("provide-client-params.lambda.Invoke", record)
    return sent


def test_lists_all_three_sources_without_consuming(clients: Any, job_setup: tuple[Any, str]) -> None:
    _, url = job_setup
    send_three(url)
    messages = list_messages(clients.sqs, url, wait_seconds=0)
    by_source = {m.source: m for m in messages}
    assert set(by_source) == {DlqSource.WRAPPER, DlqSource.DELIVERY, DlqSource.LAMBDA}
    wrapper = by_source[DlqSource.WRAPPER]
    assert (wrapper.run_id, wrapper.attempts, wrapper.when) == ("20261127T090000Z-1a2b3c4d", 2, "2026-11-27T09:00:03Z")
    assert wrapper.error == "ConnectionError: reset"
    delivery = by_source[DlqSource.DELIVERY]
    # The firing never ran: its run id is the one the runtime would have given it.
    assert delivery.run_id == scheduled_run_id(utc("2026-11-27T09:15:00Z"), "ev-2")
    assert delivery.error == "NO_PERMISSIONS: Function policy does not allow events"
    assert delivery.attempts == 1 and delivery.detail.endswith("rule/acme-jobs--invoice-sync")
    crashed = by_source[DlqSource.LAMBDA]
    assert (crashed.run_id, crashed.attempts, crashed.trigger) == ("20261127T093000Z-mabc1234", 1, "manual")
    assert crashed.error == "Runtime.ExitError: Runtime exited"
    # Nothing consumed, and all visible again right away.
    assert visible(url) == 3
    assert len(list_messages(clients.sqs, url, wait_seconds=0)) == 3


def test_lists_more_than_one_receive_batch_once_each(clients: Any, job_setup: tuple[Any, str]) -> None:
    _, url = job_setup
    sqs = boto3.client("sqs", region_name="eu-west-1")
    for i in range(23):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({**WRAPPER_BODY, "run_id": f"20261127T09{i:02d}00Z-x"}))
    messages = list_messages(clients.sqs, url, wait_seconds=0)
    assert sorted(m.run_id for m in messages) == sorted(f"20261127T09{i:02d}00Z-x" for i in range(23))
    assert visible(url) == 23


def test_queue_of_undeployed_job_is_a_clear_error(clients: Any, table: str) -> None:
    from cronplane.ops.dlq import DlqNotFoundError

    with pytest.raises(DlqNotFoundError, match=r"acme-jobs--nope-dlq.*jobctl deploy"):
        queue_url(clients.sqs, NAMESPACE, "nope")


def test_replay_all_invokes_retry_runs_and_deletes_accepted(clients: Any, job_setup: tuple[Any, str]) -> None:
    manifest, url = job_setup
    send_three(url)
    sent = capture_invokes(clients)
    ids = [m.message_id for m in list_messages(clients.sqs, url, wait_seconds=0)]
    results = replay(
        clients.sqs,
        url,
        LambdaInvoker(clients.lambda_, manifest),
        "invoice-sync",
        ids,
        triggered_by="arn:aws:sts::123456789012:user/oncall",
        now=utc("2026-11-27T12:00:00Z"),
        wait_seconds=0,
    )
    assert all(r.accepted and r.deleted for r in results) and len(results) == 3
    assert visible(url) == 0
    assert {s["FunctionName"] for s in sent} == {names.function_name(NAMESPACE, "invoice-sync")}
    assert {s["InvocationType"] for s in sent} == {"Event"}
    envelopes = {s["event"]["cronplane"]["retry_of"]: s["event"]["cronplane"] for s in sent}
    assert set(envelopes) == {
        "20261127T090000Z-1a2b3c4d",
        scheduled_run_id(utc("2026-11-27T09:15:00Z"), "ev-2"),
        "20261127T093000Z-mabc1234",
    }
    for envelope in envelopes.values():
        assert envelope["trigger"] == "retry" and envelope["triggered_by"].endswith("user/oncall")
        assert envelope["run_id"].startswith("20261127T120000Z-r")  # a new run, not the failed one
    # The replay gets what the failed run got: the wrapper says so; a manual run's override is in
    # its envelope; a firing that never ran gets the job's configured payload (no key).
    assert envelopes["20261127T090000Z-1a2b3c4d"]["payload"] == {"fail_attempts": 1, "batch_size": 25}
    assert envelopes["20261127T093000Z-mabc1234"]["payload"] == {"batch_size": 5}
    assert "payload" not in envelopes[scheduled_run_id(utc("2026-11-27T09:15:00Z"), "ev-2")]


class FailingSecond:
    """The real invoker, except that the second replay is refused (as a throttled or
    misconfigured function would be)."""

    def __init__(self, inner: LambdaInvoker) -> None:
        self.inner, self.calls = inner, 0

    def invoke_async(self, job_name: str, envelope: dict[str, Any]) -> InvokeResult:
        self.calls += 1
        if self.calls == 2:
            return InvokeResult(False, None, "TooManyRequestsException: Rate exceeded")
        return self.inner.invoke_async(job_name, envelope)


def test_failed_replay_keeps_its_message(clients: Any, job_setup: tuple[Any, str]) -> None:
    manifest, url = job_setup
    send_three(url)
    listed = list_messages(clients.sqs, url, wait_seconds=0)
    results = replay(
        clients.sqs,
        url,
        FailingSecond(LambdaInvoker(clients.lambda_, manifest)),
        "invoice-sync",
        [m.message_id for m in listed],
        triggered_by="me",
        now=utc("2026-11-27T12:00:00Z"),
        wait_seconds=0,
    )
    assert [r.deleted for r in results] == [True, False, True]
    assert "Rate exceeded" in (results[1].error or "")
    left = list_messages(clients.sqs, url, wait_seconds=0)
    assert [m.message_id for m in left] == [results[1].message.message_id]


def test_replay_without_a_function_loses_nothing(clients: Any, deploy: Any) -> None:
    job = make_job("invoice-sync", "rate(15 minutes)")
    manifest = make_manifest(job)
    url = deploy(manifest, job, function=False)["queue_url"]
    send_three(url)
    listed = list_messages(clients.sqs, url, wait_seconds=0)
    results = replay(
        clients.sqs,
        url,
        LambdaInvoker(clients.lambda_, manifest),
        "invoice-sync",
        [listed[0].message_id],
        triggered_by="me",
        now=utc("2026-11-27T12:00:00Z"),
        wait_seconds=0,
    )
    assert len(results) == 1 and not results[0].accepted and "does not exist" in (results[0].error or "")
    assert visible(url) == 3


def test_replay_of_one_run_touches_only_its_message(clients: Any, job_setup: tuple[Any, str]) -> None:
    manifest, url = job_setup
    send_three(url)
    listed = list_messages(clients.sqs, url, wait_seconds=0)
    target = next(m for m in listed if m.source is DlqSource.WRAPPER)
    results = replay(
        clients.sqs,
        url,
        LambdaInvoker(clients.lambda_, manifest),
        "invoice-sync",
        [target.message_id],
        triggered_by="me",
        now=utc("2026-11-27T12:00:00Z"),
        wait_seconds=0,
    )
    assert [r.message.run_id for r in results] == ["20261127T090000Z-1a2b3c4d"]
    assert {m.source for m in list_messages(clients.sqs, url, wait_seconds=0)} == {DlqSource.DELIVERY, DlqSource.LAMBDA}


class ForbidRuntime:
    """Stands in for a forbid job's function on the real Invoke path: the first replay takes the
    job's lock and is still running when the next is invoked, unless the caller waits (then it
    has finished by the next poll). A run invoked while the lock is held yields (skipped)."""

    def __init__(self, clients: Any, inner: LambdaInvoker) -> None:
        self.clients, self.inner = clients, inner
        self.statuses: dict[str, str] = {}
        self.running: str | None = None

    def invoke_async(self, job_name: str, envelope: dict[str, Any]) -> InvokeResult:
        result = self.inner.invoke_async(job_name, envelope)
        run_id = envelope["cronplane"]["run_id"]
        status = "skipped" if self.running else "running"
        self.statuses[run_id] = status
        self._write(run_id, status, envelope["cronplane"]["retry_of"])
        if status == "running":
            self.running = run_id
            self.clients.dynamodb.put_item(
                TableName="acme-jobs-history",
                Item=to_item(RunLock(job_name, run_id, 4_000_000_000)),
            )
        return result

    def finish(self) -> None:
        if self.running:
            self._write(self.running, "succeeded", None)
            self.clients.dynamodb.delete_item(
                TableName="acme-jobs-history", Key={"job": {"S": "invoice-sync"}, "run_id": {"S": "~lock"}}
            )
            self.statuses[self.running] = "succeeded"
            self.running = None

    def _write(self, run_id: str, status: str, retry_of: str | None) -> None:
        put_run(
            self.clients.dynamodb,
            "invoice-sync",
            run_id,
            trigger="retry",
            status=status,
            retry_of=retry_of,
            started_at=utc("2026-11-27T12:00:00Z"),
            deadline="2099-01-01T00:00:00Z",
        )


def test_forbid_job_replays_one_at_a_time_and_a_skipped_replay_keeps_its_message(clients: Any, deploy: Any) -> None:
    """Regression: `jobctl dlq replay --all` of a forbid job invoked every replay at once; all
    but one yielded to the first (skipped, nothing ran) and their messages were deleted anyway."""
    from cronplane.ops.waiting import RunWaiter

    job = make_job("invoice-sync", "rate(15 minutes)", concurrency=Concurrency.FORBID)
    manifest = make_manifest(job)
    url = deploy(manifest, job)["queue_url"]
    send_three(url)
    listed = list_messages(clients.sqs, url, wait_seconds=0)
    runtime = ForbidRuntime(clients, LambdaInvoker(clients.lambda_, manifest))
    ticks = iter(range(10_000))
    waiter = RunWaiter(
        clients.dynamodb,
        "acme-jobs-history",
        "invoice-sync",
        420,
        now=lambda: utc("2026-11-27T12:00:00Z"),
        sleep=lambda s: runtime.finish(),
        clock=lambda: float(next(ticks)),
    )
    results = replay(
        clients.sqs,
        url,
        runtime,
        "invoice-sync",
        [m.message_id for m in listed],
        triggered_by="me",
        now=utc("2026-11-27T12:00:00Z"),
        wait_seconds=0,
        waiter=waiter,
    )
    assert [(r.accepted, r.deleted, r.status) for r in results] == [(True, True, "succeeded")] * 3
    assert set(runtime.statuses.values()) == {"succeeded"} and visible(url) == 0

    # Without waiting, the second replay yields to the first: its message must stay.
    send_three(url)
    runtime.statuses.clear()
    listed = list_messages(clients.sqs, url, wait_seconds=0)
    unwaited = RunWaiter(
        clients.dynamodb,
        "acme-jobs-history",
        "invoice-sync",
        0,
        now=lambda: utc("2026-11-27T12:00:00Z"),
        sleep=lambda s: None,
        clock=lambda: 0.0,
    )
    # A waiter that never waits for the lock: the first replay is still running when the next starts.
    unwaited_lock_free = RunWaiter.lock_free
    RunWaiter.lock_free = lambda self, then: None  # type: ignore[method-assign]
    try:
        results = replay(
            clients.sqs,
            url,
            runtime,
            "invoice-sync",
            [m.message_id for m in listed[:2]],
            triggered_by="me",
            now=utc("2026-11-27T12:00:00Z"),
            wait_seconds=0,
            waiter=unwaited,
        )
    finally:
        RunWaiter.lock_free = unwaited_lock_free  # type: ignore[method-assign]
    assert [(r.accepted, r.deleted, r.status) for r in results] == [(True, True, None), (True, False, "skipped")]
    assert "yielded to an overlapping run" in (results[1].error or "")
    assert {m.message_id for m in list_messages(clients.sqs, url, wait_seconds=0)} == {
        listed[1].message_id,
        listed[2].message_id,
    }


def test_dev_servers_on_failure_record_is_listed_as_lambda_source() -> None:
    """The contract with `jobctl dev`: the record its emulator sends to the on-failure
    destination when a function crashes (as Lambda does) parses as a Lambda message that names
    the crashed firing's run id, so `jobctl dlq` lists it and replay can re-run it."""
    from cronplane.local.emulator import FunctionSpec, destination_record
    from cronplane.local.runner import InvocationResult
    from cronplane.ops.dlq import parse_message

    spec = FunctionSpec(
        name="acme-jobs--crasher",
        arn="arn:aws:lambda:eu-west-1:123456789012:function:acme-jobs--crasher",
        version="$LATEST",
        handler="cronplane.runtime.entry.handler",
        env={},
        timeout_s=10,
        memory_mb=128,
        code_sha256="x",
        code_bytes=b"",
        region="eu-west-1",
        account_id="123456789012",
    )
    crashed = InvocationResult(
        "req-1",
        {"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited with error: exit status 9"},
        "Unhandled",
        False,
        12,
        "",
    )
    event = {"cronplane": {"trigger": "schedule", "event_id": "ev-9", "scheduled_for": "2026-11-27T09:00:00Z"}}
    body = destination_record(spec, "req-1", event, crashed, 1)
    message = parse_message({"MessageId": "m1", "ReceiptHandle": "h1", "Body": json.dumps(body), "Attributes": {}})
    assert message.source is DlqSource.LAMBDA
    assert message.run_id == scheduled_run_id(utc("2026-11-27T09:00:00Z"), "ev-9") and message.trigger == "schedule"
    assert message.error == "Runtime.ExitError: Runtime exited with error: exit status 9" and message.attempts == 1
    assert message.payload is None  # the replay gets the job's configured payload, as the firing did
