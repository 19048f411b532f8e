"""``jobctl report``: the run grid. One row per job (grouped by team), one cell per fire time
the schedule promised in the window (``audit``'s engine and classification, so a slot with no
run is a cell too: ``missed``), plus a cell for every manual, retry, backfill and duplicate run
at the time it started. Cells carry a status (``CellStatus``) and point at the run record shown
in full when a cell is opened.

Reads per job: the live trigger, one Query per ~1 MB page of the window with whole items
(attempts and tracebacks are what the detail view shows), and audit's deploy-time probe when
the trigger does not say when it was created. Never a Scan. The views (``cli/views/report_*``)
turn the ``Grid`` into HTML or text; nothing here formats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest
from cronplane.ops.audit import (
    DEFAULT_GRACE_SECONDS,
    NOT_DEPLOYED_NOTE,
    FireCheck,
    FireOutcome,
    JobAudit,
    audit_window,
    effective_status,
    rate_anchor,
)
from cronplane.ops.items import read_window
from cronplane.ops.switch import find_trigger
from cronplane.runs.history import FINISHED, JobSummary, summarize
from cronplane.runtime.schema import RunRecord, RunStatus, Trigger, parse_iso

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient


class CellStatus(str, Enum):
    """What a cell of the grid shows. Slots (expected fire times) take audit's outcome; extra
    runs (manual, retry, backfill, duplicate) their own status."""

    SUCCEEDED = "succeeded"
    LATE = "late"  # succeeded, but started after the grace
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LOST = "lost"
    SKIPPED = "skipped"
    DUPLICATE = "duplicate"
    RUNNING = "running"
    RETRYING = "retrying"
    PENDING = "pending"  # the fire time is within the grace of now: its record may not exist yet
    MISSED = "missed"
    PAUSED = "paused"
    NOT_DEPLOYED = "not_deployed"

    @property
    def label(self) -> str:
        return "not yet deployed" if self is CellStatus.NOT_DEPLOYED else self.value.replace("_", " ")


_OUTCOME_STATUS = {
    FireOutcome.OK: CellStatus.SUCCEEDED,
    FireOutcome.LATE: CellStatus.LATE,
    FireOutcome.MISSED: CellStatus.MISSED,
    FireOutcome.FAILED: CellStatus.FAILED,
    FireOutcome.TIMED_OUT: CellStatus.TIMED_OUT,
    FireOutcome.LOST: CellStatus.LOST,
    FireOutcome.SKIPPED: CellStatus.SKIPPED,
    FireOutcome.RUNNING: CellStatus.RUNNING,
    FireOutcome.PENDING: CellStatus.PENDING,
    FireOutcome.PAUSED: CellStatus.PAUSED,
    FireOutcome.DISABLED: CellStatus.PAUSED,  # enabled: false in the manifest (the note says so)
}
# Runs that are not a fire time's own scheduled run get a cell of their own at their start.
_EXTRA_TRIGGERS = (Trigger.MANUAL.value, Trigger.RETRY.value, Trigger.BACKFILL.value)
_FAILURES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)


@dataclass(frozen=True)
class Cell:
    at: datetime  # the fire time of a slot; the start of an extra run
    status: CellStatus
    slot: bool  # True: a fire time the schedule promised; False: an extra run placed at its start
    run_id: str | None = None
    trigger: str | None = None
    note: str = ""


@dataclass(frozen=True)
class LastFailure:
    at: str  # when the failed run started (or was scheduled)
    run_id: str
    status: str
    error: str


@dataclass(frozen=True)
class JobRow:
    job: str
    team: str
    owner: str | None
    schedule: str  # in words
    timezone: str  # IANA name; the grid's day separators fall at its midnights
    cells: tuple[Cell, ...]
    runs: Mapping[str, RunRecord]  # every run read for the window, by run id
    summary: JobSummary
    durations: tuple[tuple[datetime, int], ...]  # (start, duration_ms) of finished runs, by start
    last_failure: LastFailure | None = None
    note: str = ""

    def count(self, status: CellStatus) -> int:
        return sum(1 for cell in self.cells if cell.status is status)


@dataclass(frozen=True)
class Grid:
    namespace: str
    since: datetime
    until: datetime
    generated_at: datetime
    rows: tuple[JobRow, ...]
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[CellStatus, int]:
        """Cells per status over every row, in ``CellStatus`` order, zeros included."""
        return {status: sum(row.count(status) for row in self.rows) for status in CellStatus}

    @property
    def teams(self) -> list[str]:
        return sorted({row.team for row in self.rows})

    @property
    def expected(self) -> int:
        return sum(1 for row in self.rows for cell in row.cells if cell.slot)


def select_jobs(manifest: Manifest, job_names: Iterable[str], team: str | None) -> list[Job]:
    """The jobs asked for (all of them by default), of ``team`` only when given; grouped by
    team, in manifest order within a team."""
    wanted = [manifest.job(name) for name in job_names] or list(manifest.jobs)
    if team is not None:
        wanted = [job for job in wanted if job.team == team]
    order = {job.name: index for index, job in enumerate(manifest.jobs)}
    return sorted(wanted, key=lambda job: (job.team, order[job.name]))


def build_grid(
    clients: AwsClient,
    manifest: Manifest,
    jobs: Iterable[Job],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
) -> Grid:
    rows = tuple(
        job_row(clients, manifest, job, since=since, until=until, now=now, grace_seconds=grace_seconds) for job in jobs
    )
    return Grid(manifest.namespace, since, until, now, rows, clients.operation_counts())


def job_row(
    clients: AwsClient,
    manifest: Manifest,
    job: Job,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
) -> JobRow:
    table = names.history_table(manifest.namespace)
    trigger = find_trigger(clients, manifest, job, doing="report on it")
    items = read_window(clients.dynamodb, table, job.name, since, until, now, attributes=None)
    runs = [item for item in items if isinstance(item, RunRecord) and item.status]
    by_id = {run.run_id: run for run in runs}
    if trigger is None:
        slots = [Cell(t, CellStatus.NOT_DEPLOYED, True, note=NOT_DEPLOYED_NOTE) for t in _fire_times(job, since, until)]
        note = NOT_DEPLOYED_NOTE
    else:
        audit = audit_window(
            clients, manifest, job, trigger, items, since=since, until=until, now=now, grace_seconds=grace_seconds
        )
        slots = _undeployed_slots(job, audit, runs, since) + [_slot(check, by_id, now) for check in audit.checks]
        note = audit.note
    in_window = [run for run in runs if _in_window(run.scheduled_for or run.started_at, since, until)]
    extras = [_extra(run, now) for run in runs if _is_extra(run) and _in_window(run.started_at, since, until)]
    cells = sorted(slots + extras, key=lambda cell: (cell.at, not cell.slot))
    return JobRow(
        job=job.name,
        team=job.team,
        owner=job.owner,
        schedule=job.schedule.describe(),
        timezone=job.timezone or "UTC",
        cells=tuple(cells),
        runs=by_id,
        summary=_summary(job.name, in_window, now),
        durations=_durations(in_window, now),
        last_failure=_last_failure(in_window, now),
        note=note,
    )


def _fire_times(job: Job, start: datetime, end: datetime, anchor: datetime | None = None) -> list[datetime]:
    return [t.astimezone(UTC) for t in job.schedule.fire_times_between(start, end, anchor=anchor)]


def _undeployed_slots(job: Job, audit: JobAudit, runs: list[RunRecord], since: datetime) -> list[Cell]:
    """Fire times of the window before the job was live: audit leaves them out; the grid shows
    them greyed, so a row's first week after a deploy does not look like missing cells."""
    deployed = audit.deployed_at
    if deployed is None or deployed <= since:
        return []
    anchor = rate_anchor(job, runs, deployed, since)
    first_counted = deployed - timedelta(seconds=1)  # audit counts a fire time at the deploy time
    note = f"before the job was deployed ({audit.deployed_basis}: {deployed:%Y-%m-%d %H:%M:%S}Z)"
    return [Cell(t, CellStatus.NOT_DEPLOYED, True, note=note) for t in _fire_times(job, since, first_counted, anchor)]


def _slot(check: FireCheck, runs: Mapping[str, RunRecord], now: datetime) -> Cell:
    status = _OUTCOME_STATUS[check.outcome]
    run = runs.get(check.run_id) if check.run_id else None
    if status is CellStatus.RUNNING and run is not None and effective_status(run, now) is RunStatus.RETRYING:
        status = CellStatus.RETRYING
    return Cell(check.fire_time, status, True, check.run_id, check.trigger, check.note)


def _is_extra(run: RunRecord) -> bool:
    return run.trigger in _EXTRA_TRIGGERS or run.status == RunStatus.DUPLICATE.value


def _extra(run: RunRecord, now: datetime) -> Cell:
    at = parse_iso(str(run.started_at or run.scheduled_for))
    status = CellStatus(effective_status(run, now).value)
    notes = {
        Trigger.MANUAL.value: f"manual run by {run.triggered_by or 'unknown'}",
        Trigger.RETRY.value: f"retry of {run.retry_of or '?'}",
        Trigger.BACKFILL.value: f"backfill of {run.scheduled_for or '?'}",
    }
    note = notes.get(str(run.trigger), "")
    if status is CellStatus.DUPLICATE:
        note = f"second delivery of {run.duplicate_of or 'a firing'} (not run again)"
    return Cell(at.astimezone(UTC), status, False, run.run_id, run.trigger, note)


def _in_window(moment: str | None, since: datetime, until: datetime) -> bool:
    """Runs of the window are those of its fire times (audit's rule), or started in it when
    they have none; the window's read also returns DLQ retries started after it. Extra cells
    sit at their start, so they need a start in the window."""
    return moment is not None and since < parse_iso(moment) <= until


def _summary(job: str, runs: list[RunRecord], now: datetime) -> JobSummary:
    found = summarize(runs, now)
    return found[0] if found else JobSummary(job, 0, 0, 0, None, None, None)


def _durations(runs: list[RunRecord], now: datetime) -> tuple[tuple[datetime, int], ...]:
    finished = [
        (parse_iso(run.started_at), run.duration_ms)
        for run in runs
        if run.started_at and run.duration_ms is not None and effective_status(run, now) in FINISHED
    ]
    return tuple(sorted(finished, key=lambda pair: pair[0]))


def _last_failure(runs: list[RunRecord], now: datetime) -> LastFailure | None:
    failed = [(run, effective_status(run, now)) for run in runs]
    failed = [(run, status) for run, status in failed if status in _FAILURES]
    if not failed:
        return None
    run, status = max(failed, key=lambda pair: pair[0].started_at or pair[0].scheduled_for or "")
    error = run.error or ("still running past its deadline" if status is RunStatus.LOST else "")
    return LastFailure(str(run.started_at or run.scheduled_for), run.run_id, status.value, error)
