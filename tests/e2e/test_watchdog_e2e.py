"""The watchdog end to end, against a moto server on 127.0.0.1: ``jobctl deploy`` adds the
namespace's watchdog (function, role, log group, rule every minute) and a redeploy writes
nothing; ``jobctl watch --once`` (the deployed function's own check) puts exactly one ``missed``
notification for two missed fire times into an SQS queue subscribed to the alert topic, and a
second pass adds nothing; a webhook receiver on 127.0.0.1 gets Slack-compatible JSON; a success
after a failure sends one ``recovered``; fire times before the first pass and a paused job's
are never reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.deployer import Deployer
from cronplane.aws.session import AwsConfig
from cronplane.manifest import names
from cronplane.manifest.loader import load_manifest
from cronplane.runtime.schema import RunRecord, iso, to_item
from support.motoserver import running_moto_server
from support.webhook_receiver import Receiver, webhook_receiver

pytestmark = pytest.mark.e2e
REGION = "eu-west-1"
NAMESPACE = "e2e-watch"
MANIFEST = f"""\
namespace: {NAMESPACE}
region: {REGION}
defaults:
  alerts:
    notify: [email:billing-oncall@example.com, "webhook:ssm:/billing/hook"]
    late_after: 1m
    missed_after: 2m
jobs:
  report:
    handler: billing/report.py:handler
    schedule: cron(0/10 * * * ? *)
    team: billing
    owner: billing-oncall@example.com
  paused-report:
    handler: billing/report.py:handler
    schedule: cron(0/10 * * * ? *)
    team: billing
  unwatched:
    handler: billing/report.py:handler
    schedule: cron(0/10 * * * ? *)
    team: billing
    alerts:
      on: []
"""


@dataclass
class Namespace:
    url: str
    root: Path
    queue_url: str
    receiver: Receiver

    @property
    def endpoint(self) -> list[str]:
        return ["--endpoint-url", self.url]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def jobctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        # Module-wide: set up before the per-test fake credentials of tests/conftest.py.
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "AWS_PROFILE")}
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_CONFIG_FILE=os.devnull)
        return subprocess.run(
            [sys.executable, "-m", "cronplane.cli.main", *args, "-f", str(self.root / "jobs.yaml"), *self.endpoint],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def watch(self, now: datetime) -> subprocess.CompletedProcess[str]:
        return self.jobctl("watch", "--once", "--now", iso(now))

    def notifications(self) -> list[dict[str, Any]]:
        """What the alert topic delivered since the last call (an SQS queue subscribed to it)."""
        sqs = self.client("sqs")
        docs = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return docs
            for message in got:
                docs.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def put_run(self, run: RunRecord) -> None:
        self.client("dynamodb").put_item(TableName=names.history_table(NAMESPACE), Item=to_item(run))


@pytest.fixture(scope="module")
def namespace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Namespace]:
    root = tmp_path_factory.mktemp("watchdog")
    (root / "jobs" / "billing").mkdir(parents=True)
    (root / "jobs" / "billing" / "report.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "jobs.yaml").write_text(MANIFEST)
    with running_moto_server() as url, webhook_receiver() as receiver:
        deployed = Namespace(url, root, "", receiver)
        done = deployed.jobctl("deploy", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        sqs, sns = deployed.client("sqs"), deployed.client("sns")
        deployed.queue_url = sqs.create_queue(QueueName="oncall-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=deployed.queue_url, AttributeNames=["QueueArn"])
        topic = f"arn:aws:sns:{REGION}:123456789012:{names.alert_topic(NAMESPACE)}"
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
        deployed.client("ssm").put_parameter(Name="/billing/hook", Value=receiver.url, Type="SecureString")
        yield deployed


def fire_base() -> datetime:
    """An hour ahead of now, on a 10-minute fire time: `jobctl pause` records the real time,
    and the watch passes pretend (--now) to be later than it."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now + timedelta(hours=1, minutes=10 - now.minute % 10)


def run(job: str, fire: datetime, status: str, started: datetime) -> RunRecord:
    return RunRecord(
        job=job,
        run_id=f"{fire:%Y%m%dT%H%M%SZ}-{abs(hash((job, fire, status))) % 16**8:08x}",
        status=status,
        trigger="schedule",
        namespace=NAMESPACE,
        scheduled_for=iso(fire),
        started_at=iso(started),
        finished_at=iso(started + timedelta(seconds=3)),
        error="ValueError: boom" if status == "failed" else None,
    )


def test_deploy_adds_the_watchdog_and_a_redeploy_writes_nothing(namespace: Namespace) -> None:
    function = names.watchdog_function(NAMESPACE)
    config = namespace.client("lambda").get_function(FunctionName=function)["Configuration"]
    assert config["Handler"] == "cronplane.watchdog.entry.handler"
    assert config["Environment"]["Variables"]["CRONPLANE_ALERT_TOPIC"].endswith(f":{names.alert_topic(NAMESPACE)}")
    events = namespace.client("events")
    rule = events.describe_rule(Name=names.rule_name(NAMESPACE, names.WATCHDOG))
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(1 minute)", "ENABLED")
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == config["FunctionArn"]
    role = namespace.client("iam").get_role(RoleName=names.role_name(NAMESPACE, names.WATCHDOG))["Role"]
    assert role["Path"] == names.role_path(NAMESPACE) and config["Role"] == role["Arn"]
    client = AwsClient(AwsConfig(region=REGION, endpoint_url=namespace.url))  # with the per-test credentials
    result = Deployer(client).deploy(load_manifest(namespace.root / "jobs.yaml"))
    assert result.applied is None and not result.plan.has_changes
    assert client.write_calls() == []


def test_two_missed_fire_times_make_one_notification_and_the_next_pass_none(namespace: Namespace) -> None:
    base = fire_base()
    paused = namespace.jobctl("pause", "paused-report")
    assert paused.returncode == 0, paused.stderr
    first = namespace.watch(base - timedelta(minutes=15, seconds=30))  # fire times before this: never reported
    assert first.returncode == 0, first.stdout + first.stderr
    assert namespace.notifications() == []
    second = namespace.watch(base + timedelta(minutes=3))  # base - 10 min and base: no run, 2+ minutes on
    assert second.returncode == 3, second.stdout + second.stderr
    docs = namespace.notifications()
    assert [(d["job"], d["kind"], d["fire_times"]) for d in docs] == [
        ("report", "missed", [iso(base - timedelta(minutes=10)), iso(base)])
    ]
    (slack,) = namespace.receiver.wait_for(1)
    assert isinstance(slack["text"], str) and "report" in slack["text"] and "MISSED" in slack["text"]
    assert slack["blocks"][0]["type"] == "header"
    third = namespace.watch(base + timedelta(minutes=4))
    assert third.returncode == 3  # still open: nothing has run
    assert namespace.notifications() == [] and len(namespace.receiver.received()) == 1
    shown = namespace.jobctl("alerts", "-o", "json", "--now", iso(base + timedelta(minutes=4)))
    assert shown.returncode == 3
    assert [(a["job"], a["kind"]) for a in json.loads(shown.stdout)["open"]] == [("report", "missed")]

    # A failure (its wrapper told the on-call), then a success: one "recovered", once.
    failed_at = base + timedelta(minutes=10)
    namespace.put_run(run("report", failed_at, "failed", failed_at + timedelta(seconds=1)))
    assert namespace.watch(failed_at + timedelta(minutes=1)).returncode == 3
    assert namespace.notifications() == []
    fixed_at = base + timedelta(minutes=20)
    namespace.put_run(run("report", fixed_at, "succeeded", fixed_at + timedelta(seconds=1)))
    after = namespace.watch(fixed_at + timedelta(minutes=1))
    assert after.returncode == 0, after.stdout
    assert [(d["job"], d["kind"]) for d in namespace.notifications()] == [("report", "recovered")]
    assert namespace.watch(fixed_at + timedelta(minutes=2)).returncode == 0
    assert namespace.notifications() == []
