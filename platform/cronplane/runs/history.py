"""The read side of the run-history table: what ``jobctl history``, ``run-now --wait`` and the
ops commands' audit read. The runtime writes the records (``cronplane.runtime``); this module
only reads them, and adds what a stored record cannot say by itself: a ``running`` record
whose deadline has passed is ``lost``.

Every read is one DynamoDB call: one job's runs are a Query on its partition, all jobs' runs a
Query on the ``by-time`` index, one run a GetItem (or a Query on the index when the job is not
known). Never a Scan. Key layout and records: ``cronplane.runtime.schema``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cronplane.aws.client import AwsCallError
from cronplane.errors import AwsError, CronplaneError
from cronplane.runs.status import LOST_GRACE as LOST_GRACE  # handed on: read as history.LOST_GRACE
from cronplane.runs.status import effective_status as effective_status
from cronplane.runtime.schema import (
    GSI_PK_VALUE,
    INDEX_NAME,
    RANGE_END,
    TIMED_ITEMS_END,
    PauseEvent,
    RunRecord,
    RunStatus,
    from_item,
    item_key,
    time_key,
)
from cronplane.schedule.moments import parse_age_or_time

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Outcomes that count for the success rate (skipped / duplicate are the platform doing its job).
OUTCOMES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT)


class HistoryQueryError(CronplaneError):
    """A history query the user asked for cannot be run as given (bad --since, bad token)."""


@dataclass(frozen=True)
class HistoryPage:
    """One Query's worth of items, newest first, and the token that continues after them."""

    items: tuple[RunRecord | PauseEvent, ...]
    next_token: str | None

    @property
    def runs(self) -> list[RunRecord]:
        return [item for item in self.items if isinstance(item, RunRecord)]

    @property
    def events(self) -> list[PauseEvent]:
        return [item for item in self.items if isinstance(item, PauseEvent)]


@dataclass(frozen=True)
class JobSummary:
    job: str
    runs: int  # run records, duplicates left out (a duplicate delivery is not a run)
    succeeded: int
    outcomes: int  # succeeded + failed + timed_out + lost: the success rate's denominator
    p50_ms: int | None
    p95_ms: int | None
    last_success: str | None  # finished_at (or started_at) of the newest succeeded run

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.outcomes if self.outcomes else None


class HistoryReader:
    """Reads the history table through the AWS door's DynamoDB (``AwsClient.dynamodb``)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    # -- one page: exactly one Query ------------------------------------------------------
    def job_page(
        self,
        job: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        status: str | None = None,
        next_token: str | None = None,
    ) -> HistoryPage:
        """One Query on the job's partition, newest first: its runs and its events."""
        key, values = _key_condition("job = :pk", job, since, until)
        return self._query(key, values, limit, status, next_token, index=None)

    def all_page(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        status: str | None = None,
        next_token: str | None = None,
    ) -> HistoryPage:
        """One Query on the sparse ``by-time`` index: every job's runs, newest first."""
        key, values = _key_condition("gsi_pk = :pk", GSI_PK_VALUE, since, until)
        return self._query(key, values, limit, status, next_token, index=INDEX_NAME)

    # -- whole windows: as many Queries as pages ------------------------------------------
    def query_job(
        self,
        job: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        status: str | None = None,
    ) -> list[RunRecord]:
        """The job's runs (not its events), newest first, following pages up to ``limit``."""
        return self._collect(lambda token, left: self.job_page(job, since, until, left, status, token), limit)

    def query_all(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        status: str | None = None,
    ) -> list[RunRecord]:
        return self._collect(lambda token, left: self.all_page(since, until, left, status, token), limit)

    def get_run(self, run_id: str, job: str | None = None) -> RunRecord | None:
        """One run: a consistent GetItem when the job is known, else a Query on the index."""
        try:
            if job is not None:
                found = self.dynamodb.get_item(
                    TableName=self.table,
                    Key=item_key(job, run_id),
                    ConsistentRead=True,
                )
                return RunRecord.from_item(found["Item"]) if "Item" in found else None
            page = self.dynamodb.query(
                TableName=self.table,
                IndexName=INDEX_NAME,
                KeyConditionExpression="gsi_pk = :pk AND run_id = :rid",
                ExpressionAttributeValues={":pk": {"S": GSI_PK_VALUE}, ":rid": {"S": run_id}},
            )
        except AwsCallError as exc:
            meaning = _read_error(exc, self.table)
            if meaning is None:
                raise
            raise meaning from exc
        items = page.get("Items", [])
        return RunRecord.from_item(items[0]) if items else None

    def _collect(self, fetch: Any, limit: int | None) -> list[RunRecord]:
        runs: list[RunRecord] = []
        token: str | None = None
        while True:
            page: HistoryPage = fetch(token, None if limit is None else limit - len(runs))
            runs.extend(page.runs)
            token = page.next_token
            if token is None or (limit is not None and len(runs) >= limit):
                return runs[:limit] if limit is not None else runs

    def _query(
        self,
        key: str,
        values: dict[str, Any],
        limit: int | None,
        status: str | None,
        next_token: str | None,
        index: str | None,
    ) -> HistoryPage:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": key,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if index:
            request["IndexName"] = index
        if limit is not None:
            request["Limit"] = limit
        if status is not None:
            # `lost` is never stored: it is a `running` record read after its deadline.
            stored = RunStatus.RUNNING.value if status == RunStatus.LOST.value else status
            request["FilterExpression"] = "#status = :status"
            request["ExpressionAttributeNames"] = {"#status": "status"}
            values[":status"] = {"S": stored}
        if next_token:
            request["ExclusiveStartKey"] = decode_token(next_token)
        try:
            page = self.dynamodb.query(**request)
        except AwsCallError as exc:
            meaning = _read_error(exc, self.table)
            if meaning is None:
                raise
            raise meaning from exc
        # A job's partition below TIMED_ITEMS_END holds runs and events; the index, runs only.
        items = [r for r in map(from_item, page.get("Items", [])) if isinstance(r, (RunRecord, PauseEvent))]
        if status in (RunStatus.LOST.value, RunStatus.RUNNING.value):
            now = datetime.now(UTC)
            items = [item for item in items if isinstance(item, RunRecord) and effective_status(item, now) == status]
        last = page.get("LastEvaluatedKey")
        return HistoryPage(tuple(items), encode_token(last) if last else None)


def _key_condition(
    partition: str, value: str, since: datetime | None, until: datetime | None
) -> tuple[str, dict[str, Any]]:
    low = time_key(since) if since else None
    high = time_key(until) + RANGE_END if until else TIMED_ITEMS_END
    values: dict[str, Any] = {":pk": {"S": value}, ":hi": {"S": high}}
    if low is None:
        return f"{partition} AND run_id < :hi", values
    values[":lo"] = {"S": low}
    return f"{partition} AND run_id BETWEEN :lo AND :hi", values


def _read_error(exc: AwsCallError, table: str) -> CronplaneError | None:
    """What a failed read means for ``history``; None: the door's own wording says it."""
    if exc.not_found:
        return AwsError(
            f"history table {table} does not exist here: deploy the manifest first (jobctl deploy), "
            "or check --region / --endpoint-url"
        )
    if exc.code == "ValidationException" and "ExclusiveStartKey" in exc.detail:
        return HistoryQueryError(f"--next-token does not belong to this query: {exc.detail}")
    return None


# -- records --------------------------------------------------------------------------------
# ``effective_status`` (running past the deadline is lost) lives in ``runs.status``, which the
# watchdog's zip ships; handed on here for every reader of this module.


def present(record: RunRecord, now: datetime) -> dict[str, Any]:
    """A record as ``history --output json`` shows it (and the text views print it): its plain
    form with the effective status (the stored one kept as ``stored_status`` when they differ)
    and ``result`` decoded from its JSON string."""
    shown = record.as_dict()
    status = effective_status(record, now)
    if status != record.status:
        shown["stored_status"] = record.status
    shown["status"] = status
    shown["result"] = decode_result(record.result)
    return shown


def decode_result(result: Any) -> Any:
    """``result`` is stored as a (trimmed) JSON string; trimmed text stays a string."""
    if isinstance(result, str):
        try:
            return json.loads(result)
        except ValueError:
            return result
    return result


# -- summary --------------------------------------------------------------------------------
def summarize(records: Iterable[RunRecord | PauseEvent], now: datetime | None = None) -> list[JobSummary]:
    """One summary per job, in order of first appearance: runs, success rate, p50 / p95 duration
    of finished runs, last success."""
    now = now or datetime.now(UTC)
    by_job: dict[str, list[RunRecord]] = {}
    for record in records:
        if isinstance(record, RunRecord):
            by_job.setdefault(record.job, []).append(record)
    summaries = []
    for job, runs in by_job.items():
        statuses = [effective_status(r, now) for r in runs]
        durations = sorted(
            r.duration_ms for r, s in zip(runs, statuses, strict=False) if s in FINISHED and r.duration_ms is not None
        )
        successes = [r for r, s in zip(runs, statuses, strict=False) if s == RunStatus.SUCCEEDED.value]
        last = max((r.finished_at or r.started_at or "" for r in successes), default=None)
        summaries.append(
            JobSummary(
                job=job,
                runs=sum(1 for s in statuses if s != RunStatus.DUPLICATE.value),
                succeeded=len(successes),
                outcomes=sum(1 for s in statuses if s in {o.value for o in OUTCOMES}),
                p50_ms=percentile(durations, 50),
                p95_ms=percentile(durations, 95),
                last_success=last or None,
            )
        )
    return summaries


def percentile(sorted_values: list[int], pct: float) -> int | None:
    """Nearest-rank percentile: always a value that was observed."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


# -- arguments --------------------------------------------------------------------------------
def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``7d``, ``24h``, ``30m``, ``2w``, or an ISO date / time (UTC unless it says otherwise)."""
    try:
        return parse_age_or_time(text, now or datetime.now(UTC))
    except OverflowError:  # further back than datetime reaches: every run there is
        return datetime(1970, 1, 1, tzinfo=UTC)
    except ValueError:
        raise HistoryQueryError(
            f"--since {text!r}: expected a duration like 7d, 24h, 30m, 2w or an ISO time like 2026-11-27T09:00:00Z"
        ) from None


def encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise HistoryQueryError(f"--next-token {token!r} is not a token printed by jobctl history") from None
    if not isinstance(value, dict):
        raise HistoryQueryError(f"--next-token {token!r} is not a token printed by jobctl history")
    return value
