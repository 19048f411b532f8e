"""The watchdog over many jobs (``ops.watchdog.run_pass`` from ``INDEX_FROM_JOBS`` jobs on), on
moto in-process through the AWS door, which counts every Query: a pass reads the index (pause
markers, the watchdog's items, the runs: 3 Queries while each fits a 1 MB page) and only the
partitions of the jobs it has something new of; it finds exactly what reading every partition
finds; it defers what it has no time for; it puts back the items written before the index."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from cronplane.aws.client import AwsClient
from cronplane.manifest.watch_config import WatchConfig
from cronplane.ops import watchdog
from cronplane.ops.watch_reads import WATCH_INDEX_VALUE, read_job
from cronplane.ops.watchdog import PassReport, WatchClients, run_pass
from cronplane.runtime.schema import AlertRecord, RunRecord, WatchStart, create_table, iso, to_item
from cronplane.schedule.expression import parse_schedule
from support import watch_fleet as fleet
from support.watch_fleet import FAILED, LATE, LOST, MISSED, NOW, RECOVERED, job_name

REGION = "eu-west-1"
TABLE = "acme-jobs-history"
INDEX_QUERIES = 3  # pause markers, the watchdog's items, the runs: each one page here


class Watch:
    """A namespace on moto: its history table, an alert topic, and passes through the door."""

    def __init__(self, aws: AwsClient, table: str = TABLE) -> None:
        self.aws, self.table = aws, table
        self.raw = boto3.client("dynamodb", region_name=REGION)
        create_table(self.raw, table)
        self.sns = boto3.client("sns", region_name=REGION)
        self.topic = self.sns.create_topic(Name=f"{table}-alerts")["TopicArn"]

    def run(self, cfg: WatchConfig, now: Any, **options: Any) -> tuple[PassReport, int]:
        """One pass; its report and the Queries it made."""
        self.aws.reset_counts()
        clients = WatchClients(self.aws.dynamodb, sns=self.sns, topic_arn=self.topic, region=REGION)
        report = run_pass(cfg, clients, now, **options)
        return report, self.aws.operation_counts().get("dynamodb.Query", 0)


@pytest.fixture
def watch(clients: AwsClient) -> Iterator[Watch]:
    yield Watch(clients)


def sent(report: PassReport) -> list[tuple[str, str]]:
    return [(n.job, n.kind) for n in report.sent]


def test_a_pass_over_300_jobs_queries_the_index_and_only_the_jobs_with_news(watch: Watch) -> None:
    jobs = fleet.fleet(300)
    fleet.write(watch.raw, TABLE, fleet.watch_starts(jobs) + fleet.history(jobs))
    cfg = fleet.config(jobs, TABLE)
    report, queries = watch.run(cfg, NOW)
    # Bound: 3 + one per job with something new to record (missed, late, failed, lost, recovered).
    assert queries == INDEX_QUERIES + len(fleet.NEW_AT_NOW)
    assert sent(report) == [
        (job_name(MISSED), "missed"),
        (job_name(LATE), "late"),
        (job_name(RECOVERED), "recovered"),
        (job_name(LOST), "lost"),
    ]
    assert {(a.job, a.kind) for a in report.open} == {
        (job_name(MISSED), "missed"),
        (job_name(MISSED), "late"),  # fire times after its first miss, not yet missed themselves
        (job_name(LATE), "late"),
        (job_name(FAILED), "failed"),
        (job_name(LOST), "lost"),
    }
    # A minute later nothing is new: only the job whose open episode has fire times no record
    # names (a pause, in its partition only, could explain them) is read.
    report, queries = watch.run(cfg, NOW + timedelta(seconds=60))
    assert (queries, report.sent, report.errors) == (INDEX_QUERIES + 1, (), ())


def test_the_index_finds_what_reading_every_partition_finds(
    clients: AwsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = fleet.fleet(60)  # every kind of schedule and trouble, and a long lookback (job 49)
    by_index, by_partition = Watch(clients, "index-history"), Watch(clients, "partition-history")
    for side in (by_index, by_partition):
        fleet.write(side.raw, side.table, fleet.watch_starts(jobs) + fleet.history(jobs))
    moments = [NOW, NOW + timedelta(seconds=60), NOW + timedelta(minutes=31), NOW + timedelta(hours=2)]
    queries: list[int] = []
    for now in moments:
        if now == moments[2]:  # the missed job runs again: its episode recovers
            for side in (by_index, by_partition):
                side.raw.put_item(
                    TableName=side.table, Item=fleet.run_item(job_name(MISSED), NOW + timedelta(minutes=20, seconds=30))
                )
        monkeypatch.setattr(watchdog, "INDEX_FROM_JOBS", 16)
        seen, index_queries = by_index.run(fleet.config(jobs, by_index.table), now)
        monkeypatch.setattr(watchdog, "INDEX_FROM_JOBS", 10**6)
        truth, partition_queries = by_partition.run(fleet.config(jobs, by_partition.table), now)
        assert seen.as_dict() == truth.as_dict()
        assert partition_queries == 1 + len(jobs)
        queries.append(index_queries)
    assert queries[:2] == [INDEX_QUERIES + len(fleet.NEW_AT_NOW), INDEX_QUERIES + 1]
    # Two hours on no job has run since NOW: an outage of every job that fired since, each read
    # to record its misses; never more than reading every partition, and the index.
    assert len(jobs) // 2 < queries[3] <= INDEX_QUERIES + len(jobs)
    for job in jobs:  # and both recorded the same
        index_items = read_job(by_index.raw, by_index.table, job.name, NOW - timedelta(days=2))
        partition_items = read_job(by_partition.raw, by_partition.table, job.name, NOW - timedelta(days=2))
        assert index_items == partition_items


def test_a_pass_out_of_time_defers_the_rest_and_the_next_one_sends_it(watch: Watch) -> None:
    jobs = fleet.fleet(40)
    fleet.write(watch.raw, TABLE, fleet.watch_starts(jobs) + fleet.history(jobs))
    cfg = fleet.config(jobs, TABLE)
    report, queries = watch.run(cfg, NOW, deadline=time.monotonic() - 1)
    assert (queries, report.sent) == (INDEX_QUERIES, ())
    assert report.deferred == tuple(job_name(i) for i in sorted(fleet.NEW_AT_NOW))
    # What the index saw is still reported, as not sent yet.
    assert [(a.job, a.kind, a.pending) for a in report.open if a.job == job_name(LATE)] == [
        (job_name(LATE), "late", True)
    ]
    report, _ = watch.run(cfg, NOW + timedelta(seconds=5))
    assert len(report.sent) == 4 and report.deferred == ()


def test_the_first_pass_sees_every_job_once(watch: Watch) -> None:
    jobs = fleet.fleet(30)
    cfg = fleet.config(jobs, TABLE)
    report, queries = watch.run(cfg, fleet.WATCHED_SINCE)
    assert queries == INDEX_QUERIES + len(jobs) and report.open == ()
    report, queries = watch.run(cfg, fleet.WATCHED_SINCE + timedelta(seconds=60))
    assert (queries, report.sent) == (INDEX_QUERIES, ())


def test_items_written_before_the_index_are_put_back_with_it(watch: Watch) -> None:
    jobs = fleet.fleet(20)
    old = jobs[MISSED]
    # Stored as the watchdog stored them before the index: no index attribute.
    legacy = [
        to_item(WatchStart(old.name, iso(fleet.WATCHED_SINCE), old.fingerprint)),
        to_item(
            AlertRecord.new(
                old.name,
                "missed",
                "2026-11-27T11:21:00Z",
                moment=NOW - timedelta(minutes=39, seconds=30),
                now=NOW - timedelta(minutes=5),
                retention_days=30,
                routes=("email:oncall@example.com",),
                told=True,
            )
        ),
    ]
    others = [item for item in fleet.watch_starts(jobs) if item["job"]["S"] != old.name]
    fleet.write(watch.raw, TABLE, legacy + others + fleet.history(jobs))
    cfg = fleet.config(jobs, TABLE)
    report, queries = watch.run(cfg, NOW)
    assert queries == INDEX_QUERIES + len(fleet.NEW_AT_NOW)  # the old job among them: its watch start
    # The old record counts: nothing sent again for 11:21.
    assert job_name(MISSED) not in {n.job for n in report.sent}
    stored = watch.raw.query(
        TableName=TABLE,
        KeyConditionExpression="job = :j AND begins_with(run_id, :a)",
        ExpressionAttributeValues={":j": {"S": old.name}, ":a": {"S": "~alert#"}},
    )["Items"]
    assert {item["run_id"]["S"]: item.get("gsi_pk", {}).get("S") for item in stored} == {
        "~alert#missed#2026-11-27T11:21:00Z": WATCH_INDEX_VALUE,
        "~alert#watch": WATCH_INDEX_VALUE,
    }
    assert read_job(watch.raw, TABLE, old.name, NOW).watch == WatchStart(
        old.name, iso(fleet.WATCHED_SINCE), old.fingerprint
    )
    # From now on the index shows its open episode: it recovers without its partition being
    # read for anything but the news.
    watch.raw.put_item(TableName=TABLE, Item=fleet.run_item(old.name, NOW + timedelta(seconds=30)))
    report, _ = watch.run(cfg, NOW + timedelta(minutes=2))
    assert sent(report) == [(old.name, "recovered")]


def test_a_job_whose_lookback_the_pages_do_not_reach_is_read_from_its_partition(watch: Watch) -> None:
    jobs = fleet.fleet(20)  # short lookbacks (1.5 h), and one of 13 h whose one fire time never ran:
    fire = NOW - timedelta(hours=7, minutes=30, seconds=30)
    daily = parse_schedule(f"cron({fire.minute} {fire.hour} * * ? *)")
    slow = replace(jobs[19], name="slow-job", schedule=daily, missed_after_s=12 * 3600)
    # 3 MB of another job's runs between the two lookbacks: pages the short ones do not need.
    bulky = [
        to_item(
            RunRecord(
                "bulky",
                f"{(NOW - timedelta(hours=h)).strftime('%Y%m%dT%H%M%SZ')}-aaaa000{h}",
                "succeeded",
                "manual",
                started_at=iso(NOW - timedelta(hours=h)),
                result="x" * 350_000,
            )
        )
        for h in range(2, 11)
    ]
    cfg = fleet.config([*jobs, slow], TABLE)
    fleet.write(
        watch.raw, TABLE, fleet.watch_starts([*jobs, slow], NOW - timedelta(hours=13)) + fleet.history(jobs) + bulky
    )
    report, queries = watch.run(cfg, NOW)
    # Markers, watch items, one page of runs (it reaches every short lookback, not the slow
    # job's), the slow job's partition, and the jobs with news.
    assert queries == INDEX_QUERIES + 1 + len(fleet.NEW_AT_NOW)
    assert ("slow-job", "late") in sent(report)  # 7.5 h after its fire time; missed after 12 h


def test_a_pass_that_may_not_read_the_index_reads_every_partition(watch: Watch) -> None:
    """A role from before the index (the function updated first) or a `jobctl alerts` user
    without index rights: the pass says so once and reads each job's partition, as before."""
    jobs = fleet.fleet(20)
    fleet.write(watch.raw, TABLE, fleet.watch_starts(jobs) + fleet.history(jobs))

    def deny_the_index(params: dict[str, Any], **_: Any) -> Any:
        if b'"IndexName"' in params["body"]:
            error = {"Code": "AccessDeniedException", "Message": "not authorized to perform: dynamodb:Query"}
            return AWSResponse(params["url"], 400, {}, None), {
                "Error": error,
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return None

    watch.aws.boto3_client("dynamodb").meta.events.register("before-call.dynamodb.Query", deny_the_index)
    logged: list[str] = []
    watch.aws.reset_counts()
    clients = WatchClients(watch.aws.dynamodb, sns=watch.sns, topic_arn=watch.topic, region=REGION, log=logged.append)
    report = run_pass(fleet.config(jobs, TABLE), clients, NOW)
    assert watch.aws.operation_counts()["dynamodb.Query"] == 1 + 1 + len(jobs)  # markers, the refused one, each job
    assert len(report.sent) == 4 and report.errors == ()
    (line,) = logged
    assert line.startswith("watchdog: the index could not be read, reading each job's partition: ")
