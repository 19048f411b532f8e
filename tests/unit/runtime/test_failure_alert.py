"""The wrapper's failure path: a run that ends ``failed`` or ``timed_out`` sends ONE alert (one
extra API call: a Publish), after its record and its one DLQ message; a successful run sends
nothing and still costs two writes and no read; an alert that cannot be sent changes nothing
else; the secret in an error never leaves; and Lambda's handler then ends the invocation as an
error (``RunFailed``), without touching the record or the DLQ again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from runtime_helpers import (
    REGION,
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime import alerts, entry
from cronplane.runtime.exceptions import RunFailed
from cronplane.runtime.wrapper import Wrapper
from support.webhook import WebhookReceiver, webhook_receiver

FAIL = "def handler(event, context):\n    raise ValueError('upstream answered 503')\n"
SUCCEED = "def handler(event, context):\n    return {'ok': True}\n"
SECRET = "hunter2-db-password"


class Calls:
    """Every AWS operation the wrapper's clients send, in order, as ``service.Operation``."""

    def __init__(self, env: Env) -> None:
        self.seen: list[str] = []
        self.env = env
        for service in ("dynamodb", "sqs", "sns", "ssm"):
            client = env.client(service)
            client.meta.events.register(
                "before-call.*.*",
                lambda model, _s=service, **_: self.seen.append(f"{_s}.{model.name}"),
            )
        self.seen.clear()


class Alerting:
    def __init__(self, env: Env, monkeypatch: pytest.MonkeyPatch, hook: WebhookReceiver) -> None:
        self.env = env
        self.hook = hook
        self.monkeypatch = monkeypatch
        sns, sqs = env.client("sns"), env.client("sqs")
        self.topic = sns.create_topic(Name="acme-alerts")["TopicArn"]
        self.inbox = sqs.create_queue(QueueName="oncall-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=inbox_arn)
        env.client("ssm").put_parameter(Name="/acme/slack", Value=hook.url, Type="SecureString")
        self.routes(["email:oncall@example.com", "webhook:ssm:/acme/slack"])
        monkeypatch.setenv(alerts.ALERT_TOPIC, self.topic)
        monkeypatch.setenv(alerts.TEAM, "billing")
        monkeypatch.setenv(alerts.OWNER, "oncall@example.com")
        monkeypatch.setenv("AWS_REGION", REGION)
        self.calls = Calls(env)

    def routes(self, routes: list[str], on: list[str] | None = None) -> None:
        self.monkeypatch.setenv(alerts.ALERT_ROUTES, json.dumps(routes))
        if on is not None:
            self.monkeypatch.setenv(alerts.ALERT_ON, json.dumps(on))

    def notifications(self) -> list[dict[str, Any]]:
        got = self.env.client("sqs").receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in got]

    def wrapper(self, source: str, **overrides: Any) -> Wrapper:
        return self.env.wrapper(source, **{"retry": {"max_attempts": 2, "backoff_base": 0}, **overrides})


@pytest.fixture
def alerting(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Alerting]:
    with webhook_receiver() as hook:
        yield Alerting(env, monkeypatch, hook)


def test_a_failed_run_sends_one_alert_after_its_record_and_its_dlq_message(alerting: Alerting) -> None:
    record = alerting.wrapper(FAIL).handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "failed"
    sent = alerting.calls.seen
    # The run's own writes first, then the alert: one Publish (both routes' email part) and the
    # webhook's secret, read now and not at cold start.
    assert sent.count("sns.Publish") == 1 and sent.count("sqs.SendMessage") == 1
    assert sent.index("sqs.SendMessage") < sent.index("sns.Publish")
    assert max(i for i, c in enumerate(sent) if c.startswith("dynamodb.")) < sent.index("sns.Publish")
    assert sent[-2:] == ["sns.Publish", "ssm.GetParameter"]
    [alert] = alerting.notifications()
    assert alert["job"] == "acme-job" and alert["team"] == "billing" and alert["owner"] == "oncall@example.com"
    assert alert["kind"] == "failed" and alert["run_id"] == record["run_id"] and alert["attempts"] == 2
    assert alert["fire_times"] == ["2026-11-27T09:00:00Z"]
    assert alert["error"] == "ValueError: upstream answered 503"
    assert alert["next_steps"][:2] == [
        f"jobctl history acme-job --run {record['run_id']}",
        f"jobctl dlq replay acme-job --run {record['run_id']}",
    ]
    assert alert["log_url"].startswith("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#")
    [post] = alerting.hook.wait_for(1)
    assert record["run_id"] in json.dumps(post.json())
    assert len(alerting.env.dead_letters()) == 1
    logged = [line["message"] for line in alerting.env.logged() if line.get("route")]
    assert logged == ["alert sent", "alert sent"]


def test_a_successful_run_sends_nothing_and_costs_two_writes_and_no_read(alerting: Alerting) -> None:
    record = alerting.wrapper(SUCCEED).handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "succeeded"
    assert [c for c in alerting.calls.seen if not c.startswith("dynamodb.")] == []
    assert len(alerting.calls.seen) == 2 and all("Get" not in c and "Query" not in c for c in alerting.calls.seen)
    assert alerting.notifications() == [] and alerting.hook.posts == []


def test_on_decides_which_ends_alert(alerting: Alerting) -> None:
    alerting.routes(["email:oncall@example.com"], on=["timed_out", "missed"])
    record = alerting.wrapper(FAIL).handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "failed"
    assert "sns.Publish" not in alerting.calls.seen and alerting.notifications() == []


def test_a_timed_out_run_is_alerted_in_the_time_left(alerting: Alerting) -> None:
    alerting.routes(["email:oncall@example.com"])
    slow = "import time\ndef handler(event, context):\n    time.sleep(5)\n"
    record = alerting.wrapper(slow, retry={"max_attempts": 1}).handle(
        schedule_event(), FakeLambdaContext(3_000, ticking=True)
    )
    assert record["status"] == "timed_out"
    [alert] = alerting.notifications()
    assert alert["kind"] == "timed_out" and "SoftDeadline" in alert["error"]


def test_an_alert_that_cannot_be_sent_is_logged_and_changes_nothing_else(alerting: Alerting) -> None:
    alerting.monkeypatch.setenv(alerts.ALERT_TOPIC, f"arn:aws:sns:{REGION}:123456789012:deleted-topic")
    alerting.env.client("ssm").delete_parameter(Name="/acme/slack")
    record = alerting.wrapper(FAIL).handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "failed"
    assert [r["status"] for r in alerting.env.runs()] == ["failed"]
    assert len(alerting.env.dead_letters()) == 1
    failures = [line for line in alerting.env.logged() if line.get("message") == "alert not sent"]
    assert [f["route"] for f in failures] == ["email:oncall@example.com", "webhook:ssm:/acme/slack"]
    assert "NotFound" in failures[0]["detail"] and "ssm:/acme/slack" in failures[1]["detail"]


def test_the_secret_in_an_error_is_masked_in_the_alert_and_the_webhook_url_in_the_log(
    alerting: Alerting, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerting.env.client("ssm").put_parameter(Name="/acme/db", Value=SECRET, Type="SecureString")
    leaky = "import os\ndef handler(event, context):\n    raise RuntimeError('login failed for ' + os.environ['DB'])\n"
    record = alerting.wrapper(leaky, secrets={"DB": "ssm:/acme/db"}).handle(schedule_event(), FakeLambdaContext())
    assert record["error"] == "RuntimeError: login failed for ***"
    [alert] = alerting.notifications()
    [post] = alerting.hook.wait_for(1)
    for sent in (json.dumps(alert), post.body.decode(), "\n".join(alerting.env.lines)):
        assert SECRET not in sent
    assert "login failed for ***" in alert["error"]
    assert alerting.hook.url not in "\n".join(alerting.env.lines)  # the webhook URL is a secret too


def test_lambdas_handler_ends_a_failed_run_as_an_error_after_its_writes(alerting: Alerting) -> None:
    wrapper = alerting.wrapper(FAIL)
    with pytest.raises(RunFailed, match=r"ended failed after 2 attempts: ValueError: upstream answered 503") as raised:
        wrapper.handle_for_lambda(schedule_event(), FakeLambdaContext())
    [run] = alerting.env.runs()
    assert run["status"] == "failed" and run["run_id"] in str(raised.value)
    assert len(alerting.env.dead_letters()) == 1 and len(alerting.notifications()) == 1
    ok = alerting.wrapper(SUCCEED).handle_for_lambda(schedule_event("evt-2"), FakeLambdaContext())
    assert ok["status"] == "succeeded"


def test_a_duplicate_delivery_of_a_failed_run_is_neither_alerted_nor_an_error(alerting: Alerting) -> None:
    wrapper = alerting.wrapper(FAIL)
    with pytest.raises(RunFailed):
        wrapper.handle_for_lambda(schedule_event(), FakeLambdaContext())
    again = wrapper.handle_for_lambda(schedule_event(), FakeLambdaContext())
    assert again["status"] == "duplicate"
    assert len(alerting.notifications()) == 1


def test_entry_builds_the_alerts_from_the_environment_and_creates_no_sns_client_at_cold_start(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[str] = []

    def clients(service: str) -> Any:
        created.append(service)
        return env.client(service)

    monkeypatch.setenv(alerts.ALERT_ROUTES, json.dumps(["email:oncall@example.com"]))
    wrapper = entry.build(env.settings(env.job_module(SUCCEED)), clients, emit=env.lines.append)
    assert wrapper.alerts is not None and "sns" not in created
    monkeypatch.delenv(alerts.ALERT_ROUTES)
    assert entry.build(env.settings(env.job_module(SUCCEED)), clients).alerts is None


def test_without_routes_a_failed_run_alerts_nobody(env: Env) -> None:
    with pytest.raises(RunFailed):
        env.wrapper(FAIL).handle_for_lambda(schedule_event(), FakeLambdaContext())
    assert "sns" not in env.clients and len(env.dead_letters()) == 1
    assert boto3.client("sns", region_name=REGION).list_topics()["Topics"] == []
