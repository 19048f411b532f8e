"""A failed run, end to end, against ``jobctl dev`` (a moto server on 127.0.0.1 whose Lambda
Invoke runs the real package): plain boto3 (what ``aws lambda invoke`` sends) gets
``FunctionError`` for a run that ended ``failed``, the job's DLQ holds exactly one message for
it, an SQS queue subscribed to the namespace's alert topic gets exactly one notification naming
the job, the run id and the error with the job's secret masked, and a webhook receiver on
127.0.0.1 gets Slack-compatible JSON. A successful run answers without FunctionError and tells
nobody; ``jobctl run-now --sync`` still reports the failed run from its record."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_dev_e2e import Dev, copy_project, start_dev, stop_dev

from cronplane.manifest import names
from support.webhook import WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.e2e

NAMESPACE = "alert-jobs"
REGION = "eu-west-1"
SECRET = "pa55-w0rd-for-the-db"
MANIFEST = f"""\
namespace: {NAMESPACE}
region: {REGION}
defaults:
  alerts:
    notify: [email:billing-oncall@example.com, "webhook:ssm:/billing/slack-webhook"]
    on: [failed, timed_out]
jobs:
  leaky-job:
    handler: billing/leaky.py:handler
    schedule: rate(1 hour)
    team: billing
    owner: billing-oncall@example.com
    retries: {{max_attempts: 2, backoff_base: 0.1, backoff_cap: 0.1}}
    secrets:
      DB_PASSWORD: ssm:/billing/db-password
  fine-job:
    handler: billing/leaky.py:fine
    schedule: rate(1 hour)
    team: billing
"""
LEAKY = textwrap.dedent(
    """
    import os

    def handler(event, context):
        raise ConnectionError("db refused login with password " + os.environ["DB_PASSWORD"])

    def fine(event, context):
        return {"ok": True}
    """
)


class Setup:
    def __init__(self, dev: Dev, hook: WebhookReceiver) -> None:
        self.dev = dev
        self.hook = hook
        ssm = dev.client("ssm")
        ssm.put_parameter(Name="/billing/db-password", Value=SECRET, Type="SecureString")
        ssm.put_parameter(Name="/billing/slack-webhook", Value=hook.url, Type="SecureString")
        sqs, sns = dev.client("sqs"), dev.client("sns")
        self.inbox = sqs.create_queue(QueueName="oncall-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic = f"arn:aws:sns:{REGION}:123456789012:{names.alert_topic(NAMESPACE)}"
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        self.dlq = sqs.get_queue_url(QueueName=names.dlq_name(NAMESPACE, "leaky-job"))["QueueUrl"]

    def drain(self, url: str) -> list[dict[str, Any]]:
        sqs = self.dev.client("sqs")
        bodies = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return bodies
            for message in got:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def notifications(self) -> list[dict[str, Any]]:
        return [json.loads(envelope["Message"]) for envelope in self.drain(self.inbox)]

    def invoke(self, job: str, invocation: str = "RequestResponse") -> dict[str, Any]:
        response = self.dev.client("lambda").invoke(
            FunctionName=names.function_name(NAMESPACE, job), InvocationType=invocation, Payload=b"{}"
        )
        payload = response["Payload"].read()
        return {**response, "Payload": json.loads(payload) if payload else None}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = copy_project(tmp_path_factory.mktemp("alertproject"), MANIFEST)
    Path(root / "jobs" / "billing" / "leaky.py").write_text(LEAKY)
    with webhook_receiver() as hook:
        dev = start_dev(root, "--no-schedule")
        try:
            yield Setup(dev, hook)
        finally:
            stop_dev(dev)


def test_a_failed_run_is_a_function_error_with_one_dlq_message_and_one_notification(setup: Setup) -> None:
    response = setup.invoke("leaky-job")
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    error = response["Payload"]
    assert error["errorType"] == "RunFailed" and "ended failed after 2 attempts" in error["errorMessage"]
    assert SECRET not in json.dumps(error)
    [record] = [r for r in setup.dev.history("leaky-job", NAMESPACE) if r["trigger"] == "manual"]
    assert record["status"] == "failed" and record["run_id"] in error["errorMessage"]
    # The run's writes are done before Lambda answers: what the queues hold now is all there is.
    [dead_letter] = setup.drain(setup.dlq)
    assert dead_letter["run_id"] == record["run_id"] and dead_letter["status"] == "failed"
    [alert] = setup.notifications()
    assert (alert["job"], alert["team"], alert["kind"], alert["run_id"]) == (
        "leaky-job",
        "billing",
        "failed",
        record["run_id"],
    )
    assert alert["error"] == "ConnectionError: db refused login with password ***"
    assert f"jobctl dlq replay leaky-job --run {record['run_id']}" in alert["next_steps"]
    [post] = setup.hook.wait_for(1)
    body = post.json()
    assert set(body) == {"text", "blocks"} and body["text"].startswith("cronplane job leaky-job")
    assert record["run_id"] in json.dumps(body) and SECRET not in post.body.decode()


def test_lambda_neither_retries_nor_sends_a_failed_run_anywhere_else(setup: Setup) -> None:
    config = setup.dev.client("lambda").get_function_event_invoke_config(
        FunctionName=names.function_name(NAMESPACE, "leaky-job")
    )
    assert config["MaximumRetryAttempts"] == 0 and not config.get("DestinationConfig", {}).get("OnFailure")
    # The queued run is the failed run that was not there before (not the latest start: two
    # failed runs can start within the same second).
    earlier = {r["run_id"] for r in setup.dev.history("leaky-job", NAMESPACE)}
    assert setup.invoke("leaky-job", "Event")["StatusCode"] == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        history = setup.dev.history("leaky-job", NAMESPACE)
        new = [r for r in history if r["status"] == "failed" and r["run_id"] not in earlier]
        if new:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the queued run did not end failed within 60 s")
    [newest] = new
    [dead_letter] = setup.drain(setup.dlq)  # the wrapper's own: no destination record beside it
    assert dead_letter["run_id"] == newest["run_id"] and "requestContext" not in dead_letter
    assert [a["run_id"] for a in setup.notifications()] == [newest["run_id"]]


def test_a_successful_run_answers_without_function_error_and_tells_nobody(setup: Setup) -> None:
    response = setup.invoke("fine-job")
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert response["Payload"]["status"] == "succeeded"
    assert setup.notifications() == []


def test_run_now_sync_reports_the_failed_run_from_its_record(setup: Setup) -> None:
    done = setup.dev.jobctl("run-now", "leaky-job", "--sync", "--output", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    shown = json.loads(done.stdout)
    assert shown["status"] == "failed" and shown["function_error"] == "Unhandled"
    assert [a["error_type"] for a in shown["record"]["attempts"]] == ["ConnectionError", "ConnectionError"]
    assert SECRET not in done.stdout
    setup.drain(setup.dlq)
    setup.notifications()
