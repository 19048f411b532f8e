"""``jobctl watch --once``, ``jobctl alerts [JOB]`` and ``jobctl alerts test JOB`` through click
(CliRunner), against moto in-process with the namespace's alert topic (an SQS queue subscribed)
and a webhook receiver on 127.0.0.1: output, what was sent, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from ops_fixtures import put_run

from cronplane.cli.main import cli
from cronplane.manifest import names
from support.webhook_receiver import Receiver, webhook_receiver
from testkit import jobctl as run_main

REGION = "eu-west-1"
MANIFEST = """\
namespace: acme-jobs
region: eu-west-1
jobs:
  report:
    handler: billing/report.py:handler
    schedule: cron(0/10 * * * ? *)
    team: billing
    owner: billing-oncall@example.com
    alerts:
      notify: [email:billing-oncall@example.com, "webhook:ssm:/billing/hook"]
      late_after: 1m
      missed_after: 2m
  quiet:
    handler: billing/report.py:handler
    schedule: cron(0 * * * ? *)
    team: billing
"""


class Inbox:
    """The namespace's alert topic as its email subscribers would see it: an SQS queue on it."""

    def __init__(self) -> None:
        sns, self.sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name=names.alert_topic("acme-jobs"))["TopicArn"]
        self.url = self.sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

    def docs(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
        for message in got:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in got]


@pytest.fixture
def project(tmp_path: Path, table: str) -> Iterator[tuple[Path, Inbox, Receiver]]:
    (tmp_path / "jobs" / "billing").mkdir(parents=True)
    (tmp_path / "jobs" / "billing" / "report.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    inbox = Inbox()
    with webhook_receiver() as receiver:
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/billing/hook", Value=receiver.url, Type="SecureString"
        )
        yield tmp_path / "jobs.yaml", inbox, receiver


def jobctl(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_watch_once_alerts_once_and_exits_3_while_something_is_open(project: Any) -> None:
    path, inbox, receiver = project
    first = jobctl("watch", "--once", "-f", str(path), "--now", "2026-11-27T09:00:30Z")
    assert first.exit_code == 0, first.output
    assert "Nothing is open." in first.output and first.output.rstrip().endswith("OK: nothing open in 1 watched job")
    second = jobctl("watch", "--once", "-f", str(path), "--now", "2026-11-27T09:23:00Z")
    assert second.exit_code == 3, second.output
    assert "missed    report  2: 2026-11-27T09:10:00Z, 2026-11-27T09:20:00Z -> email:billing-oncall@" in second.output
    assert second.output.rstrip().endswith("OPEN: 1 alert in report")
    docs = inbox.docs()
    assert [(d["kind"], d["job"], d["fire_times"]) for d in docs] == [
        ("missed", "report", ["2026-11-27T09:10:00Z", "2026-11-27T09:20:00Z"])
    ]
    (slack,) = receiver.wait_for(1)
    assert set(slack) == {"text", "blocks"} and "report" in slack["text"] and "MISSED" in slack["text"]
    third = jobctl("watch", "--once", "-f", str(path), "-o", "json", "--now", "2026-11-27T09:24:00Z")
    assert third.exit_code == 3
    shown = json.loads(third.output)
    assert shown["sent"] == [] and [a["kind"] for a in shown["open"]] == ["missed"]
    assert inbox.docs() == [] and len(receiver.received()) == 1


def test_alerts_shows_what_is_open_since_when_and_who_was_told(project: Any) -> None:
    path, _, _ = project
    jobctl("watch", "--once", "-f", str(path), "--now", "2026-11-27T09:00:30Z")
    quiet = jobctl("alerts", "-f", str(path), "--now", "2026-11-27T09:05:00Z")
    assert quiet.exit_code == 0 and "Nothing is open." in quiet.output
    pending = jobctl("alerts", "report", "-f", str(path), "--now", "2026-11-27T09:13:00Z")
    assert pending.exit_code == 3
    assert "nobody yet (the next watchdog pass sends it)" in pending.output  # only looking sends nothing
    jobctl("watch", "--once", "-f", str(path), "--now", "2026-11-27T09:13:00Z")
    shown = jobctl("alerts", "-f", str(path), "--now", "2026-11-27T09:14:00Z")
    assert shown.exit_code == 3
    (row,) = [line for line in shown.output.splitlines() if line.startswith("  report")]
    assert "missed" in row and "2026-11-27T09:10:00Z" in row
    assert "email:billing-oncall@example.com, webhook:ssm:/billing/hook at 2026-11-27T09:13:00Z" in row
    put_run(
        boto3.client("dynamodb", region_name=REGION),
        "report",
        "20261127T092000Z-aaaa0001",
        status="failed",
        scheduled_for=datetime(2026, 11, 27, 9, 20, tzinfo=UTC),
        started_at=datetime(2026, 11, 27, 9, 20, 1, tzinfo=UTC),
    )
    failing = json.loads(jobctl("alerts", "-f", str(path), "-o", "json", "--now", "2026-11-27T09:21:00Z").output)
    assert [(a["kind"], a["by"]) for a in failing["open"]] == [("failed", "wrapper"), ("missed", "watchdog")]


def test_alerts_of_a_job_without_alerts_says_how_to_add_them(project: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = project
    code, out, err = run_main(capsys, "alerts", "quiet", "-f", str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"Error: {path}: job quiet has no alerts: add `alerts: {{notify: [email:")
    code, _, err = run_main(capsys, "alerts", "nope", "-f", str(path))
    assert code == 1 and "no job named 'nope'" in err


def test_alerts_test_without_a_deployed_watchdog_is_one_line(project: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # The test is sent by the namespace's watchdog function (the topic's policy lets only the
    # platform's functions publish): no function, nothing sent with the operator's credentials.
    path, inbox, receiver = project
    code, out, err = run_main(capsys, "alerts", "test", "report", "-f", str(path))
    assert (code, out) == (1, "")
    assert err == (
        "Error: watchdog function acme-jobs--_watchdog does not exist: no job had alerts when the "
        "namespace was last deployed; run `jobctl deploy` (or check --region / --endpoint-url)\n"
    )
    assert inbox.docs() == [] and receiver.received() == []


def test_alerts_test_refuses_a_watchdog_function_of_another_namespace(
    project: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path, inbox, _ = project
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="other", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=names.watchdog_function("acme-jobs"),
        Runtime="python3.12",
        Role=role,
        Handler="x.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Tags={"cronplane:namespace": "someone-else"},
    )
    code, out, err = run_main(capsys, "alerts", "test", "report", "-f", str(path))
    assert (code, out) == (1, "")
    assert "acme-jobs--_watchdog" in err and "refusing to invoke it" in err
    assert inbox.docs() == []


def test_alerts_test_of_a_job_without_alerts_invokes_nothing(project: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = project
    code, _, err = run_main(capsys, "alerts", "test", "quiet", "-f", str(path))
    assert code == 1 and err.startswith(f"Error: {path}: job quiet has no alerts: ")


def test_watch_without_a_deployed_table_is_one_line(
    tmp_path: Path, aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "jobs" / "billing").mkdir(parents=True)
    (tmp_path / "jobs" / "billing" / "report.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    code, out, err = run_main(capsys, "watch", "--once", "-f", str(tmp_path / "jobs.yaml"))
    assert (code, out) == (1, "")
    assert err == (
        "Error: history table acme-jobs-history does not exist: deploy the manifest first (`jobctl deploy`), "
        "or check --region / --endpoint-url\n"
    )
