"""History-table reads and writes the ops commands share: converting items, and the bounded
Queries audit and backfill run. Every read here is a Query on one job's partition with a
``run_id`` key condition (run ids start with ``records.time_key``), never a Scan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from cronplane.errors import AwsError
from cronplane.runtime.records import parse_iso, time_key

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()

# Sorts after every character of a run id ("Z", "-", letters, digits, "~dup-"), so
# ``time_key(until) + RANGE_END`` closes a window at the end of that second.
RANGE_END = "\U0010ffff"
# Sort keys starting with "~" are locks and markers; time-keyed items all sort before ":".
TIMED_ITEMS_END = ":"


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A plain dict to DynamoDB's typed form; None values are left out."""
    return {k: _SERIALIZER.serialize(_plain_to_dynamo(v)) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed form to plain Python (Decimals become int or float)."""
    return {k: _dynamo_to_plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _plain_to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _plain_to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_to_dynamo(v) for v in value]
    return value


def _dynamo_to_plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _dynamo_to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_dynamo_to_plain(v) for v in value]
    return value


# What audit and backfill read of each item: runs' matching fields and pause events' fields.
# Leaving out results, attempts and tracebacks keeps the pages small on the wire (DynamoDB
# still counts whole items against the 1 MB page, so the page count is the same).
WINDOW_ATTRIBUTES = (
    "job",
    "run_id",
    "kind",
    "status",
    "trigger",
    "scheduled_for",
    "started_at",
    "deadline",
    "error",
    "retry_of",
    "yielded_to",
    "triggered_by",
    "action",
    "actor",
    "at",
    "reason",
)


def query_window(
    dynamodb: Any,
    table: str,
    job: str,
    since: datetime,
    until: datetime,
    attributes: tuple[str, ...] = WINDOW_ATTRIBUTES,
    *,
    retries_only: bool = False,
) -> list[dict[str, Any]]:
    """Every item of ``job`` whose run id starts with a time in [since, until]: runs (scheduled,
    backfill, manual, retry, duplicates) and pause / resume events. One Query per ~1 MB page."""
    condition = "job = :job AND run_id BETWEEN :lo AND :hi"
    values = {":job": {"S": job}, ":lo": {"S": time_key(since)}, ":hi": {"S": time_key(until) + RANGE_END}}
    # Aliases for every name: several (status, trigger, action, at ...) are DynamoDB reserved words.
    aliases = {f"#a{i}": name for i, name in enumerate(attributes)}
    extra: dict[str, Any] = {"ProjectionExpression": ", ".join(aliases), "ExpressionAttributeNames": aliases}
    if retries_only:
        aliases["#trigger"] = "trigger"
        values[":retry"] = {"S": "retry"}
        extra["FilterExpression"] = "#trigger = :retry"
    return [from_item(item) for item in _query(dynamodb, table, condition, values, extra)]


# A DLQ message lives at most 14 days (SQS's longest retention, and what deploy sets), so a
# replay of a run from the window starts no later than this after the window's end.
RETRY_HORIZON = timedelta(days=14)


def read_window(
    dynamodb: Any, table: str, job: str, since: datetime, until: datetime, now: datetime
) -> list[dict[str, Any]]:
    """``query_window`` plus the retry runs started after the window (DLQ replays of its runs
    carry the time they were replayed in their id). When the window ends now, that is nothing."""
    items = query_window(dynamodb, table, job, since, until)
    later_until = min(now, until + RETRY_HORIZON)
    if later_until > until:
        # The key range starts after the window's last second; a filter keeps only retries.
        items += query_window(dynamodb, table, job, until + timedelta(seconds=1), later_until, retries_only=True)
    return items


# Proof that a job existed at a time, per item: a scheduled run's fire time (its trigger fired
# then), a pause event's time, and otherwise when the run started. A backfill run's id and
# scheduled_for name a time it re-did, possibly from before the job existed: only its start counts.
EXISTENCE_ATTRIBUTES = ("run_id", "kind", "trigger", "scheduled_for", "started_at", "at")
EARLIEST_PAGE_ITEMS = 200
EARLIEST_MAX_PAGES = 5


def existed_at(item: dict[str, Any]) -> datetime | None:
    """The time ``item`` proves its job existed (see above); None when it proves nothing."""
    if item.get("kind") == "event":
        moment = item.get("at")
    elif item.get("trigger") == "schedule":
        moment = item.get("scheduled_for") or item.get("started_at")
    else:
        moment = item.get("started_at")
    return parse_iso(moment) if moment else None


def earliest_existence(dynamodb: Any, table: str, job: str) -> datetime | None:
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
                moment = existed_at(item)
                if moment is not None and (best is None or moment < best):
                    best = moment
                if item.get("trigger") != "backfill":
                    return best  # everything after this item is younger
            if "LastEvaluatedKey" not in page:
                return best
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return None
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"could not read the history table {table}: {exc}") from exc
    return best


def _query(
    dynamodb: Any, table: str, condition: str, values: dict[str, Any], extra: dict[str, Any]
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
    except dynamodb.exceptions.ResourceNotFoundException as exc:
        raise AwsError(f"history table {table} does not exist: deploy the manifest first (`jobctl deploy`)") from exc
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"could not read the history table {table}: {exc}") from exc


def get_item(dynamodb: Any, table: str, job: str, run_id: str) -> dict[str, Any] | None:
    try:
        found = dynamodb.get_item(
            TableName=table, Key={"job": {"S": job}, "run_id": {"S": run_id}}, ConsistentRead=True
        )
    except dynamodb.exceptions.ResourceNotFoundException as exc:
        raise AwsError(f"history table {table} does not exist: deploy the manifest first (`jobctl deploy`)") from exc
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"could not read the history table {table}: {exc}") from exc
    return from_item(found["Item"]) if "Item" in found else None
