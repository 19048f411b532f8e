"""The matching engine of ``jobctl audit``, ``backfill``, ``report`` and the watchdog: a job's
promised fire times and its run records in, one ``FireCheck`` per fire time out (pure; no I/O).

Which runs answer a fire time (its scheduled and backfill runs, DLQ retries of them), what their
statuses add up to (ok, late, missed, failed, timed out, lost, skipped, running, pending), and
which stretches of time a ``jobctl pause`` covered. ``ops.audit`` reads the window and the
trigger and hands them here; ``ops.watchdog`` reads the same items inside its Lambda.

Standard library, the runtime's schema and ``runs.status`` only: the watchdog's zip ships this
module, and Lambda has nothing else (``tests/unit/test_watchdog_build.py`` holds that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from cronplane.runs import status as run_status
from cronplane.runtime.schema import (
    PauseAction,
    PauseEvent,
    PauseMarker,
    RunRecord,
    RunStatus,
    Trigger,
    iso,
    parse_iso,
    time_key,
)

if TYPE_CHECKING:
    from cronplane.schedule.expression import Schedule


# What audit, backfill and the watchdog read of each item: runs' matching fields and pause
# events' fields. Leaving out results, attempts and tracebacks keeps the pages small on the wire (DynamoDB
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


class FireOutcome(str, Enum):
    OK = "ok"
    LATE = "late"  # succeeded, but started more than the grace after its fire time
    MISSED = "missed"  # no run at all
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LOST = "lost"  # running past its deadline: the function died without a final record
    SKIPPED = "skipped"  # concurrency: forbid yielded to a run still going
    RUNNING = "running"
    PENDING = "pending"  # fire time within the grace of now: its run may not be recorded yet
    PAUSED = "paused"  # fell in a `jobctl pause` period
    DISABLED = "disabled"  # the manifest says enabled: false

    @property
    def is_problem(self) -> bool:
        return self in PROBLEMS


# What makes the audit exit 3 (a timeout is a failure).
PROBLEMS = frozenset({FireOutcome.MISSED, FireOutcome.FAILED, FireOutcome.TIMED_OUT, FireOutcome.LOST})
_STATUS_OUTCOME = {
    RunStatus.FAILED: FireOutcome.FAILED,
    RunStatus.TIMED_OUT: FireOutcome.TIMED_OUT,
    RunStatus.LOST: FireOutcome.LOST,
    RunStatus.SKIPPED: FireOutcome.SKIPPED,
}


@dataclass(frozen=True)
class FireCheck:
    fire_time: datetime
    outcome: FireOutcome
    run_id: str | None = None
    trigger: str | None = None
    started_at: str | None = None
    delay_seconds: float | None = None  # started_at - fire time
    note: str = ""


@dataclass(frozen=True)
class UnmatchedRun:
    """A run with no fire time of the window: manual runs, DLQ retries, or scheduled runs of
    an older schedule. Listed for the record, never a problem."""

    run_id: str
    trigger: str
    status: str
    started_at: str | None
    note: str


def rate_anchor(
    schedule: Schedule, runs: list[RunRecord], deployed_at: datetime | None, since: datetime
) -> datetime | None:
    """rate() fires every N units from the trigger's creation (first at creation + N). The
    job's own scheduled runs show that phase exactly; without any, the deploy time is the best
    guess. The anchor handed on is a time of that phase before the window."""
    if schedule.kind != "rate":
        return None
    interval = schedule.min_interval_seconds
    for run in runs:
        if interval and run.trigger == Trigger.SCHEDULE.value and run.scheduled_for:
            fired = parse_iso(run.scheduled_for)
            periods = int((fired - since).total_seconds() // interval) + 1
            return fired - timedelta(seconds=interval * periods)
    return deployed_at.replace(second=0, microsecond=0) if deployed_at else None


def effective_status(record: RunRecord, now: datetime) -> RunStatus:
    """The status a person should see (``jobctl history``'s rule: running past the deadline
    is lost); an unknown stored status counts as a failure."""
    try:
        return RunStatus(run_status.effective_status(record, now))
    except ValueError:
        return RunStatus.FAILED


def classify(
    fire_times: list[datetime],
    runs: list[RunRecord],
    periods: list[PausePeriod],
    *,
    grace_seconds: int,
    now: datetime,
    since: datetime,
    until: datetime,
    deployed_at: datetime | None = None,
) -> tuple[list[FireCheck], list[UnmatchedRun]]:
    """Match each fire time with its runs (pure). A fire time's runs are the scheduled and
    backfill runs whose ``scheduled_for`` is that time, plus DLQ retries of those runs."""
    by_fire: dict[str, list[RunRecord]] = {}
    retries: dict[str, list[RunRecord]] = {}
    for run in runs:
        if run.status == RunStatus.DUPLICATE.value:
            continue  # a second delivery of a firing that has its own record
        if run.trigger == Trigger.RETRY.value and run.retry_of:
            retries.setdefault(run.retry_of, []).append(run)
        elif run.trigger in (Trigger.SCHEDULE.value, Trigger.BACKFILL.value) and run.scheduled_for:
            by_fire.setdefault(time_key(parse_iso(run.scheduled_for)), []).append(run)
    # Retried run ids by the fire time their id names (once, not per fire time: a week of a
    # per-minute job is 10,080 fire times).
    retried_ids: dict[str, set[str]] = {}
    for run_id in retries:
        key = _fire_key(run_id)
        if key is not None:
            retried_ids.setdefault(key, set()).add(run_id)
    used: set[str] = set()
    checks = []
    for fire in fire_times:
        key = time_key(fire)
        candidates = list(by_fire.get(key, []))
        # Retries of this fire time's runs, and of a firing that never got a record (a DLQ
        # replay of an EventBridge delivery failure points at the run id it would have had).
        retried = {run.run_id for run in candidates} | retried_ids.get(key, set())
        for run_id in sorted(retried):
            candidates.extend(retries.get(run_id, []))
        used.update(r.run_id for r in candidates)
        checks.append(_check(fire, candidates, periods, grace_seconds, now))
    unmatched = [
        _unmatched(r, now, deployed_at)
        for r in runs
        if r.run_id not in used and r.status != RunStatus.DUPLICATE.value and _in_window(r, since, until)
    ]
    return checks, unmatched


_REDO_TRIGGERS = (Trigger.BACKFILL.value, Trigger.RETRY.value)
_FIRE_RUN_ID = re.compile(r"^(\d{8}T\d{6}Z)-(?:[0-9a-f]{8}|backfill)$")  # scheduled / backfill ids


def _fire_key(run_id: str) -> str | None:
    """The fire time key of a scheduled or backfill run id, None for any other id (manual and
    retry ids carry the time they were started, with an m / r mark that is not hex)."""
    match = _FIRE_RUN_ID.match(run_id)
    return match.group(1) if match is not None else None


def _check(
    fire: datetime, runs: list[RunRecord], periods: list[PausePeriod], grace_seconds: int, now: datetime
) -> FireCheck:
    statuses = [(run, effective_status(run, now)) for run in runs]
    # A backfill or retry that yielded to an overlapping run did not run the fire time: "skipped"
    # is the schedule's own overlap rule, it must not hide a miss or a failure.
    yielded = [run for run, status in statuses if status is RunStatus.SKIPPED and run.trigger in _REDO_TRIGGERS]
    statuses = [(run, status) for run, status in statuses if run not in yielded]
    if not statuses:
        paused = next((p for p in periods if p.covers(fire)), None)
        if paused is not None:
            return FireCheck(fire, FireOutcome.PAUSED, note=f"paused by {paused.actor}")
        if now < fire + timedelta(seconds=grace_seconds):
            return FireCheck(fire, FireOutcome.PENDING, note="within the grace period")
        if yielded:
            last = max(yielded, key=lambda r: r.started_at or "")
            note = f"{last.trigger} run was skipped (yielded to {last.yielded_to or 'an overlapping run'})"
            return FireCheck(
                fire,
                FireOutcome.MISSED,
                last.run_id,
                last.trigger,
                last.started_at,
                _delay(fire, last),
                note,
            )
        return FireCheck(fire, FireOutcome.MISSED, note="no run recorded")
    succeeded = [run for run, status in statuses if status is RunStatus.SUCCEEDED]
    if succeeded:
        run = min(succeeded, key=lambda r: r.started_at or "")
        delay = _delay(fire, run)
        if run.trigger == Trigger.BACKFILL.value:
            return _found(fire, FireOutcome.OK, run, delay, "backfilled")
        if run.trigger == Trigger.RETRY.value:
            return _found(fire, FireOutcome.OK, run, delay, f"recovered by retry of {run.retry_of}")
        if delay is not None and delay > grace_seconds:
            return _found(
                fire, FireOutcome.LATE, run, delay, f"started {delay:.0f}s after its time (grace {grace_seconds}s)"
            )
        return _found(fire, FireOutcome.OK, run, delay, "")
    running = [run for run, status in statuses if not status.is_final]
    if running:
        return _found(fire, FireOutcome.RUNNING, running[0], _delay(fire, running[0]), "")
    # No success: the latest attempt at this fire time says what went wrong.
    run, status = max(statuses, key=lambda rs: rs[0].started_at or "")
    outcome = _STATUS_OUTCOME.get(status, FireOutcome.FAILED)
    note = str(run.error or "")[:200]
    if outcome is FireOutcome.LOST and not note:
        note = "still running past its deadline: the function died without a final record (see `jobctl dlq`)"
    if outcome is FireOutcome.SKIPPED and run.yielded_to:
        note = f"yielded to {run.yielded_to}"
    return _found(fire, outcome, run, _delay(fire, run), note)


def _found(fire: datetime, outcome: FireOutcome, run: RunRecord, delay: float | None, note: str) -> FireCheck:
    return FireCheck(fire, outcome, run.run_id, run.trigger, run.started_at, delay, note)


def _delay(fire: datetime, run: RunRecord) -> float | None:
    started = run.started_at
    return (parse_iso(started) - fire).total_seconds() if started else None


def _in_window(run: RunRecord, since: datetime, until: datetime) -> bool:
    moment = run.scheduled_for or run.started_at
    return moment is None or since < parse_iso(moment) <= until


def _unmatched(run: RunRecord, now: datetime, deployed_at: datetime | None = None) -> UnmatchedRun:
    # The runtime stores absent fields as NULL, so `or`, not a .get default.
    trigger = str(run.trigger or "?")
    status = effective_status(run, now).value
    scheduled = parse_iso(run.scheduled_for) if run.scheduled_for else None
    if (
        trigger in (Trigger.SCHEDULE.value, Trigger.BACKFILL.value)
        and scheduled
        and deployed_at
        and scheduled < deployed_at
    ):
        # Audit counts fire times from the deploy on; a backfill of older times is history.
        what = "backfill of" if trigger == Trigger.BACKFILL.value else "scheduled for"
        note = f"{what} {iso(scheduled)}, before the job was live (not audited)"
        return UnmatchedRun(run.run_id, trigger, status, run.started_at, note)
    notes = {
        Trigger.MANUAL.value: f"manual run by {run.triggered_by or 'unknown'}",
        Trigger.RETRY.value: f"retry of {run.retry_of or '?'}",
        Trigger.BACKFILL.value: "backfill of a time the schedule does not promise",
        Trigger.SCHEDULE.value: "scheduled for a time the current schedule does not promise",
    }
    return UnmatchedRun(run.run_id, trigger, status, run.started_at, notes.get(trigger, ""))


# -- pauses ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PausePeriod:
    start: datetime
    end: datetime | None  # None: still paused
    actor: str
    reason: str | None = None

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


def pause_periods(
    items: Iterable[RunRecord | PauseEvent], marker: PauseMarker | None, since: datetime, until: datetime
) -> list[PausePeriod]:
    """Paused stretches of [since, until] from the pause / resume events read with the window
    (``items`` may hold runs too) and the current marker. A window that opens with a resume, or
    has no events while the marker is present, started out paused."""
    events = sorted(
        (i for i in items if isinstance(i, PauseEvent) and i.action in (PauseAction.PAUSE, PauseAction.RESUME)),
        key=lambda e: (e.at, e.run_id),
    )
    periods: list[PausePeriod] = []
    start: datetime | None = None
    actor, reason = "unknown", None
    if events and events[0].action == PauseAction.RESUME:
        start, actor = since, "before the window"
    elif not events and marker is not None and marker.at_time <= until:
        start, actor, reason = max(since, marker.at_time), marker.actor, marker.reason
    for event in events:
        if event.action == PauseAction.PAUSE and start is None:
            start, actor, reason = event.at_time, event.actor, event.reason
        elif event.action == PauseAction.RESUME and start is not None:
            periods.append(PausePeriod(start, event.at_time, actor, reason))
            start = None
    if start is not None:
        periods.append(PausePeriod(start, None, actor, reason))
    return periods
