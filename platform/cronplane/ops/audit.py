"""``jobctl audit``: did every promised run happen? Compares the fire times a job's schedule
promised in a window (the same schedule engine as ``jobctl next``; from the job's deploy time
on) with the run records in the history table, and classifies each fire time.

Flow per job: live trigger (enabled? since when?) ─▶ one bounded Query of the window (runs and
pause events) ─▶ fire times ─▶ ``classify`` (pure) ─▶ ``JobAudit``. The CLI renders the audits
and turns ``AuditReport.exit_code`` into the process exit code (0 clean, 3 problems).

When was a job deployed? Scheduler schedules report their CreationDate. EventBridge rules do
not, so for them the deploy time is the earlier of the function's LastModified (it existed at
least since then) and the oldest time its history proves it existed (a scheduled run's fire
time, a pause, a run's start; never a backfill's ``scheduled_for``, which may predate the job). That can
only be later than the true deploy time, so audit may miss a miss right after a deploy but
never blames a job for fire times before it existed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from cronplane.aws.client import AwsCallError
from cronplane.errors import AwsError
from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest
from cronplane.ops.items import WindowItem, earliest_existence, read_window
from cronplane.ops.pause import PausePeriod, pause_periods, read_marker
from cronplane.ops.switch import TriggerState, find_trigger
from cronplane.runs import history
from cronplane.runtime.schema import PauseEvent, RunRecord, RunStatus, Trigger, iso, parse_iso, time_key

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient

DEFAULT_GRACE_SECONDS = 120
NOT_DEPLOYED_NOTE = "not deployed: no EventBridge rule or Scheduler schedule found (run `jobctl deploy`)"
EXIT_CLEAN = 0
EXIT_PROBLEMS = 3


class Outcome(str, Enum):
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
PROBLEMS = frozenset({Outcome.MISSED, Outcome.FAILED, Outcome.TIMED_OUT, Outcome.LOST})
_STATUS_OUTCOME = {
    RunStatus.FAILED: Outcome.FAILED,
    RunStatus.TIMED_OUT: Outcome.TIMED_OUT,
    RunStatus.LOST: Outcome.LOST,
    RunStatus.SKIPPED: Outcome.SKIPPED,
}


@dataclass(frozen=True)
class FireCheck:
    fire_time: datetime
    outcome: Outcome
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


@dataclass(frozen=True)
class JobAudit:
    job: str
    since: datetime
    until: datetime
    trigger: TriggerState | None
    deployed_at: datetime | None
    deployed_basis: str  # where deployed_at came from
    checks: tuple[FireCheck, ...] = ()
    unmatched: tuple[UnmatchedRun, ...] = ()
    paused: tuple[PausePeriod, ...] = ()
    note: str = ""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for c in self.checks if c.outcome is outcome)

    @property
    def counts(self) -> dict[str, int]:
        return {o.value: self.count(o) for o in Outcome if self.count(o)}

    @property
    def problems(self) -> int:
        undeployed = 1 if self.trigger is None and self.note else 0
        return sum(1 for c in self.checks if c.outcome.is_problem) + undeployed


@dataclass(frozen=True)
class AuditReport:
    since: datetime
    until: datetime
    grace_seconds: int
    jobs: tuple[JobAudit, ...]
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_PROBLEMS if any(j.problems for j in self.jobs) else EXIT_CLEAN

    def total(self, outcome: Outcome) -> int:
        return sum(j.count(outcome) for j in self.jobs)

    @property
    def verdict(self) -> str:
        expected = sum(len(j.checks) - j.count(Outcome.PAUSED) - j.count(Outcome.DISABLED) for j in self.jobs)
        ok = self.total(Outcome.OK) + self.total(Outcome.LATE)
        noted = (Outcome.LATE, Outcome.SKIPPED, Outcome.RUNNING, Outcome.PENDING, Outcome.PAUSED)
        extras = [f"{self.total(o)} {o.value}" for o in noted if self.total(o)]
        undeployed = [j.job for j in self.jobs if j.trigger is None and j.note]
        tail = f" ({', '.join(extras)})" if extras else ""
        if self.exit_code == EXIT_CLEAN:
            return f"OK: {ok} of {expected} expected runs succeeded in {len(self.jobs)} job(s){tail}"
        parts = [
            f"{self.total(o)} {o.value}"
            for o in (Outcome.MISSED, Outcome.FAILED, Outcome.TIMED_OUT, Outcome.LOST)
            if self.total(o)
        ]
        if undeployed:
            parts.append(f"{len(undeployed)} not deployed ({', '.join(undeployed)})")
        return f"PROBLEMS: {', '.join(parts)}; {ok} of {expected} expected runs succeeded{tail}"


def audit(
    clients: AwsClient,
    manifest: Manifest,
    job_names: Iterable[str],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
) -> AuditReport:
    audits = tuple(
        audit_job(clients, manifest, manifest.job(name), since=since, until=until, now=now, grace_seconds=grace_seconds)
        for name in job_names
    )
    return AuditReport(since, until, grace_seconds, audits, clients.operation_counts())


def audit_job(
    clients: AwsClient,
    manifest: Manifest,
    job: Job,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
) -> JobAudit:
    trigger = find_trigger(clients, manifest, job)
    if trigger is None:
        return JobAudit(job.name, since, until, None, None, "", note=NOT_DEPLOYED_NOTE)
    items = read_window(clients.dynamodb, names.history_table(manifest.namespace), job.name, since, until, now)
    return audit_window(
        clients, manifest, job, trigger, items, since=since, until=until, now=now, grace_seconds=grace_seconds
    )


def audit_window(
    clients: AwsClient,
    manifest: Manifest,
    job: Job,
    trigger: TriggerState,
    items: list[WindowItem],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
) -> JobAudit:
    """``audit_job`` on a window already read (``read_window``'s items): ``jobctl report`` reads
    whole records in the same one Query per page and classifies them here."""
    table = names.history_table(manifest.namespace)
    deployed_at, basis = deploy_time(clients, manifest, job, trigger, since)
    periods: list[PausePeriod] = []
    if not trigger.enabled or any(isinstance(i, PauseEvent) for i in items):
        marker = read_marker(clients.dynamodb, table, job.name) if not trigger.enabled else None
        periods = pause_periods(items, marker, since, until)
    # A fire time at the deploy time itself counts (the window is since < t <= until).
    start = max(since, deployed_at - timedelta(seconds=1)) if deployed_at else since
    runs = [i for i in items if isinstance(i, RunRecord) and i.status]
    anchor = rate_anchor(job, runs, deployed_at, since)
    fire_times = [t.astimezone(UTC) for t in job.schedule.fire_times_between(start, until, anchor=anchor)]
    if not job.enabled:
        disabled = tuple(FireCheck(t, Outcome.DISABLED, note="enabled: false in the manifest") for t in fire_times)
        return JobAudit(job.name, since, until, trigger, deployed_at, basis, disabled, paused=tuple(periods))
    drift = "" if trigger.enabled or periods else f"{trigger.label} is disabled, but not by `jobctl pause`"
    checks, unmatched = classify(
        fire_times,
        runs,
        periods,
        grace_seconds=grace_seconds,
        now=now,
        since=since,
        until=until,
        deployed_at=deployed_at,
    )
    if drift:
        checks = [replace(c, note=drift) if c.outcome is Outcome.MISSED else c for c in checks]
    return JobAudit(
        job.name, since, until, trigger, deployed_at, basis, tuple(checks), tuple(unmatched), tuple(periods), note=drift
    )


def deploy_time(
    clients: AwsClient, manifest: Manifest, job: Job, trigger: TriggerState, since: datetime
) -> tuple[datetime | None, str]:
    """Since when the job is live, at the latest (see the module docstring), and from what."""
    if trigger.created is not None:
        return trigger.created, "schedule CreationDate"
    function = names.function_name(manifest.namespace, job.name)
    try:
        config = clients.lambda_.get_function_configuration(FunctionName=function)
        modified: datetime | None = _parse_lambda_time(config["LastModified"])
    except AwsCallError as exc:
        if not exc.not_found:
            raise
        modified = None
    if modified is not None and modified <= since:
        return modified, "function LastModified"
    # The function changed inside the window (or is gone): the job's oldest history item may be older.
    oldest_time = earliest_existence(clients.dynamodb, names.history_table(manifest.namespace), job.name)
    candidates = [(t, b) for t, b in ((modified, "function LastModified"), (oldest_time, "oldest history item")) if t]
    if not candidates:
        return None, "unknown"
    return min(candidates, key=lambda c: c[0])


def _parse_lambda_time(text: str) -> datetime:
    """Lambda's LastModified: ``2026-11-27T09:00:00.000+0000`` on AWS; emulators send other
    fraction lengths and ``Z``. Seconds are all audit needs."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)?$", text.strip())
    if not match:
        raise AwsError(f"unexpected Lambda LastModified {text!r}")
    zone = (match.group(2) or "Z").replace("Z", "+00:00")
    if len(zone) == 5:  # +0000
        zone = f"{zone[:3]}:{zone[3:]}"
    return datetime.fromisoformat(match.group(1) + zone).astimezone(UTC)


def rate_anchor(job: Job, runs: list[RunRecord], deployed_at: datetime | None, since: datetime) -> datetime | None:
    """rate() fires every N units from the trigger's creation (first at creation + N). The
    job's own scheduled runs show that phase exactly; without any, the deploy time is the best
    guess. The anchor handed on is a time of that phase before the window."""
    if job.schedule.kind != "rate":
        return None
    interval = job.schedule.min_interval_seconds
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
        return RunStatus(history.effective_status(record, now))
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
            return FireCheck(fire, Outcome.PAUSED, note=f"paused by {paused.actor}")
        if now < fire + timedelta(seconds=grace_seconds):
            return FireCheck(fire, Outcome.PENDING, note="within the grace period")
        if yielded:
            last = max(yielded, key=lambda r: r.started_at or "")
            note = f"{last.trigger} run was skipped (yielded to {last.yielded_to or 'an overlapping run'})"
            return FireCheck(
                fire,
                Outcome.MISSED,
                last.run_id,
                last.trigger,
                last.started_at,
                _delay(fire, last),
                note,
            )
        return FireCheck(fire, Outcome.MISSED, note="no run recorded")
    succeeded = [run for run, status in statuses if status is RunStatus.SUCCEEDED]
    if succeeded:
        run = min(succeeded, key=lambda r: r.started_at or "")
        delay = _delay(fire, run)
        if run.trigger == Trigger.BACKFILL.value:
            return _found(fire, Outcome.OK, run, delay, "backfilled")
        if run.trigger == Trigger.RETRY.value:
            return _found(fire, Outcome.OK, run, delay, f"recovered by retry of {run.retry_of}")
        if delay is not None and delay > grace_seconds:
            return _found(
                fire, Outcome.LATE, run, delay, f"started {delay:.0f}s after its time (grace {grace_seconds}s)"
            )
        return _found(fire, Outcome.OK, run, delay, "")
    running = [run for run, status in statuses if not status.is_final]
    if running:
        return _found(fire, Outcome.RUNNING, running[0], _delay(fire, running[0]), "")
    # No success: the latest attempt at this fire time says what went wrong.
    run, status = max(statuses, key=lambda rs: rs[0].started_at or "")
    outcome = _STATUS_OUTCOME.get(status, Outcome.FAILED)
    note = str(run.error or "")[:200]
    if outcome is Outcome.LOST and not note:
        note = "still running past its deadline: the function died without a final record (see `jobctl dlq`)"
    if outcome is Outcome.SKIPPED and run.yielded_to:
        note = f"yielded to {run.yielded_to}"
    return _found(fire, outcome, run, _delay(fire, run), note)


def _found(fire: datetime, outcome: Outcome, run: RunRecord, delay: float | None, note: str) -> FireCheck:
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
