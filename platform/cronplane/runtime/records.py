"""The run record and the history table's key layout, shared by the runtime (write side) and
``jobctl history / audit / run-now`` (read side). Standard library only.

Table ``{namespace}-history``:

- partition key ``job`` (S), sort key ``run_id`` (S). A run id starts with the firing's time in
  a sortable compact form, so one job's runs newest-first, or within a window, is one Query.
- GSI ``by-time`` (names.HISTORY_INDEX): partition key ``gsi_pk`` (always ``"run"`` on run
  records, absent elsewhere, so the index is sparse), sort key ``run_id``: all jobs' latest
  runs is one Query on it.
- TTL attribute ``ttl`` (epoch seconds).
- Non-run items live in the same table: events (pause / resume) in the job's partition with
  ``kind = "event"`` and a time-sortable sort key; locks with a sort key starting ``~`` (after
  every digit and letter, so they never fall inside a time-bounded Query).

A run record (written by ``cronplane.runtime.wrapper``; every field present, ``None`` stored as
NULL): ``job, run_id, kind="run", gsi_pk, namespace, trigger, scheduled_for, started_at,
finished_at, status, attempts, duration_ms, request_id, triggered_by, result, error, ttl,
deadline, function_name, invocation_id`` (unique per handler call: tells the wrapper's own
write, answered late, from a second delivery) and, when relevant, ``retry_of`` / ``yielded_to`` / ``duplicate_of`` /
``next_attempt`` (on ``retrying``). Times are ``iso()`` strings; ``result`` is the JSON text of the
job's return value, cut at 4 KB; ``error`` is ``"Type: message"``; each attempt is a map
``{attempt, started_at, request_id, duration_ms, error_type, error_message, traceback}``. A
duplicate delivery is its own item with run id ``<run id>~dup-<request id>`` (plus ``-<8 hex>``
when the same request id is delivered again). The lock item (``~lock``) holds ``holder`` (a run
id) and ``expires_at`` (epoch seconds: the holder's start + function timeout + 10 s).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import Enum

GSI_PK_VALUE = "run"
LOCK_SORT_KEY = "~lock"  # per-job overlap lock (concurrency: forbid)
DEPLOY_LOCK_JOB = "~deploy"  # partition of the namespace's deploy lock


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
