"""The watchdog attacked: through what a job's own role may write into its partition of the
history table (records dated in the future to silence it), and through what it handles (a
webhook's URL is a secret: it never reaches a record, a notice, the log or the CLI)."""

from __future__ import annotations

import json

import pytest
from watch_fixtures import TABLE, Namespace, config, utc, watched

from cronplane.ops.watch_reads import read_job
from cronplane.ops.watchdog import NOTICE_LOG_KEY
from cronplane.runtime.schema import AlertRecord, WatchStart, to_item

EVERY_10_MIN = "cron(0/10 * * * ? *)"
# Each test twice: reading every partition, and reading the index first.
pytestmark = pytest.mark.usefixtures("both_readings")
START = utc("2026-11-27T09:00:30Z")


def kinds(docs: list[dict]) -> list[tuple[str, str, list[str]]]:
    return [(d["job"], d["kind"], d["fire_times"]) for d in docs]


def test_attack_a_job_cannot_silence_its_alerts_with_records_dated_in_the_future(namespace: Namespace) -> None:
    """The job's role may write anything in its own partition; a watch start or a `recovered`
    dated after now would, if believed, hide its misses until then."""
    cfg = config(watched(schedule=EVERY_10_MIN, late_after_s=60, missed_after_s=120))
    namespace.watch(cfg, START)
    far = utc("2099-01-01T00:00:00Z")
    forged = AlertRecord.new("report", "recovered", "20990101T000000Z-aaaa0001", moment=far, now=far, retention_days=30)
    namespace.put(to_item(forged))
    namespace.watch(cfg, utc("2026-11-27T09:13:00Z"))
    assert kinds(namespace.published()) == [("report", "missed", ["2026-11-27T09:10:00Z"])]
    namespace.put(to_item(WatchStart("report", "2099-01-01T00:00:00Z", "cron(0/10 * * * ? *) UTC")))
    report = namespace.watch(cfg, utc("2026-11-27T09:14:00Z"))
    assert report.sent == ()  # a forged watch start is replaced by an honest one: watched from now
    items = read_job(namespace.dynamodb, TABLE, "report", START)
    assert items.watch is not None and items.watch.since == "2026-11-27T09:14:00Z"


def test_attack_the_webhook_url_is_never_written_logged_or_returned(namespace: Namespace) -> None:
    secret_url = "http://127.0.0.1:9/hooks/T000/B000/XXXXsecretXXXX"  # refused or unreachable: either way
    cfg = config(
        watched(schedule=EVERY_10_MIN, routes=("webhook:ssm:/billing/hook",), missed_after_s=120, late_after_s=60)
    )
    namespace.secrets["ssm:/billing/hook"] = secret_url
    namespace.watch(cfg, START)
    report = namespace.watch(cfg, utc("2026-11-27T09:13:00Z"))
    (notice,) = report.sent
    logged = json.dumps({NOTICE_LOG_KEY: notice.as_dict()})
    stored = namespace.dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="job = :j",
        ExpressionAttributeValues={":j": {"S": "report"}},
    )["Items"]
    for text in (logged, json.dumps(report.as_dict()), json.dumps(stored)):
        assert "XXXXsecretXXXX" not in text and "127.0.0.1:9" not in text
    assert notice.failed and notice.failed[0].startswith("webhook:ssm:/billing/hook: webhook not reached")
