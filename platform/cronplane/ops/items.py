"""History-table reads the ops commands share: the bounded Queries audit and backfill run, and
single records. Every read here is a Query on one job's partition with a ``run_id`` key
condition (run ids start with ``schema.time_key``) or a GetItem, never a Scan; items become
records through ``cronplane.runtime.schema`` only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cronplane.aws.client import AwsCallError
from cronplane.errors import AwsError
from cronplane.ops import matching
from cronplane.runtime.schema import (
    LOCK_SORT_KEY,
    RANGE_END,
    TIMED_ITEMS_END,
    PauseEvent,
    RunLock,
    RunRecord,
    Trigger,
    from_item,
    item_key,
    parse_iso,
    time_key,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# What one job's partition holds between two times.
WindowItem = RunRecord | PauseEvent


# What audit, backfill and the watchdog read of each item (``matching.WINDOW_ATTRIBUTES``).
WINDOW_ATTRIBUTES = matching.WINDOW_ATTRIBUTES


def query_window(
    dynamodb: DynamoDBClient,
    table: str,
    job: str,
    since: datetime,
    until: datetime,
    attributes: tuple[str, ...] | None = WINDOW_ATTRIBUTES,
    *,
    retries_only: bool = False,
) -> list[WindowItem]:
    """Every item of ``job`` whose run id starts with a time in [since, until]: runs (scheduled,
    backfill, manual, retry, duplicates) and pause / resume events. One Query per ~1 MB page.
    ``attributes=None`` reads whole items (``jobctl report`` shows attempts and tracebacks)."""
    condition = "job = :job AND run_id BETWEEN :lo AND :hi"
    values = {":job": {"S": job}, ":lo": {"S": time_key(since)}, ":hi": {"S": time_key(until) + RANGE_END}}
    # Aliases for every name: several (status, trigger, action, at ...) are DynamoDB reserved words.
    aliases = {f"#a{i}": name for i, name in enumerate(attributes or ())}
    extra: dict[str, Any] = {"ExpressionAttributeNames": aliases} if aliases else {}
    if aliases:
        extra["ProjectionExpression"] = ", ".join(aliases)
    if retries_only:
        aliases["#trigger"] = "trigger"
        extra["ExpressionAttributeNames"] = aliases
        values[":retry"] = {"S": Trigger.RETRY.value}
        extra["FilterExpression"] = "#trigger = :retry"
    return [r for r in map(from_item, _query(dynamodb, table, condition, values, extra)) if isinstance(r, WindowItem)]


# A DLQ message lives at most 14 days (SQS's longest retention, and what deploy sets), so a
# replay of a run from the window starts no later than this after the window's end.
RETRY_HORIZON = timedelta(days=14)


def read_window(
    dynamodb: DynamoDBClient,
    table: str,
    job: str,
    since: datetime,
    until: datetime,
    now: datetime,
    attributes: tuple[str, ...] | None = WINDOW_ATTRIBUTES,
) -> list[WindowItem]:
    """``query_window`` plus the retry runs started after the window (DLQ replays of its runs
    carry the time they were replayed in their id). When the window ends now, that is nothing."""
    items = query_window(dynamodb, table, job, since, until, attributes)
    later_until = min(now, until + RETRY_HORIZON)
    if later_until > until:
        # The key range starts after the window's last second; a filter keeps only retries.
        later = until + timedelta(seconds=1)
        items += query_window(dynamodb, table, job, later, later_until, attributes, retries_only=True)
    return items


# Proof that a job existed at a time, per item: a scheduled run's fire time (its trigger fired
# then), a pause event's time, and otherwise when the run started. A backfill run's id and
# scheduled_for name a time it re-did, possibly from before the job existed: only its start counts.
EXISTENCE_ATTRIBUTES = ("run_id", "kind", "trigger", "scheduled_for", "started_at", "at")
EARLIEST_PAGE_ITEMS = 200
EARLIEST_MAX_PAGES = 5


def existed_at(item: WindowItem) -> datetime | None:
    """The time ``item`` proves its job existed (see above); None when it proves nothing."""
    if isinstance(item, PauseEvent):
        moment: str | None = item.at
    elif item.trigger == Trigger.SCHEDULE.value:
        moment = item.scheduled_for or item.started_at
    else:
        moment = item.started_at
    return parse_iso(moment) if moment else None


def earliest_existence(dynamodb: DynamoDBClient, table: str, job: str) -> datetime | None:
    """The earliest time the job's history proves it existed. Items come oldest first; backfill
    runs of old times sort first but prove only their start, so reading goes on past them up to
    the first other item (a few small pages at most: only the proving fields are read)."""
    aliases = {f"#a{i}": name for i, name in enumerate(EXISTENCE_ATTRIBUTES)}  # several are reserved words
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#job = :job AND #rid < :end",
        "ExpressionAttributeNames": {**aliases, "#job": "job", "#rid": "run_id"},
        "ExpressionAttributeValues": {":job": {"S": job}, ":end": {"S": TIMED_ITEMS_END}},
        "ProjectionExpression": ", ".join(aliases),
        "ScanIndexForward": True,
        "Limit": EARLIEST_PAGE_ITEMS,
    }
    best: datetime | None = None
    try:
        for _ in range(EARLIEST_MAX_PAGES):
            page = dynamodb.query(**kwargs)
            for raw in page.get("Items", []):
                item = from_item(raw)
                if not isinstance(item, WindowItem):
                    continue
                moment = existed_at(item)
                if moment is not None and (best is None or moment < best):
                    best = moment
                if not (isinstance(item, RunRecord) and item.trigger == Trigger.BACKFILL.value):
                    return best  # everything after this item is younger
            if "LastEvaluatedKey" not in page:
                return best
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except AwsCallError as exc:
        if exc.not_found:
            return None
        raise
    return best


def _query(
    dynamodb: DynamoDBClient, table: str, condition: str, values: dict[str, Any], extra: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        **extra,
    }
    try:
        while True:
            page = dynamodb.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except AwsCallError as exc:
        if exc.not_found:
            raise _no_table(table) from exc
        raise


def read_run(dynamodb: DynamoDBClient, table: str, job: str, run_id: str) -> RunRecord | None:
    """One run record (a consistent read), None when there is none."""
    found = _get_item(dynamodb, table, job, run_id)
    return RunRecord.from_item(found) if found is not None else None


def read_lock(dynamodb: DynamoDBClient, table: str, job: str) -> RunLock | None:
    """The job's ``concurrency: forbid`` lock (a consistent read), None when nobody holds it."""
    found = _get_item(dynamodb, table, job, LOCK_SORT_KEY)
    return RunLock.from_item(found) if found is not None else None


def _get_item(dynamodb: DynamoDBClient, table: str, job: str, run_id: str) -> dict[str, Any] | None:
    try:
        found = dynamodb.get_item(TableName=table, Key=item_key(job, run_id), ConsistentRead=True)
    except AwsCallError as exc:
        if exc.not_found:
            raise _no_table(table) from exc
        raise
    return dict(found["Item"]) if "Item" in found else None


def _no_table(table: str) -> AwsError:
    # Only the table can be missing here (an empty partition is just no items).
    return AwsError(f"history table {table} does not exist: deploy the manifest first (`jobctl deploy`)")
