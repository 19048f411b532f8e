"""Helpers for the watchdog tests: watched jobs built directly (no manifest), and a namespace on
moto in-process with its history table and an alert topic that an SQS queue subscribes to, so a
test reads exactly the notifications a pass published."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from cronplane.manifest.watch_config import WatchConfig, WatchedJob
from cronplane.ops import watchdog
from cronplane.ops.watchdog import Notice, PassReport, WatchClients, run_pass
from cronplane.runtime.alerts import parse_routes
from cronplane.runtime.schema import create_table
from cronplane.schedule.expression import parse_schedule

NAMESPACE = "acme-jobs"
TABLE = f"{NAMESPACE}-history"
REGION = "eu-west-1"
EMAIL = "email:billing-oncall@example.com"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def watched(
    name: str = "report",
    schedule: str = "cron(0 * * * ? *)",
    *,
    routes: tuple[str, ...] = (EMAIL,),
    on: tuple[str, ...] = ("failed", "timed_out", "lost", "missed", "late"),
    late_after_s: int = 300,
    missed_after_s: int = 1800,
    enabled: bool = True,
) -> WatchedJob:
    return WatchedJob(
        name=name,
        team="billing",
        owner="billing-oncall@example.com",
        schedule=parse_schedule(schedule, now=utc("2026-01-01T00:00:00Z")),
        enabled=enabled,
        routes=parse_routes(list(routes)),
        on=frozenset(on),
        late_after_s=late_after_s,
        missed_after_s=missed_after_s,
        function=f"{NAMESPACE}--{name}",
    )


def config(*jobs: WatchedJob) -> WatchConfig:
    # Through the JSON the zip carries: what the Lambda reads is what these tests check.
    data = json.loads(json.dumps(WatchConfig(NAMESPACE, TABLE, 30, jobs).to_dict()))
    return WatchConfig.from_dict(data)


@dataclass
class Namespace:
    dynamodb: Any
    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str
    secrets: dict[str, str] = field(default_factory=dict)
    sent: list[Notice] = field(default_factory=list)

    @property
    def clients(self) -> WatchClients:
        return WatchClients(
            dynamodb=self.dynamodb,
            sns=self.sns,
            read_secret=self.secrets.__getitem__,
            topic_arn=self.topic_arn,
            region=REGION,
            on_notice=self.sent.append,
        )

    def watch(self, cfg: WatchConfig, now: datetime, *, act: bool = True) -> PassReport:
        return run_pass(cfg, self.clients, now, act=act)

    def published(self) -> list[dict[str, Any]]:
        """The alert documents the topic delivered since the last call (oldest first)."""
        docs = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return docs
            for message in messages:
                envelope = json.loads(message["Body"])
                docs.append(json.loads(envelope["Message"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def put(self, item: dict[str, Any]) -> None:
        self.dynamodb.put_item(TableName=TABLE, Item=item)


@pytest.fixture(params=["partitions", "index"])
def both_readings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A test module that uses this (``pytestmark = pytest.mark.usefixtures("both_readings")``)
    runs each test twice: the passes reading each job's partition, and reading the index first
    (which a pass does from ``INDEX_FROM_JOBS`` watched jobs on). Both must say the same."""
    monkeypatch.setattr(watchdog, "INDEX_FROM_JOBS", 1 if request.param == "index" else 10**6)
    return str(request.param)


@pytest.fixture
def namespace(aws: None) -> Iterator[Namespace]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb, TABLE)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name=f"{NAMESPACE}-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    yield Namespace(dynamodb, sns, sqs, topic_arn, queue_url)
