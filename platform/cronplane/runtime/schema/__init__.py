"""The run-history table: its one owner. Key layout and definition (``layout``), the typed
records and the only conversion between them and DynamoDB items (``records``; ``control``
holds the records only ``jobctl`` writes, loaded on first use so a cold start does not pay
for them). Written by the
runtime, read by ``jobctl history / audit / backfill / dlq / pause`` and the deployer; it lives
in the runtime package so every Lambda zip carries it. Standard library only.

Table ``{namespace}-history``:

- partition key ``job`` (S), sort key ``run_id`` (S). A run id starts with the firing's time in
  a sortable compact form (``time_key``), so one job's runs newest-first, or within a window,
  is one Query.
- GSI ``by-time``: partition key ``gsi_pk`` (``"run"`` on run records, ``"watch"`` on the
  watchdog's alert records and watch starts, absent elsewhere, so the index is sparse), sort key
  ``run_id``: all jobs' latest runs is one Query on it, and a watchdog pass reads every job's
  alert state in a few more.
- TTL attribute ``ttl`` (epoch seconds).

Items (partition, sort key -> record):

- ``(job, <time_key>-<id>)``, ``kind = "run"``: ``RunRecord`` (with its ``Attempt`` entries). A
  duplicate delivery is its own run record (status ``duplicate``) with run id
  ``<run id>~dup-<request id>`` (plus ``-<8 hex>`` when the same request id is delivered again);
  a run that yielded to the forbid lock is one with status ``skipped`` and ``yielded_to``.
- ``(job, <time_key>-event-pause|resume)``, ``kind = "event"``: ``PauseEvent``.
- ``(job, "~lock")``, ``kind = "lock"``: ``RunLock``, the overlap lock of ``concurrency: forbid``
  (``holder`` run id, ``expires_at`` = the holder's start + function timeout + 10 s).
- ``("~deploy", "~lock")``: ``DeployLockRecord``, the namespace's deploy lock.
- ``("~paused", job)``: ``PauseMarker``, present while the job is paused.
- ``(job, "~alert#<kind>#<fire time or run id>")``: ``AlertRecord``, one per event the watchdog
  alerted (or recorded as part of an alert already sent); ``(job, "~alert#watch")``:
  ``WatchStart``, since when the watchdog watches the job. Both only in jobs with ``alerts:``.

Sort keys of time-keyed items (runs, events) start with a digit and sort before
``TIMED_ITEMS_END`` (":"); the lock's ("~") sorts after every digit and letter, so it never falls
inside a time-bounded Query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cronplane.runtime.schema.layout import (
    ALERT_SORT_PREFIX,
    DEPLOY_LOCK_JOB,
    GSI_PK_VALUE,
    INDEX_NAME,
    INDEX_PARTITION_KEY,
    KIND_ALERT,
    KIND_EVENT,
    KIND_LOCK,
    KIND_RUN,
    KIND_WATCH,
    LOCK_SORT_KEY,
    PARTITION_KEY,
    PAUSED_PARTITION,
    RANGE_END,
    RUN_ID_FORMAT,
    SORT_KEY,
    TIMED_ITEMS_END,
    TTL_ATTRIBUTE,
    WATCH_INDEX_VALUE,
    RunStatus,
    Trigger,
    backfill_run_id,
    create_table,
    duplicate_run_id,
    is_run_id,
    iso,
    item_key,
    new_run_id,
    parse_iso,
    scheduled_run_id,
    table_definition,
    time_key,
)
from cronplane.runtime.schema.records import Attempt, HistoryRecord, Item, RunLock, RunRecord, from_item, to_item

if TYPE_CHECKING:
    from cronplane.runtime.schema.control import (
        AlertRecord,
        DeployLockRecord,
        PauseAction,
        PauseEvent,
        PauseMarker,
        WatchStart,
        alert_sort_key,
        event_run_id,
    )

_CONTROL = frozenset(
    {
        "AlertRecord",
        "DeployLockRecord",
        "PauseAction",
        "PauseEvent",
        "PauseMarker",
        "WatchStart",
        "alert_sort_key",
        "event_run_id",
    }
)


def __getattr__(name: str) -> Any:
    """The ``control`` records, imported on first use (PEP 562)."""
    if name in _CONTROL:
        from cronplane.runtime.schema import control

        return getattr(control, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALERT_SORT_PREFIX",
    "DEPLOY_LOCK_JOB",
    "GSI_PK_VALUE",
    "INDEX_NAME",
    "INDEX_PARTITION_KEY",
    "KIND_ALERT",
    "KIND_EVENT",
    "KIND_LOCK",
    "KIND_RUN",
    "KIND_WATCH",
    "LOCK_SORT_KEY",
    "PARTITION_KEY",
    "PAUSED_PARTITION",
    "RANGE_END",
    "RUN_ID_FORMAT",
    "SORT_KEY",
    "TIMED_ITEMS_END",
    "TTL_ATTRIBUTE",
    "WATCH_INDEX_VALUE",
    "AlertRecord",
    "Attempt",
    "DeployLockRecord",
    "HistoryRecord",
    "Item",
    "PauseAction",
    "PauseEvent",
    "PauseMarker",
    "RunLock",
    "RunRecord",
    "RunStatus",
    "Trigger",
    "WatchStart",
    "alert_sort_key",
    "backfill_run_id",
    "create_table",
    "duplicate_run_id",
    "event_run_id",
    "from_item",
    "is_run_id",
    "iso",
    "item_key",
    "new_run_id",
    "parse_iso",
    "scheduled_run_id",
    "table_definition",
    "time_key",
    "to_item",
]
