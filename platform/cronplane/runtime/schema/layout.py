"""The history table's key layout, its definition, and the values that go into its keys and
fields: statuses, triggers, times and ids (see the package docstring for the whole layout).
Standard library only."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# -- keys ---------------------------------------------------------------------------------------
PARTITION_KEY = "job"
SORT_KEY = "run_id"
INDEX_NAME = "by-time"  # GSI: all jobs' runs, newest first
INDEX_PARTITION_KEY = "gsi_pk"
GSI_PK_VALUE = "run"  # on run records, so the index holds every job's runs
WATCH_INDEX_VALUE = "watch"  # on the watchdog's alert records and watch starts (``ops.watch_reads``)
TTL_ATTRIBUTE = "ttl"
LOCK_SORT_KEY = "~lock"  # per-job overlap lock (concurrency: forbid); also the deploy lock's
DEPLOY_LOCK_JOB = "~deploy"  # partition of the namespace's deploy lock
PAUSED_PARTITION = "~paused"  # partition of pause markers: one item per paused job
# Sort keys of the watchdog's items in a job's partition (``control.AlertRecord``, one per
# alerted event, and ``control.WatchStart``): after every run and event, never inside a
# time-bounded Query; "~alert#" sorts before "~lock".
ALERT_SORT_PREFIX = "~alert#"
# Sort keys of time-keyed items (runs, events) start with a digit and all sort before ":";
# locks and markers start with "~" and never fall inside a time-bounded Query.
TIMED_ITEMS_END = ":"
# Sorts after every character of a run id ("Z", "-", letters, digits, "~dup-"), so
# ``time_key(until) + RANGE_END`` closes a window at the end of that second.
RANGE_END = "\U0010ffff"

# Values of the ``kind`` attribute.
KIND_RUN = "run"
KIND_EVENT = "event"
KIND_LOCK = "lock"
KIND_ALERT = "alert"
KIND_WATCH = "watch"


def item_key(partition: str, sort: str) -> dict[str, Any]:
    """The ``Key`` of one item, for GetItem / DeleteItem."""
    return {PARTITION_KEY: {"S": partition}, SORT_KEY: {"S": sort}}


# -- field values -------------------------------------------------------------------------------
class RunStatus(str, Enum):
    RUNNING = "running"
    RETRYING = "retrying"  # handed to a continuation invocation
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    DUPLICATE = "duplicate"
    LOST = "lost"  # never stored: derived on read for RUNNING records past their deadline

    @property
    def is_final(self) -> bool:
        return self not in (RunStatus.RUNNING, RunStatus.RETRYING)


class Trigger(str, Enum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    RETRY = "retry"
    BACKFILL = "backfill"


def time_key(moment: datetime) -> str:
    """Compact, sortable UTC form used as the prefix of run ids: 20261127T090000Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, second precision: the format of every time in a record."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def scheduled_run_id(scheduled_for: datetime, firing_id: str) -> str:
    """Run id of a scheduled firing. Every delivery of one firing (same EventBridge event id or
    Scheduler execution id) yields the same id, which is what turns a duplicate delivery into a
    failed conditional write instead of a second run."""
    digest = hashlib.sha256(firing_id.encode()).hexdigest()[:8]
    return f"{time_key(scheduled_for)}-{digest}"


def new_run_id(moment: datetime, trigger: Trigger) -> str:
    """Run id of a run that does not come from a schedule firing (manual, retry, backfill)."""
    return f"{time_key(moment)}-{trigger.value[0]}{uuid.uuid4().hex[:7]}"


def backfill_run_id(scheduled_for: datetime) -> str:
    """Deterministic per fire time, so backfilling the same window twice cannot run it twice."""
    return f"{time_key(scheduled_for)}-backfill"


# The run ids an event may carry (the three forms above): ``<time_key>-<8 hex>`` (a scheduled
# firing), ``<time_key>-<s|m|r|b><7 hex>`` (``new_run_id``) or ``<time_key>-backfill`` (with
# ``-<n>`` when ``jobctl backfill`` runs a time again whose earlier backfill was skipped). Never
# anything else: a run id is a sort key, and one like "~lock" would name another item.
RUN_ID_FORMAT = "<YYYYMMDDTHHMMSSZ>-<8 hex digits | s, m, r or b + 7 hex digits | backfill>"
_RUN_ID = re.compile(
    r"\d{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3])[0-5]\d[0-5]\dZ"
    r"-(?:[0-9a-f]{8}|[smrb][0-9a-f]{7}|backfill(?:-[1-9]\d{0,3})?)"
)
TIME_KEY_LENGTH = len("20261127T090000Z")


def is_run_id(value: object) -> bool:
    """``value`` is a run id of one of the forms ``scheduled_run_id`` / ``new_run_id`` /
    ``backfill_run_id`` make (what the runtime accepts from an event)."""
    return isinstance(value, str) and _RUN_ID.fullmatch(value) is not None


def run_id_triggers(run_id: str) -> frozenset[Trigger]:
    """The triggers whose runs carry ids of ``run_id``'s form (``run_id`` is a run id). A run id
    names how its run started, so an event may not borrow another trigger's id: a manual run
    under a future time's ``-backfill`` id would turn that time's real backfill into a duplicate.
    ``b`` + 7 hex digits is also 8 hex digits, so it fits a scheduled firing as well."""
    suffix = run_id[TIME_KEY_LENGTH + 1 :]
    if suffix.startswith("backfill"):
        return frozenset({Trigger.BACKFILL})
    lettered = {"s": Trigger.SCHEDULE, "m": Trigger.MANUAL, "r": Trigger.RETRY}  # none is a hex digit
    if suffix[:1] in lettered:
        return frozenset({lettered[suffix[:1]]})
    return frozenset({Trigger.SCHEDULE, Trigger.BACKFILL} if suffix.startswith("b") else {Trigger.SCHEDULE})


def run_id_time_key(run_id: str) -> str:
    """The ``time_key`` a run id starts with."""
    return run_id[:TIME_KEY_LENGTH]


def duplicate_run_id(run_id: str, request_id: str) -> str:
    """Run id of the marker of a second delivery of ``run_id``: one per delivering request."""
    return f"{run_id}~dup-{request_id}"


# -- the table ----------------------------------------------------------------------------------
def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments for ``dynamodb.create_table`` (the deploy side builds the table from it)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
            {"AttributeName": INDEX_PARTITION_KEY, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": INDEX_NAME,
                "KeySchema": [
                    {"AttributeName": INDEX_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "SSESpecification": {"Enabled": True},
    }


def create_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the table, wait until it is active, and turn on TTL expiry (tests, the dev server)."""
    created = client.create_table(**table_definition(table_name))
    if created.get("TableDescription", {}).get("TableStatus") != "ACTIVE":  # emulators: at once
        client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
