"""The rules of one watchdog pass, pure: a watched job's items (runs, pause events, alert
records, watch start) and the time in, what to record and send (``Step``) and what is open
(``OpenAlert``) out. ``ops.watchdog`` reads the items and carries the steps out.

- Findings: ``late`` / ``missed`` (a fire time with no run ``late_after`` / ``missed_after``
  after it, each plus the job's ``start_window``, matched by ``ops.matching.classify``, the engine of ``jobctl audit``; paused
  periods left out), ``lost`` (running past its deadline: ``runs.status``), ``failed`` /
  ``timed_out`` (already announced by the job's wrapper: recorded, not sent again). Only after
  the watch start (``WatchStart``), only the kinds the job's ``alerts.on`` names.
- Once per event: a finding with a record is done; one that an open alert of its episode covers
  (a later fire of the same kind; a ``missed`` covers ``late``) is neither recorded nor sent.
- An episode (the problem records after the last ``recovered``) ends when a run succeeds after
  all of its findings: one ``recovered``, sent when someone heard of the episode before.

Standard library and modules the watchdog's zip ships only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cronplane.manifest.watch_config import WatchedJob
from cronplane.ops.matching import FireOutcome, classify, pause_periods, rate_anchor
from cronplane.runs.status import effective_status, moment
from cronplane.runtime import alerts
from cronplane.runtime.schema import (
    AlertRecord,
    PauseEvent,
    PauseMarker,
    RunRecord,
    RunStatus,
    WatchStart,
    alert_sort_key,
    iso,
)

LATE, MISSED, LOST, FAILED, TIMED_OUT, RECOVERED = "late", "missed", "lost", "failed", "timed_out", "recovered"
PROBLEM_KINDS = (LOST, FAILED, TIMED_OUT, MISSED, LATE)  # the order a pass records them in
# An open alert of one of these kinds covers a later finding of the key's kind: one alert per episode.
COVERED_BY = {
    LATE: frozenset({LATE, MISSED}),
    MISSED: frozenset({MISSED}),
    LOST: frozenset({LOST}),
    FAILED: frozenset({FAILED, TIMED_OUT}),
    TIMED_OUT: frozenset({FAILED, TIMED_OUT}),
}
# How far back a pass looks beyond the job's grace: the room for a watchdog that did not run
# for a while. Older fire times are ``jobctl audit``'s.
WATCH_SLACK = timedelta(hours=1)
CLOCK_SKEW = timedelta(minutes=5)  # between the clocks that wrote a record and the watchdog's


@dataclass(frozen=True)
class WatchdogFinding:
    kind: str
    event: str  # the fire time (ISO) or the run id
    moment: datetime  # the fire time, or when the run started
    run: RunRecord | None = None


@dataclass(frozen=True)
class Step:
    """Findings of one kind to record, and (``told``) to send as one notification."""

    kind: str
    findings: tuple[WatchdogFinding, ...]
    told: bool
    by: str = "watchdog"  # "wrapper": the job's own failure notification told them already
    note: str | None = None


@dataclass(frozen=True)
class OpenAlert:
    """What is open for a job: one per kind, since its first event, and who was told."""

    job: str
    kind: str
    since: str
    events: tuple[str, ...]  # fire times or run ids, oldest first
    told: tuple[str, ...]  # routes that accepted (or, for failures, the routes the wrapper sends to)
    told_at: str | None
    by: str = "watchdog"
    pending: bool = False  # found, not alerted yet: the next watchdog pass sends it


@dataclass(frozen=True)
class JobWatch:
    """``observe``'s verdict on one job: what to write and send (``steps``), and what makes up
    its open episode (``open_alerts`` words it once the steps are done, or not)."""

    job: WatchedJob
    now: datetime
    watch: WatchStart
    starts_watch: bool  # this pass starts watching (first sight, or a new schedule)
    steps: tuple[Step, ...] = ()
    open_records: tuple[AlertRecord, ...] = ()  # the episode's records before this pass
    covered: tuple[WatchdogFinding, ...] = ()  # findings an open alert already covers
    recovered: bool = False  # the steps end the episode


@dataclass(frozen=True)
class JobItems:
    runs: tuple[RunRecord, ...] = ()
    events: tuple[PauseEvent, ...] = ()
    alerts: tuple[AlertRecord, ...] = ()
    watch: WatchStart | None = None
    # Sort keys of the watchdog's items read without the index attribute (written before the
    # index of alert records existed, or by someone else): ``ops.watchdog`` puts them back with it.
    unindexed: frozenset[str] = frozenset()


def lookback(job: WatchedJob) -> timedelta:
    """How far back a pass reads the job's runs: its graces (with its start window) + ``WATCH_SLACK``."""
    return timedelta(seconds=max(job.late_grace_s, job.missed_grace_s)) + WATCH_SLACK


def observe(job: WatchedJob, items: JobItems, marker: PauseMarker | None, now: datetime) -> JobWatch:
    # The job's own role may write anything in its partition: a watch start or an alert record
    # dated after now (which would silence it until then) is nobody's honest record.
    records = tuple(r for r in items.alerts if _plausible(r.moment or r.sent_at, now))
    watch = items.watch
    if watch is None or watch.schedule != job.fingerprint or not _plausible(watch.since, now):
        # First sight of the job (or of its new schedule): watched from now on.
        fresh = WatchStart(job.name, iso(now), job.fingerprint)
        return JobWatch(job, now, fresh, True, open_records=tuple(_open_records(records)))
    findings, successes = _findings(job, items, marker, now, watch)
    recorded = {r.sort_key for r in records}
    open_before = _open_records(records)
    closed_until = _last_recovery(records)
    earliest: dict[str, datetime] = {}
    for record in open_before:
        earliest[record.kind] = min(earliest.get(record.kind, record.moment_time), record.moment_time)
    steps: list[Step] = []
    covered: list[WatchdogFinding] = []
    for kind in PROBLEM_KINDS:
        group = [
            f
            for f in findings
            if f.kind == kind
            and alert_sort_key(f.kind, f.event) not in recorded
            and (closed_until is None or f.moment > closed_until)
        ]
        covering = [earliest[k] for k in COVERED_BY[kind] if k in earliest]
        new = [f for f in group if not covering or f.moment < min(covering)]
        covered += [f for f in group if f not in new]
        if new:
            by_wrapper = kind in alerts.WRAPPER_KINDS
            steps.append(Step(kind, tuple(new), told=not by_wrapper, by="wrapper" if by_wrapper else "watchdog"))
            earliest[kind] = min([*([earliest[kind]] if kind in earliest else []), *(f.moment for f in new)])
    moments = [r.moment_time for r in open_before] + [f.moment for s in steps for f in s.findings]
    success = max(successes, key=lambda r: _started(r) or now, default=None)
    started = _started(success) if success is not None else None
    if moments and success is not None and started is not None and started > max(moments):
        # Someone heard of this episode before this pass (an earlier alert, or the wrapper's
        # failure notice): tell them it is over. Otherwise the alerts of this pass say so.
        told_before = bool(open_before) or any(s.by == "wrapper" for s in steps)
        since = f"it has succeeded since: run {success.run_id} started {iso(started)}"
        steps = [replace(s, note=since) if s.told else s for s in steps]
        steps.append(Step(RECOVERED, (WatchdogFinding(RECOVERED, success.run_id, started, success),), told=told_before))
        return JobWatch(job, now, watch, False, tuple(steps), tuple(open_before), tuple(covered), recovered=True)
    return JobWatch(job, now, watch, False, tuple(steps), tuple(open_before), tuple(covered))


def _findings(
    job: WatchedJob, items: JobItems, marker: PauseMarker | None, now: datetime, watch: WatchStart
) -> tuple[list[WatchdogFinding], list[RunRecord]]:
    """Late and missed fire times (``classify`` with ``late_after`` + the start window as its
    grace), lost and failed runs, and the successes, all after the watch start."""
    watched_from = watch.since_time
    since = max(watched_from, now - lookback(job))
    runs = [r for r in items.runs if r.status]
    periods = pause_periods(items.events, marker, since, now)
    anchor = rate_anchor(job.schedule, runs, watched_from, since)
    fire_times = [t.astimezone(UTC) for t in job.schedule.fire_times_between(since, now, anchor=anchor)]
    checks, _ = classify(
        fire_times,
        runs,
        periods,
        grace_seconds=job.late_grace_s,
        now=now,
        since=since,
        until=now,
        deployed_at=watched_from,
    )
    missed_after = timedelta(seconds=job.missed_grace_s)
    findings = [
        WatchdogFinding(
            MISSED if now - check.fire_time >= missed_after else LATE, iso(check.fire_time), check.fire_time
        )
        for check in checks
        if check.outcome is FireOutcome.MISSED
    ]
    successes = []
    for run in runs:
        started = _started(run)
        if started is None or started <= watched_from:
            continue
        status = effective_status(run, now)
        if status in (LOST, FAILED, TIMED_OUT):
            findings.append(WatchdogFinding(status, run.run_id, started, run))
        elif status == RunStatus.SUCCEEDED.value:
            successes.append(run)
    return [f for f in findings if f.kind in job.on], successes


def _open_records(records: Iterable[AlertRecord]) -> list[AlertRecord]:
    """Problem records after the last ``recovered``: the open episode."""
    records = list(records)
    closed_until = _last_recovery(records)
    return [r for r in records if r.kind in COVERED_BY and (closed_until is None or r.moment_time > closed_until)]


def decisive_records(records: Iterable[AlertRecord], now: datetime) -> list[AlertRecord]:
    """The records a pass's decisions rest on: the last ``recovered`` and every record after it
    (older ones only name events that recovery closed)."""
    records = [r for r in records if _plausible(r.moment or r.sent_at, now)]
    closed_until = _last_recovery(records)
    return [r for r in records if closed_until is None or r.moment_time >= closed_until]


def _plausible(stamp: str, now: datetime) -> bool:
    """A stored time that can be true: readable, and not after now (beyond clock skew)."""
    when = moment(stamp)
    return when is not None and when <= now + CLOCK_SKEW


def _last_recovery(records: Iterable[AlertRecord]) -> datetime | None:
    return max((r.moment_time for r in records if r.kind == RECOVERED), default=None)


def _started(run: RunRecord | None) -> datetime | None:
    return None if run is None else moment(run.started_at or run.scheduled_for)


def open_alerts(watch: JobWatch, sent: Mapping[str, tuple[tuple[str, ...], str]] | None) -> list[OpenAlert]:
    """What is open for the job: one ``OpenAlert`` per kind, with the records of its episode,
    what this look found and who was told. ``sent``: what the pass sent, by kind (routes that
    accepted, when); None when it only looked (``jobctl alerts``): then a new finding is pending,
    unless an open alert covers it or the job's wrapper announced it."""
    if watch.recovered:
        return []
    job, records = watch.job, list(watch.open_records)
    new = [(f, s) for s in watch.steps for f in s.findings]
    told: dict[str, tuple[list[str], list[str]]] = {}  # kind -> (routes, when)
    for record in records:
        if record.told or record.by == "wrapper":
            routes, when = told.setdefault(record.kind, ([], []))
            routes += record.routes
            when.append(record.sent_at)
    for kind, (routes_sent, at) in (sent or {}).items():
        routes, when = told.setdefault(kind, ([], []))
        routes += routes_sent
        when.append(at)
    missed = {r.event for r in records if r.kind == MISSED} | {f.event for f, _ in new if f.kind == MISSED}
    missed |= {f.event for f in watch.covered if f.kind == MISSED}
    out = []
    for kind in PROBLEM_KINDS:
        events = {(r.moment_time, r.event) for r in records if r.kind == kind}
        events |= {(f.moment, f.event) for f, _ in new if f.kind == kind}
        events |= {(f.moment, f.event) for f in watch.covered if f.kind == kind}
        if kind == LATE:  # a fire time that is missed is not late too
            events = {(m, e) for m, e in events if e not in missed}
        if not events:
            continue
        routes = [r for k in sorted(COVERED_BY[kind]) for r in told.get(k, ([], []))[0]]
        when = [w for k in sorted(COVERED_BY[kind]) for w in told.get(k, ([], []))[1]]
        wrapper = kind in alerts.WRAPPER_KINDS
        if wrapper and not routes:
            routes = [str(r) for r in job.routes]  # the wrapper told them when the run ended
        ordered = sorted(events)
        out.append(
            OpenAlert(
                job.name,
                kind,
                iso(ordered[0][0]),
                tuple(event for _, event in ordered),
                tuple(dict.fromkeys(routes)),
                min(when, default=None),
                by="wrapper" if wrapper else "watchdog",
                pending=not routes,
            )
        )
    return out


def alert_document(
    namespace: str, job: WatchedJob, step: Step, findings: list[WatchdogFinding], region: str, now: datetime
) -> alerts.Alert:
    """The notification of ``step``'s ``findings`` (those this pass recorded first)."""
    run = findings[0].run if step.kind in (LOST, RECOVERED) else None
    fire_times = tuple(f.event for f in findings) if step.kind in (LATE, MISSED) else ()
    if run is not None and run.scheduled_for:
        fire_times = (run.scheduled_for,)
    log_url = alerts.log_url(region, f"/aws/lambda/{job.function}") if job.function else ""
    if run is not None:
        steps = alerts.next_steps(job.name, run.run_id, log_url, dead_letter=step.kind == LOST)
    else:
        hours = int((now - findings[0].moment).total_seconds() // 3600) + 1
        steps = (
            f"jobctl audit {job.name} --since {hours}h",
            f"jobctl history {job.name}",
            f"Is its trigger enabled? jobctl list; jobctl resume {job.name} if it was paused",
        )
    window = f" ({_span(job.start_window_s)} start window included)" if job.start_window_s else ""
    what = {
        LATE: f"not started {_span(job.late_grace_s)} after its fire time{window}",
        MISSED: f"no run {_span(job.missed_grace_s)} after its fire time{window}",
        LOST: (run.error if run is not None else None)
        or "still running past its deadline: the function died without a final record",
    }.get(step.kind, "")
    return alerts.Alert(
        job=job.name,
        team=job.team,
        owner=job.owner,
        kind=step.kind,
        fire_times=fire_times,
        run_id=run.run_id if run is not None else "",
        attempts=len(run.attempts) if run is not None else 0,
        error="; ".join(filter(None, [what, step.note])),
        namespace=namespace,
        region=region,
        log_url=log_url,
        next_steps=steps,
    )


def _span(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
