"""``jobctl audit``: did every promised run happen? Compares the fire times a job's schedule
promised in a window (the same schedule engine as ``jobctl next``; from the job's deploy time
on) with the run records in the history table, and classifies each fire time.

Flow per job: live trigger (enabled? since when?) ─▶ one bounded Query of the window (runs and
pause events) ─▶ fire times ─▶ ``classify`` (pure) ─▶ ``JobAudit``. The CLI renders the audits
and turns ``AuditReport.exit_code`` into the process exit code (0 clean, 3 problems).

Many jobs: the Scheduler jobs' triggers come from one listing of the namespace's schedule group
(100 per call, its owner checked once) instead of two calls per job (``listed_schedules``), and
``AUDIT_WORKERS`` jobs are audited at a time. A job's grace is ``--grace`` plus its
``start_window`` (Scheduler may start it up to that late on purpose).

When was a job deployed? Scheduler schedules report their CreationDate. EventBridge rules do
not, so for them the deploy time is the earlier of the function's LastModified (it existed at
least since then) and the oldest time its history proves it existed (a scheduled run's fire
time, a pause, a run's start; never a backfill's ``scheduled_for``, which may predate the job). That can
only be later than the true deploy time, so audit may miss a miss right after a deploy but
never blames a job for fire times before it existed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cronplane.aws.client import AwsCallError
from cronplane.aws.kinds import TriggerKind, trigger_kind
from cronplane.errors import AwsError
from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest
from cronplane.ops import matching
from cronplane.ops.items import WindowItem, earliest_existence, read_window
from cronplane.ops.matching import (
    PROBLEMS,
    FireCheck,
    FireOutcome,
    PausePeriod,
    UnmatchedRun,
    classify,
    effective_status,
    pause_periods,
)
from cronplane.ops.pause import read_marker
from cronplane.ops.switch import TriggerState, expected_kind, find_trigger
from cronplane.runtime.schema import PauseEvent, RunRecord

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient

DEFAULT_GRACE_SECONDS = 120
NOT_DEPLOYED_NOTE = "not deployed: no EventBridge rule or Scheduler schedule found (run `jobctl deploy`)"
EXIT_CLEAN = 0
EXIT_PROBLEMS = 3
AUDIT_WORKERS = 8  # jobs audited at a time (each a few calls, mostly waiting)
SCHEDULES_PER_PAGE = 100  # ListSchedules' largest MaxResults


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

    def count(self, outcome: FireOutcome) -> int:
        return sum(1 for c in self.checks if c.outcome is outcome)

    @property
    def counts(self) -> dict[str, int]:
        return {o.value: self.count(o) for o in FireOutcome if self.count(o)}

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

    def total(self, outcome: FireOutcome) -> int:
        return sum(j.count(outcome) for j in self.jobs)

    @property
    def verdict(self) -> str:
        expected = sum(len(j.checks) - j.count(FireOutcome.PAUSED) - j.count(FireOutcome.DISABLED) for j in self.jobs)
        ok = self.total(FireOutcome.OK) + self.total(FireOutcome.LATE)
        noted = (FireOutcome.LATE, FireOutcome.SKIPPED, FireOutcome.RUNNING, FireOutcome.PENDING, FireOutcome.PAUSED)
        extras = [f"{self.total(o)} {o.value}" for o in noted if self.total(o)]
        undeployed = [j.job for j in self.jobs if j.trigger is None and j.note]
        tail = f" ({', '.join(extras)})" if extras else ""
        if self.exit_code == EXIT_CLEAN:
            return f"OK: {ok} of {expected} expected runs succeeded in {len(self.jobs)} job(s){tail}"
        parts = [
            f"{self.total(o)} {o.value}"
            for o in (FireOutcome.MISSED, FireOutcome.FAILED, FireOutcome.TIMED_OUT, FireOutcome.LOST)
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
    jobs = [manifest.job(name) for name in job_names]
    known = listed_schedules(clients, manifest, jobs)

    def one(job: Job) -> JobAudit:
        return audit_job(
            clients, manifest, job, since=since, until=until, now=now, grace_seconds=grace_seconds, known=known
        )

    with ThreadPoolExecutor(max_workers=max(1, min(AUDIT_WORKERS, len(jobs)))) as pool:
        audits = tuple(pool.map(one, jobs))
    return AuditReport(since, until, grace_seconds, audits, clients.operation_counts())


def listed_schedules(clients: AwsClient, manifest: Manifest, jobs: list[Job]) -> dict[str, TriggerState]:
    """The live schedules of the ``jobs`` deploy puts on Scheduler, by job, from one listing of
    the namespace's group, when that costs fewer calls than reading each (a GetSchedule and the
    group's tags per job). Empty when it does not, or when there is no group: then each job's
    trigger is looked for as ``find_trigger`` does."""
    on_scheduler = {
        names.schedule_name(manifest.namespace, job.name): job.name
        for job in jobs
        if expected_kind(manifest, job) is TriggerKind.SCHEDULE
    }
    in_group = sum(1 for job in manifest.jobs if expected_kind(manifest, job) is TriggerKind.SCHEDULE)
    if 2 * len(on_scheduler) <= 1 + -(-in_group // SCHEDULES_PER_PAGE):
        return {}
    group = names.schedule_group(manifest.namespace)
    try:
        listed = clients.paginate(
            "scheduler", "list_schedules", "Schedules", GroupName=group, MaxResults=SCHEDULES_PER_PAGE
        )
    except AwsCallError as exc:
        if exc.not_found:
            return {}
        raise
    states = {
        on_scheduler[entry["Name"]]: TriggerState(
            TriggerKind.SCHEDULE,
            entry["Name"],
            group,
            entry.get("State") == "ENABLED",
            entry["CreationDate"].astimezone(UTC) if isinstance(entry.get("CreationDate"), datetime) else None,
            entry.get("Arn", ""),
        )
        for entry in listed
        if entry.get("Name") in on_scheduler
    }
    if states:  # a schedule is whoever's its group is: one check for them all
        kind, first = trigger_kind(TriggerKind.SCHEDULE), next(iter(states.values()))
        names.check_owner(
            kind.trigger_label(first), manifest.namespace, kind.trigger_owner_tags(clients, first), doing="act on it"
        )
    return states


def audit_job(
    clients: AwsClient,
    manifest: Manifest,
    job: Job,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
    known: Mapping[str, TriggerState] | None = None,
) -> JobAudit:
    """One job's audit; ``known``: live triggers already read (``listed_schedules``), by job."""
    trigger = (known or {}).get(job.name) or find_trigger(clients, manifest, job)
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
        disabled = tuple(FireCheck(t, FireOutcome.DISABLED, note="enabled: false in the manifest") for t in fire_times)
        return JobAudit(job.name, since, until, trigger, deployed_at, basis, disabled, paused=tuple(periods))
    drift = "" if trigger.enabled or periods else f"{trigger.label} is disabled, but not by `jobctl pause`"
    checks, unmatched = classify(
        fire_times,
        runs,
        periods,
        grace_seconds=grace_seconds + job.start_window * 60,
        now=now,
        since=since,
        until=until,
        deployed_at=deployed_at,
    )
    if drift:
        checks = [replace(c, note=drift) if c.outcome is FireOutcome.MISSED else c for c in checks]
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
    """``matching.rate_anchor`` for a manifest job."""
    return matching.rate_anchor(job.schedule, runs, deployed_at, since)


# The matching engine's names, handed on: audit is where the ops commands and the views find them.
__all__ = [
    "PROBLEMS",
    "AuditReport",
    "FireCheck",
    "FireOutcome",
    "JobAudit",
    "UnmatchedRun",
    "audit",
    "audit_job",
    "audit_window",
    "classify",
    "deploy_time",
    "effective_status",
    "rate_anchor",
]
