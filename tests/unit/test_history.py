"""The read side of the history table: one Query per question, never a Scan; lost detection;
summaries. Records are written here in the runtime's shape with put_item."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from cronplane.aws.client import AwsClient
from cronplane.aws.session import AwsConfig
from cronplane.errors import AwsError
from cronplane.runs.history import (
    HistoryQueryError,
    HistoryReader,
    decode_token,
    effective_status,
    parse_since,
    percentile,
    present,
    summarize,
)
from cronplane.runtime.schema import PauseEvent, RunRecord, table_definition, time_key

TABLE = "acme-jobs-history"
NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_record(
    job: str, at: datetime, status: str = "succeeded", suffix: str = "abcd1234", **extra: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "job": job,
        "run_id": f"{time_key(at)}-{suffix}",
        "kind": "run",
        "gsi_pk": "run",
        "trigger": "schedule",
        "scheduled_for": iso(at),
        "started_at": iso(at),
        "status": status,
        "attempts": [{"attempt": 1, "started_at": iso(at), "duration_ms": 1200}],
        "deadline": iso(at + timedelta(seconds=60)),
        "request_id": "req",
        "ttl": 1900000000,
    }
    if status != "running":
        record.update(finished_at=iso(at + timedelta(seconds=1)), duration_ms=1200)
    record.update(extra)
    return {k: v for k, v in record.items() if v is not None}


def put(client: Any, *records: dict[str, Any]) -> None:
    serializer = TypeSerializer()
    for record in records:
        client.put_item(TableName=TABLE, Item={k: serializer.serialize(v) for k, v in record.items()})


class CallLog:
    """Every DynamoDB operation a client sends (``before-call``) with its API parameters
    (``before-parameter-build``), through botocore's event hooks."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._params: list[dict[str, Any]] = []
        client.meta.events.register("before-parameter-build.dynamodb.*", self._keep_params)
        client.meta.events.register("before-call.dynamodb.*", self._record)

    def _keep_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._params.append(dict(params))

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append((model.name, self._params[-1]))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def door() -> AwsClient:
    config = AwsConfig(region="eu-west-1")
    return AwsClient(config, session=config.session())


@pytest.fixture
def ddb(aws: None) -> Iterator[Any]:
    """DynamoDB through the AWS door, as the commands read it (a session made inside mock_aws)."""
    client = door().dynamodb
    client.create_table(**table_definition(TABLE))  # moto: ACTIVE at once, no waiter
    yield client


def test_one_job_is_one_query_newest_first_with_events_and_no_lock(ddb: Any) -> None:
    put(ddb, *(run_record("nightly", NOW - timedelta(hours=h), suffix=f"r{h}") for h in range(5)))
    put(ddb, run_record("other", NOW))
    put(
        ddb,
        {
            "job": "nightly",
            "run_id": f"{time_key(NOW - timedelta(minutes=30))}-event-1",
            "kind": "event",
            "action": "pause",
            "actor": "arn:aws:iam::123:user/ana",
            "at": iso(NOW - timedelta(minutes=30)),
        },
    )
    put(ddb, {"job": "nightly", "run_id": "~lock", "holder": "x", "expires_at": 1})
    log = CallLog(ddb)
    page = HistoryReader(ddb, TABLE).job_page("nightly")
    assert log.names() == ["Query"]
    assert log.calls[0][1]["ScanIndexForward"] is False and "IndexName" not in log.calls[0][1]
    assert [r.run_id[-2:] for r in page.runs] == ["r0", "r1", "r2", "r3", "r4"]
    assert [e.action for e in page.events] == ["pause"]
    assert all(item.run_id != "~lock" for item in page.items)
    assert page.next_token is None


def test_all_jobs_is_one_query_on_the_index(ddb: Any) -> None:
    put(
        ddb,
        run_record("a", NOW - timedelta(minutes=2)),
        run_record("b", NOW - timedelta(minutes=1)),
        run_record("c", NOW - timedelta(minutes=3)),
    )
    put(ddb, {"job": "a", "run_id": f"{time_key(NOW)}-event-1", "kind": "event", "action": "resume"})
    log = CallLog(ddb)
    page = HistoryReader(ddb, TABLE).all_page()
    assert log.names() == ["Query"] and log.calls[0][1]["IndexName"] == "by-time"
    assert [r.job for r in page.items] == ["b", "a", "c"]  # events have no gsi_pk: not in the index


def test_since_until_are_key_conditions_not_filters(ddb: Any) -> None:
    put(ddb, *(run_record("nightly", NOW - timedelta(days=d), suffix=f"d{d}") for d in range(10)))
    log = CallLog(ddb)
    reader = HistoryReader(ddb, TABLE)
    runs = reader.job_page("nightly", since=NOW - timedelta(days=3, minutes=1)).runs
    assert [r.run_id[-2:] for r in runs] == ["d0", "d1", "d2", "d3"]
    window = reader.job_page("nightly", since=NOW - timedelta(days=6), until=NOW - timedelta(days=4)).runs
    assert [r.run_id[-2:] for r in window] == ["d4", "d5", "d6"]
    for _, params in log.calls:
        assert "BETWEEN" in params["KeyConditionExpression"] and "FilterExpression" not in params
    assert log.names() == ["Query", "Query"]


def test_status_filter_and_lost_is_derived_from_running(ddb: Any) -> None:
    now = datetime.now(UTC)
    put(
        ddb,
        run_record("nightly", now - timedelta(hours=3), status="running", suffix="dead"),  # deadline long gone
        run_record("nightly", now - timedelta(seconds=5), status="running", suffix="live"),
        run_record("nightly", now - timedelta(hours=1), status="failed", suffix="fail", error="boom"),
        run_record("nightly", now - timedelta(hours=2), suffix="good"),
    )
    reader = HistoryReader(ddb, TABLE)
    log = CallLog(ddb)
    assert [r.run_id[-4:] for r in reader.job_page("nightly", status="failed").runs] == ["fail"]
    assert [r.run_id[-4:] for r in reader.job_page("nightly", status="lost").runs] == ["dead"]
    assert [r.run_id[-4:] for r in reader.job_page("nightly", status="running").runs] == ["live"]
    assert log.names() == ["Query"] * 3
    assert log.calls[1][1]["ExpressionAttributeValues"][":status"] == {"S": "running"}


def test_limit_is_one_query_and_the_token_continues(ddb: Any) -> None:
    put(ddb, *(run_record("nightly", NOW - timedelta(minutes=m), suffix=f"m{m}") for m in range(5)))
    reader = HistoryReader(ddb, TABLE)
    log = CallLog(ddb)
    first = reader.job_page("nightly", limit=2)
    assert [r.run_id[-2:] for r in first.runs] == ["m0", "m1"] and first.next_token
    second = reader.job_page("nightly", limit=2, next_token=first.next_token)
    assert [r.run_id[-2:] for r in second.runs] == ["m2", "m3"]
    assert log.names() == ["Query", "Query"] and log.calls[0][1]["Limit"] == 2
    # query_job follows pages until it has `limit` runs
    assert [r.run_id[-2:] for r in reader.query_job("nightly", limit=4)] == ["m0", "m1", "m2", "m3"]
    assert len(reader.query_all()) == 5
    with pytest.raises(HistoryQueryError):
        decode_token("not a token!")


def test_get_run_with_and_without_the_job(ddb: Any) -> None:
    record = run_record(
        "nightly",
        NOW,
        status="failed",
        error="ValueError: bad",
        attempts=[
            {"attempt": 1, "error_type": "ValueError", "error_message": "bad"},
            {"attempt": 2, "error_type": "ValueError", "error_message": "bad again"},
        ],
    )
    put(ddb, record)
    reader = HistoryReader(ddb, TABLE)
    log = CallLog(ddb)
    by_key = reader.get_run(record["run_id"], job="nightly")
    by_index = reader.get_run(record["run_id"])
    assert log.names() == ["GetItem", "Query"]
    assert by_key == by_index and by_key is not None
    assert [a.error_message for a in by_key.attempts] == ["bad", "bad again"]
    assert reader.get_run("20200101T000000Z-nope") is None


def test_missing_table_is_a_clear_error(aws: None) -> None:
    with pytest.raises(AwsError, match="history table nope-history does not exist"):
        HistoryReader(door().dynamodb, "nope-history").job_page("x")


def test_effective_status_lost_after_deadline_plus_grace() -> None:
    record = RunRecord.from_dict(run_record("j", NOW, status="running"))  # deadline NOW + 60 s
    assert effective_status(record, NOW + timedelta(seconds=90)) == "running"  # within the grace
    assert effective_status(record, NOW + timedelta(minutes=5)) == "lost"
    retrying = record._replace(status="retrying")
    assert effective_status(retrying, NOW + timedelta(minutes=5)) == "lost"
    no_deadline = record._replace(deadline=None)
    assert effective_status(no_deadline, NOW + timedelta(minutes=10)) == "running"  # could still be in its 15 min
    assert effective_status(no_deadline, NOW + timedelta(minutes=20)) == "lost"
    assert effective_status(record._replace(status="failed"), NOW + timedelta(days=1)) == "failed"
    shown = present(record, NOW + timedelta(hours=1))
    assert shown["status"] == "lost" and shown["stored_status"] == "running"


def test_present_decodes_result_and_fills_every_field() -> None:
    shown = present(RunRecord.from_dict(run_record("j", NOW, result=json.dumps({"synced": 25}))), NOW)
    assert shown["result"] == {"synced": 25}
    assert shown["triggered_by"] is None and shown["error"] is None
    trimmed = present(RunRecord.from_dict(run_record("j", NOW, result='{"rows": [1, 2, 3 ...')), NOW)
    assert trimmed["result"] == '{"rows": [1, 2, 3 ...'


def test_summarize_per_job() -> None:
    records: list[RunRecord | PauseEvent] = [
        RunRecord.from_dict(
            run_record("a", NOW - timedelta(minutes=m), duration_ms=d, finished_at=iso(NOW - timedelta(minutes=m)))
        )
        for m, d in enumerate([100, 200, 300, 400])
    ]
    records += [
        RunRecord.from_dict(r)
        for r in (
            run_record("a", NOW - timedelta(hours=1), status="failed", duration_ms=5000),
            run_record("a", NOW - timedelta(hours=2), status="skipped", duration_ms=None),
            run_record("a", NOW - timedelta(hours=3), status="duplicate", duration_ms=None),
            run_record("a", NOW - timedelta(days=1), status="running"),  # lost by NOW
            run_record("b", NOW, status="failed", duration_ms=10),
        )
    ]
    records.append(PauseEvent("a", "x", "pause"))
    a, b = summarize(records, NOW)
    assert (a.job, a.runs, a.succeeded, a.outcomes) == ("a", 7, 4, 6)
    assert a.success_rate == pytest.approx(4 / 6)
    assert (a.p50_ms, a.p95_ms) == (300, 5000)
    assert a.last_success == iso(NOW)
    assert (b.runs, b.succeeded, b.success_rate, b.last_success) == (1, 0, 0.0, None)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    assert percentile(list(range(1, 101)), 95) == 95 and percentile(list(range(1, 101)), 50) == 50


def test_parse_since() -> None:
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_since("30m", NOW) == NOW - timedelta(minutes=30)
    assert parse_since("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T09:30:00Z", NOW) == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    with pytest.raises(HistoryQueryError, match="7d, 24h"):
        parse_since("last tuesday", NOW)


def test_parse_since_further_back_than_datetime_reaches_means_everything() -> None:
    # Used to escape as OverflowError ("Python int too large to convert to C int").
    assert parse_since("99999999999d", NOW) == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_since("9999999w", NOW) == datetime(1970, 1, 1, tzinfo=UTC)
