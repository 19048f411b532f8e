"""``runtime.alerts.deliver``: SNS routes through moto (the namespace topic for email routes,
filtered per job; an ``sns:`` topic as is), webhooks to a receiver on 127.0.0.1, what a route
that fails says, and that every body leaves masked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from runtime_helpers import REGION, count_calls

from cronplane.aws.kinds.topic import filter_policy
from cronplane.runtime.alerts import Alert, Route, deliver, log_url, next_steps, slack_body, subject
from support.webhook import webhook_receiver

SECRET = "s3cr3t-db-pass"
ALERT = Alert(
    job="nightly-report",
    team="billing",
    owner="billing-oncall@example.com",
    kind="failed",
    fire_times=("2026-11-27T02:00:00Z",),
    run_id="20261127T020000Z-abcd1234",
    attempts=3,
    error=f"ValueError: could not connect with {SECRET}",
    namespace="acme-jobs",
    region=REGION,
    log_url="https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups",
    next_steps=next_steps("nightly-report", "20261127T020000Z-abcd1234"),
)


class Sns:
    def __init__(self) -> None:
        self.client = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.calls = count_calls(self.client)

    def topic(self, name: str) -> str:
        return str(self.client.create_topic(Name=name)["TopicArn"])

    def queue_on(self, topic_arn: str, name: str, address: str | None = None) -> str:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # Filtered as deploy filters an email subscription (aws/kinds/topic.py).
        attributes = {"FilterPolicy": filter_policy(address)} if address else {}
        self.client.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        return str(url)

    def received(self, url: str) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def sns(aws: None) -> Iterator[Sns]:
    yield Sns()


def test_email_routes_share_one_publish_that_reaches_only_their_addresses(sns: Sns) -> None:
    topic = sns.topic("acme-jobs-alerts")
    mine = sns.queue_on(topic, "billing-oncall", address="billing-oncall@example.com")
    lead = sns.queue_on(topic, "billing-lead", address="billing-lead@example.com")
    other = sns.queue_on(topic, "infra-oncall", address="infra-oncall@example.com")
    routes = [Route("email", "billing-oncall@example.com"), Route("email", "billing-lead@example.com")]
    setup = len(sns.calls())

    results = deliver(ALERT, routes, sns_client=sns.client, secrets_resolver=None, namespace_topic_arn=topic)

    assert [r.ok for r in results] == [True, True] and [r.route for r in results] == routes
    assert sns.calls()[setup:] == ["Publish"]  # one for all the email routes
    [envelope] = sns.received(mine)
    assert envelope["Subject"] == "cronplane: nightly-report FAILED (acme-jobs)"
    assert envelope["MessageAttributes"]["job"]["Value"] == "nightly-report"
    assert json.loads(envelope["MessageAttributes"]["emails"]["Value"]) == [
        "billing-lead@example.com",
        "billing-oncall@example.com",
    ]
    assert len(sns.received(lead)) == 1
    doc = json.loads(envelope["Message"])  # what non-email subscribers get: the JSON document
    assert doc["job"] == "nightly-report" and doc["run_id"] == ALERT.run_id and doc["kind"] == "failed"
    assert "jobctl dlq replay nightly-report --run 20261127T020000Z-abcd1234" in doc["next_steps"]
    assert sns.received(other) == []  # another job's on-call is not told


def test_an_sns_route_publishes_to_its_own_topic(sns: Sns) -> None:
    pager = sns.topic("billing-pager")
    queue = sns.queue_on(pager, "pager-inbox")
    [result] = deliver(
        ALERT, [Route("sns", pager)], sns_client=sns.client, secrets_resolver=None, namespace_topic_arn=""
    )
    assert result.ok and result.detail.startswith("published")
    [envelope] = sns.received(queue)
    assert json.loads(envelope["Message"])["error"] == ALERT.error


def test_the_webhook_gets_slack_json_posted_to_the_url_kept_in_its_secret() -> None:
    resolved: list[str] = []
    with webhook_receiver() as hook:

        def resolver(reference: str) -> str:
            resolved.append(reference)
            return hook.url

        [result] = deliver(
            ALERT,
            [Route("webhook", "ssm:/billing/slack")],
            sns_client=None,
            secrets_resolver=resolver,
            namespace_topic_arn="",
        )
        [post] = hook.wait_for(1)
    assert result.ok and result.detail == "HTTP 200" and resolved == ["ssm:/billing/slack"]
    assert post.path == "/hooks/T000/B000" and post.headers["Content-Type"] == "application/json"
    body = post.json()
    assert set(body) == {"text", "blocks"}  # Slack's incoming-webhook shape
    assert body["text"].startswith("cronplane job nightly-report in namespace acme-jobs: FAILED")
    assert body["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": body["blocks"][0]["text"]["text"]},
    }
    shown = json.dumps(body)
    assert ALERT.run_id in shown and "could not connect" in shown
    assert "jobctl history nightly-report --run 20261127T020000Z-abcd1234" in shown


def test_every_body_that_leaves_is_masked(sns: Sns) -> None:
    topic = sns.topic("acme-jobs-alerts")
    queue = sns.queue_on(topic, "all")
    with webhook_receiver() as hook:
        results = deliver(
            ALERT,
            [Route("email", "a@example.com"), Route("webhook", "ssm:/x")],
            sns_client=sns.client,
            secrets_resolver=lambda _: hook.url,
            namespace_topic_arn=topic,
            scrub=lambda text: text.replace(SECRET, "***"),
        )
        [post] = hook.wait_for(1)
    assert all(r.ok for r in results)
    [envelope] = sns.received(queue)
    for sent in (json.dumps(envelope), post.body.decode()):
        assert SECRET not in sent and "could not connect with ***" in sent


def test_a_route_that_fails_says_why_and_the_others_still_go(sns: Sns) -> None:
    missing = f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    with webhook_receiver() as hook:
        failed, posted = deliver(
            ALERT,
            [Route("sns", missing), Route("webhook", "ssm:/x")],
            sns_client=sns.client,
            secrets_resolver=lambda _: hook.url,
            namespace_topic_arn="",
        )
        hook.wait_for(1)
    assert not failed.ok and "NotFound" in failed.detail
    assert posted.ok


def test_email_routes_without_a_namespace_topic_fail_with_the_fix(sns: Sns) -> None:
    [result] = deliver(
        ALERT, [Route("email", "a@example.com")], sns_client=sns.client, secrets_resolver=None, namespace_topic_arn=""
    )
    assert not result.ok and "jobctl deploy" in result.detail
    assert sns.calls() == []  # nothing sent


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/x", "ftp://127.0.0.1/x", "not a url", "https:///no-host"],
    ids=["http", "ftp", "text", "nohost"],
)
def test_a_webhook_url_that_is_not_https_is_refused_without_a_request_and_without_showing_it(url: str) -> None:
    [result] = deliver(
        ALERT, [Route("webhook", "ssm:/x")], sns_client=None, secrets_resolver=lambda _: url, namespace_topic_arn=""
    )
    assert not result.ok and "https" in result.detail and url not in result.detail


def test_a_webhook_that_redirects_is_not_followed() -> None:
    with webhook_receiver() as elsewhere, webhook_receiver(status=302) as hook:
        hook.location = elsewhere.url
        [result] = deliver(
            ALERT,
            [Route("webhook", "ssm:/x")],
            sns_client=None,
            secrets_resolver=lambda _: hook.url,
            namespace_topic_arn="",
        )
        hook.wait_for(1)
    assert not result.ok and "302" in result.detail
    assert elsewhere.posts == []


def test_a_webhook_secret_that_cannot_be_read_names_the_reference_not_a_value() -> None:
    def resolver(reference: str) -> str:
        raise RuntimeError(f"secret X: could not read {reference} (ParameterNotFound)")

    [result] = deliver(
        ALERT,
        [Route("webhook", "ssm:/billing/slack")],
        sns_client=None,
        secrets_resolver=resolver,
        namespace_topic_arn="",
    )
    assert not result.ok and "ssm:/billing/slack" in result.detail and "ParameterNotFound" in result.detail


def test_subject_and_slack_text_stay_within_their_limits() -> None:
    long = ALERT._replace(job="j" * 120, error="x" * 10_000, kind="test")
    assert len(subject(long)) <= 100 and subject(long).isascii()
    body = slack_body(long)
    assert len(body["blocks"][0]["text"]["text"]) <= 150
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in body["blocks"])
    assert body["text"].startswith("[TEST] ")


def test_log_url_opens_the_runs_stream_filtered_to_its_id() -> None:
    url = log_url("eu-west-1", "/aws/lambda/acme--job", "2026/11/27/[$LATEST]abc", "20261127T020000Z-abcd1234")
    assert url.startswith(
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/"
    )
    assert (
        "log-group/$252Faws$252Flambda$252Facme--job/log-events/2026$252F11$252F27$252F$255B$2524LATEST$255Dabc" in url
    )
    assert url.endswith("$3FfilterPattern$3D$2522" + "20261127T020000Z-abcd1234" + "$2522")
    assert log_url("", "/aws/lambda/x") == ""
