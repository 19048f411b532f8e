"""What a watchdog pass reads of the history table, in two ways.

- **A job's partition** (``read_job``): one Query (per 1 MB page) from the job's lookback on:
  its runs and pause events of the window, then its alert records and watch start, which sort
  after them all. Exact, and one Query per watched job.
- **The index, for all jobs at once** (``read_index``): the ``by-time`` GSI holds every job's
  runs under ``gsi_pk = "run"``, and the watchdog writes its own items (alert records, watch
  starts) with ``gsi_pk = "watch"`` (``watch_item``), so two Queries (plus one per further
  1 MB page) give every job's recent runs, alert records and watch start. Not pause events:
  those are only in the job's partition. The runs are read newest first and only as far back
  as it pays (``IndexView.covers``): a job whose lookback the pages read do not reach is read
  from its partition instead. ``ops.watchdog.run_pass`` decides on this view which jobs need
  their partition read (something new to write, or an open late/missed episode a pause might
  explain) and takes every decision to write or send on the partition's items.

And the namespace's pause markers (``read_markers``): one Query.

Standard library, the runtime's schema and the modules the watchdog's zip ships.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cronplane.manifest.watch_config import WatchedJob
from cronplane.ops.matching import WINDOW_ATTRIBUTES
from cronplane.ops.watch_findings import JobItems, lookback
from cronplane.runtime.schema import (
    GSI_PK_VALUE,
    INDEX_NAME,
    INDEX_PARTITION_KEY,
    PAUSED_PARTITION,
    WATCH_INDEX_VALUE,
    AlertRecord,
    Item,
    PauseEvent,
    PauseMarker,
    RunRecord,
    WatchStart,
    from_item,
    time_key,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# ``gsi_pk`` of the watchdog's own items (alert records, watch starts): their partition of the
# ``by-time`` index, beside the runs' "run". The history's readers only ever ask for "run".
# The alert records' and watch starts' fields (with ``ttl``, so an item put back keeps its expiry).
WATCH_ATTRIBUTES = (
    "job",
    "run_id",
    "kind",
    *("alert", "event", "sent_at", "routes", "moment", "told", "by", "note", "ttl", "since", "schedule"),
)
# What a partition read asks for: the window's run and event fields, the watchdog's items' fields,
# and the index attribute (to tell the watchdog's items that lack it).
READ_ATTRIBUTES = tuple(dict.fromkeys((*WINDOW_ATTRIBUTES, *WATCH_ATTRIBUTES, INDEX_PARTITION_KEY)))


def watch_item(record: AlertRecord | WatchStart) -> Item:
    """``record`` as the watchdog stores it: with its place in the index."""
    return {**to_item(record), INDEX_PARTITION_KEY: {"S": WATCH_INDEX_VALUE}}


# -- one job's partition ----------------------------------------------------------------------
def read_job(dynamodb: DynamoDBClient, table: str, job: str, since: datetime) -> JobItems:
    """The job's partition from ``since`` on, in one Query (per 1 MB page): runs and pause
    events of the window, and its alert records and watch start, which sort after them all."""
    runs: list[RunRecord] = []
    events: list[PauseEvent] = []
    records: list[AlertRecord] = []
    watch: WatchStart | None = None
    unindexed: set[str] = set()
    condition = "#a0 = :job AND #a1 >= :lo"
    values = {":job": {"S": job}, ":lo": {"S": time_key(since)}}
    for raw in _query(dynamodb, table, condition, values, READ_ATTRIBUTES):
        item = from_item(raw)
        if isinstance(item, RunRecord):
            runs.append(item)
        elif isinstance(item, PauseEvent):
            events.append(item)
        elif isinstance(item, (AlertRecord, WatchStart)):
            if isinstance(item, AlertRecord):
                records.append(item)
            else:
                watch = item
            if raw.get(INDEX_PARTITION_KEY) != {"S": WATCH_INDEX_VALUE}:
                unindexed.add(str(raw["run_id"]["S"]))
    return JobItems(tuple(runs), tuple(events), tuple(records), watch, frozenset(unindexed))


def read_markers(dynamodb: DynamoDBClient, table: str) -> dict[str, PauseMarker]:
    """The namespace's pause markers (one Query): a job paused before the window has no pause
    event in it."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "job = :p",
        "ExpressionAttributeValues": {":p": {"S": PAUSED_PARTITION}},
    }
    markers: dict[str, PauseMarker] = {}
    while True:
        page = dynamodb.query(**request)
        for raw in page.get("Items", []):
            marker = PauseMarker.from_item(raw)
            markers[marker.job] = marker
        if "LastEvaluatedKey" not in page:
            return markers
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# -- every job at once: the index -------------------------------------------------------------
@dataclass
class IndexView:
    """What the index says of the watched jobs: runs (newest first as read, back to
    ``oldest_read``), alert records and watch starts, and the jobs one of whose items could
    not be read (their partition will say why)."""

    runs: dict[str, list[RunRecord]] = field(default_factory=dict)
    alerts: dict[str, list[AlertRecord]] = field(default_factory=dict)
    watches: dict[str, WatchStart] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)
    oldest_read: str | None = None  # run id of the oldest run read; None: read to the end

    def covers(self, job: WatchedJob, now: datetime) -> bool:
        """Every run of the job's lookback was read: the unread ones sort at or before the
        oldest read (the index is read newest first), all older than the lookback's start."""
        return self.oldest_read is None or time_key(now - lookback(job)) > self.oldest_read

    def items(self, job: WatchedJob, now: datetime) -> JobItems:
        """The job's items as its partition would give them, without pause events."""
        low = time_key(now - lookback(job))
        runs = sorted((r for r in self.runs.get(job.name, ()) if r.run_id >= low), key=lambda r: r.run_id)
        alerts = sorted(self.alerts.get(job.name, ()), key=lambda r: r.sort_key)
        return JobItems(tuple(runs), (), tuple(alerts), self.watches.get(job.name))


def read_index(dynamodb: DynamoDBClient, table: str, jobs: Iterable[WatchedJob], now: datetime) -> IndexView:
    """The watchdog's items of every job (every page), then the runs since the longest
    lookback, newest first, for as long as a page costs less than the partition reads it saves:
    reading stops once it has taken as many pages as there are jobs it does not cover yet."""
    watched = {job.name: job for job in jobs}
    view = IndexView()
    for raw in _query(dynamodb, table, "#a0 = :pk", {":pk": {"S": WATCH_INDEX_VALUE}}, WATCH_ATTRIBUTES, index=True):
        name = _job_of(raw)
        if name in watched:
            item = _parsed(raw, name, view)
            if isinstance(item, AlertRecord):
                view.alerts.setdefault(name, []).append(item)
            elif isinstance(item, WatchStart):
                view.watches[name] = item
    starts = sorted(time_key(now - lookback(job)) for job in watched.values())
    if not starts:
        return view
    condition = "#a0 = :pk AND #a1 >= :lo"
    values = {":pk": {"S": GSI_PK_VALUE}, ":lo": {"S": starts[0]}}
    runs = _pages(dynamodb, table, condition, values, WINDOW_ATTRIBUTES, index=True)
    for pages, page in enumerate(runs, start=1):
        for raw in page.get("Items", []):
            name = _job_of(raw)
            if name in watched:
                item = _parsed(raw, name, view)
                if isinstance(item, RunRecord):
                    view.runs.setdefault(name, []).append(item)
        if "LastEvaluatedKey" not in page:
            view.oldest_read = None
            return view
        view.oldest_read = str(page["LastEvaluatedKey"]["run_id"]["S"])
        uncovered = sum(1 for start in starts if start <= view.oldest_read)
        if pages >= uncovered:
            return view  # the jobs left are cheaper read from their partitions
    return view


def _job_of(raw: Mapping[str, Any]) -> str:
    value = raw.get("job", {})
    return str(value.get("S", "")) if isinstance(value, Mapping) else ""


def _parsed(raw: Mapping[str, Any], job: str, view: IndexView) -> object:
    try:
        return from_item(raw)
    except Exception:  # one bad item must not blind the pass: its job is read from its partition
        view.unreadable.add(job)
        return None


# -- paging -----------------------------------------------------------------------------------
def _query(
    dynamodb: DynamoDBClient,
    table: str,
    condition: str,
    values: dict[str, Any],
    attributes: tuple[str, ...],
    *,
    index: bool = False,
) -> Iterable[Mapping[str, Any]]:
    for page in _pages(dynamodb, table, condition, values, attributes, index=index):
        yield from page.get("Items", [])


def _pages(
    dynamodb: DynamoDBClient,
    table: str,
    condition: str,
    values: dict[str, Any],
    attributes: tuple[str, ...],
    *,
    index: bool = False,
) -> Iterable[Mapping[str, Any]]:
    """Every page of one Query of the table (or of the index, newest first). Its key names are
    ``#a0`` (the partition key's) and ``#a1`` (the sort key's); every name is projected."""
    partition = INDEX_PARTITION_KEY if index else "job"
    names = (partition, "run_id", *(a for a in attributes if a not in (partition, "run_id")))
    aliases = {f"#a{i}": name for i, name in enumerate(names)}  # many are reserved words
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": aliases,
        "ExpressionAttributeValues": values,
        "ProjectionExpression": ", ".join(aliases),  # every alias is used here
    }
    if index:
        request |= {"IndexName": INDEX_NAME, "ScanIndexForward": False}
    while True:
        page = dynamodb.query(**request)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


__all__ = [
    "READ_ATTRIBUTES",
    "WATCH_ATTRIBUTES",
    "WATCH_INDEX_VALUE",
    "IndexView",
    "read_index",
    "read_job",
    "read_markers",
    "watch_item",
]
