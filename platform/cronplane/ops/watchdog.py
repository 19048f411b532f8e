"""The watchdog's check: are the jobs with ``alerts:`` running when they should, and who has
been told? One pass:

    what to read (``ops.watch_reads``): per watched job, one Query of its partition (its runs
    and pause events of the last ``missed_after`` + 1 h, its alert records, its watch start);
    or, from ``INDEX_FROM_JOBS`` jobs on, the ``by-time`` index for every job at once, and the
    partitions of the few jobs it shows something new of (``_triage``)
      ─▶ ``observe`` (pure, ``ops.watch_findings``): the fire times of the window matched with
         the runs by the engine of ``jobctl audit`` (``ops.matching.classify``), paused periods
         left out; findings ``late`` / ``missed`` (no run ``late_after`` / ``missed_after``,
         each plus the job's start window, after a fire time), ``lost`` (running past its
         deadline, ``runs.status``), ``failed`` / ``timed_out`` (already announced by the
         job's wrapper: recorded, not sent again), ``recovered``
      ─▶ ``apply``: a conditional put of an ``AlertRecord`` per finding *before* anyone is
         told, then one notification per job and kind through ``runtime.alerts.deliver``.

Queries per pass: 1 (pause markers) + one per watched job; with the index, 1 + the pages of
the watchdog's own items (about 9,000 watch starts per 1 MB) + the pages of the runs of the
longest lookback (about 1,500 runs per 1 MB; newest first, and no more pages than the jobs
they have not reached yet, which are read from their partitions instead) + one per job read
from its partition (something new to record, an open late/missed episode, or out of the pages'
reach). In the steady state of 10,000 jobs that is 1 + 2 + about 30 + a handful, where reading
every partition was 10,001; at worst (every job in trouble) it is every partition and the index.
Every decision to write or send is taken on the job's partition, as it is without the index.

Once per event: a finding whose record exists is done, and one that an open alert of its
episode already covers (the 2nd..10th missed fire of a per-minute job) is neither recorded nor
sent; a ``missed`` covers ``late``. An episode ends with one ``recovered`` when a run succeeds
after all of its findings. Fire times before the watch start (``WatchStart``: the first pass
that saw the job's schedule, so within a watch period of its deploy) are never reported.

Runs in the watchdog's Lambda (``cronplane.watchdog.entry``) and in ``jobctl watch --once`` /
``jobctl alerts``: standard library, boto3-shaped clients and the modules its zip ships.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cronplane.manifest.watch_config import WatchConfig, WatchedJob
from cronplane.ops.watch_findings import (
    LATE,
    MISSED,
    JobItems,
    JobWatch,
    OpenAlert,
    alert_document,
    decisive_records,
    lookback,
    observe,
    open_alerts,
)
from cronplane.ops.watch_reads import IndexView, read_index, read_job, read_markers, watch_item
from cronplane.runtime import alerts
from cronplane.runtime.schema import (
    AlertRecord,
    PauseMarker,
    WatchStart,
    alert_sort_key,
    iso,
)
from cronplane.runtime.schema.control import WATCH_SORT_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient

CONDITION_FAILED = "ConditionalCheckFailedException"
# Putting back an item read without its index attribute: only if it is there and still lacks it.
UNINDEXED = "attribute_exists(run_id) AND attribute_not_exists(gsi_pk)"
# The key of the JSON log line the deployed watchdog writes per notification (`jobctl dev` reads it).
NOTICE_LOG_KEY = "cronplane_watchdog_alert"
# From this many watched jobs on, a pass reads the index (a few Queries for all of them) rather
# than one partition per job (benchmarks/bench_watchdog.py).
INDEX_FROM_JOBS = 16
# Partitions read and acted on at once. A pass reads few in the steady state, and many on its
# first pass, on one after an upgrade, or in an outage of many jobs.
PARTITION_WORKERS = 8


@dataclass(frozen=True)
class Notice:
    """One notification a pass sent (``accepted``: the routes that took it)."""

    job: str
    kind: str
    events: tuple[str, ...]
    accepted: tuple[str, ...]
    failed: tuple[str, ...] = ()  # "route: why"

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "kind": self.kind,
            "events": list(self.events),
            "accepted": list(self.accepted),
            "failed": list(self.failed),
        }


@dataclass(frozen=True)
class PassReport:
    now: datetime
    jobs: tuple[str, ...]  # the jobs looked at
    sent: tuple[Notice, ...] = ()
    open: tuple[OpenAlert, ...] = ()
    errors: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()  # jobs left to the next pass: this one ran out of time

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": iso(self.now),
            "jobs": list(self.jobs),
            "sent": [n.as_dict() for n in self.sent],
            "open": [_open_dict(a) for a in self.open],
            "errors": list(self.errors),
            "deferred": list(self.deferred),
        }


@dataclass
class WatchClients:
    """What a pass talks to: DynamoDB (the history table), SNS, and a reader of the webhook
    secrets. boto3 clients in the Lambda, the AWS door's in ``jobctl``."""

    dynamodb: DynamoDBClient
    sns: SNSClient | None = None
    read_secret: Callable[[str], str] | None = None
    topic_arn: str = ""
    region: str = ""
    log: Callable[[str], None] = field(default=lambda line: None)  # a job that could not be checked
    on_notice: Callable[[Notice], None] = field(default=lambda notice: None)  # each notification sent


# -- one pass ---------------------------------------------------------------------------------
def run_pass(
    config: WatchConfig,
    clients: WatchClients,
    now: datetime,
    *,
    jobs: Iterable[str] | None = None,
    act: bool = True,
    deadline: float | None = None,
) -> PassReport:
    """Look at every enabled watched job (or ``jobs``); with ``act``, record and send what is
    new (``jobctl alerts`` looks without acting). A job that cannot be read is an error of the
    report; the other jobs are still watched. From ``INDEX_FROM_JOBS`` jobs on, the index says
    which partitions to read (``_triage``); they are read ``PARTITION_WORKERS`` at a time, and
    none is started after ``deadline`` (a ``time.monotonic()``): the jobs left are ``deferred``
    to the next pass."""
    wanted = set(jobs) if jobs is not None else None
    watched = [j for j in config.jobs if j.enabled and (wanted is None or j.name in wanted)]
    markers = read_markers(clients.dynamodb, config.table) if watched else {}
    results: dict[str, _JobResult] = {}
    to_read: list[WatchedJob] = watched
    fallback: dict[str, _JobResult] = {}
    if len(watched) >= INDEX_FROM_JOBS:
        try:
            view = read_index(clients.dynamodb, config.table, watched, now)
        except Exception as exc:  # e.g. a role from before the index: every partition, as before
            clients.log(f"watchdog: the index could not be read, reading each job's partition: {_describe(exc)}")
        else:
            to_read, fallback = _triage(watched, view, markers, now, results)

    def check(job: WatchedJob) -> _JobResult:
        if deadline is not None and time.monotonic() > deadline:
            return fallback.get(job.name) or _JobResult(deferred=True)
        return _check(job, config, clients, markers.get(job.name), now, act)

    if to_read:
        with ThreadPoolExecutor(max_workers=min(PARTITION_WORKERS, len(to_read))) as pool:
            results.update(zip((job.name for job in to_read), pool.map(check, to_read), strict=True))
    done = [results[job.name] for job in watched]
    return PassReport(
        now,
        tuple(j.name for j in watched),
        tuple(n for r in done for n in r.sent),
        tuple(a for r in done for a in r.open),
        tuple(r.error for r in done if r.error),
        tuple(j.name for j, r in zip(watched, done, strict=True) if r.deferred),
    )


@dataclass(frozen=True)
class _JobResult:
    sent: tuple[Notice, ...] = ()
    open: tuple[OpenAlert, ...] = ()
    error: str | None = None
    deferred: bool = False  # not read: the pass ran out of time


def _triage(
    watched: list[WatchedJob],
    view: IndexView,
    markers: Mapping[str, PauseMarker],
    now: datetime,
    results: dict[str, _JobResult],
) -> tuple[list[WatchedJob], dict[str, _JobResult]]:
    """The jobs whose partition must be read, most urgent first, and what the index says of
    them should time run out; the others' results go straight into ``results``. First the jobs
    with something new to write (or that the index does not give whole); then those with an
    open late or missed episode, whose fire times a pause (its events are in the partition
    only) may explain. Pauses only ever take findings away, so a job with neither has nothing a
    partition read would change."""
    urgent: list[WatchedJob] = []
    paused_maybe: list[WatchedJob] = []
    fallback: dict[str, _JobResult] = {}
    for job in watched:
        if job.name in view.unreadable or not view.covers(job, now):
            urgent.append(job)
            continue
        try:
            watch = observe(job, view.items(job, now), markers.get(job.name), now)
            seen = _JobResult(open=tuple(open_alerts(watch, None)))
        except Exception:  # the partition read says what is wrong (an error of the report)
            urgent.append(job)
            continue
        if watch.starts_watch or watch.steps:
            urgent.append(job)
            fallback[job.name] = replace(seen, deferred=True)
        elif any(f.kind in (LATE, MISSED) for f in watch.covered):
            paused_maybe.append(job)
            fallback[job.name] = seen
        else:
            results[job.name] = seen
    return urgent + paused_maybe, fallback


def _check(
    job: WatchedJob, config: WatchConfig, clients: WatchClients, marker: PauseMarker | None, now: datetime, act: bool
) -> _JobResult:
    """One job from its partition: what is new is recorded and sent (with ``act``)."""
    try:
        items = read_job(clients.dynamodb, config.table, job.name, now - lookback(job))
        watch = observe(job, items, marker, now)
        notices = apply(watch, config, clients) if act else []
        if act and items.unindexed:
            _reindex(watch, items, config.table, clients)
        told = {n.kind: (n.accepted, iso(now)) for n in notices} if act else None
        return _JobResult(tuple(notices), tuple(open_alerts(watch, told)))
    except Exception as exc:  # one job's trouble (throttling, a bad item) must not silence the others
        clients.log(f"watchdog: {job.name}: {_describe(exc)}")
        return _JobResult(error=f"{job.name}: {_describe(exc)}")


def _reindex(watch: JobWatch, items: JobItems, table: str, clients: WatchClients) -> None:
    """Put the watchdog's items that were read without their index attribute (written before
    the index of alert records existed) back with it: those a pass decides on, the watch start
    (unless this pass replaced it) and the records from the last recovery on. Only if the item
    is still there and still lacks it (a concurrent pass may have rewritten it)."""
    kept: list[AlertRecord | WatchStart] = [] if watch.starts_watch or items.watch is None else [items.watch]
    kept += decisive_records(items.alerts, watch.now)
    for record in kept:
        key = record.sort_key if isinstance(record, AlertRecord) else WATCH_SORT_KEY
        if key in items.unindexed:
            try:
                _put(clients.dynamodb, table, record, condition=UNINDEXED)
            except Exception as exc:
                if _code(exc) != CONDITION_FAILED:
                    raise


# -- acting -----------------------------------------------------------------------------------
def apply(watch: JobWatch, config: WatchConfig, clients: WatchClients) -> list[Notice]:
    """Write and send what ``observe`` decided: each record by a conditional put, then one
    notification for the findings whose records this pass wrote (another pass that got there
    first has sent them)."""
    job, now = watch.job, watch.now
    if watch.starts_watch:
        _put(clients.dynamodb, config.table, watch.watch, condition=None)
        return []
    notices = []
    labels = tuple(str(r) for r in job.routes)
    for step in watch.steps:
        records = [
            AlertRecord.new(
                job.name,
                step.kind,
                f.event,
                moment=f.moment,
                now=now,
                retention_days=config.retention_days,
                routes=labels if step.told or step.by == "wrapper" else (),
                told=step.told,
                by=step.by,
                note=step.note,
            )
            for f in step.findings
        ]
        won = [r for r, f in zip(records, step.findings, strict=True) if _put_new(clients, config.table, r)]
        if not won or not step.told:
            continue
        findings = [f for f in step.findings if alert_sort_key(step.kind, f.event) in {r.sort_key for r in won}]
        results = alerts.deliver(
            alert_document(config.namespace, job, step, findings, clients.region, now),
            job.routes,
            sns_client=clients.sns,
            secrets_resolver=clients.read_secret,
            namespace_topic_arn=clients.topic_arn,
        )
        accepted = tuple(str(r.route) for r in results if r.ok)
        failed = tuple(f"{r.route}: {r.detail}" for r in results if not r.ok)
        if failed:  # the records say who really was told
            for record in won:
                fixed = record._replace(routes=accepted, note="; ".join(filter(None, [record.note, *failed])))
                _put(clients.dynamodb, config.table, fixed, condition=None)
        notice = Notice(job.name, step.kind, tuple(f.event for f in findings), accepted, failed)
        notices.append(notice)
        clients.on_notice(notice)
    return notices


def _put_new(clients: WatchClients, table: str, record: AlertRecord) -> bool:
    """Record ``record`` unless its key exists: False when another pass recorded it first."""
    try:
        _put(clients.dynamodb, table, record, condition="attribute_not_exists(run_id)")
    except Exception as exc:
        if _code(exc) == CONDITION_FAILED:
            return False
        raise
    return True


def _put(dynamodb: DynamoDBClient, table: str, record: AlertRecord | WatchStart, *, condition: str | None) -> None:
    extra = {"ConditionExpression": condition} if condition else {}
    dynamodb.put_item(TableName=table, Item=watch_item(record), **extra)  # type: ignore[arg-type]


def _code(exc: BaseException) -> str:
    """The AWS error code of a boto3 ``ClientError`` or of the AWS door's ``AwsCallError``."""
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, Mapping) else ""


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def secret_reader(client_for: Callable[[str], Any]) -> Callable[[str], str]:
    """Reads a webhook's URL from its secret reference (``ssm:/NAME``, ``secretsmanager:ID``)
    when an alert is sent; ``client_for(service)`` gives the SSM or Secrets Manager client."""

    def read(reference: str) -> str:
        source, _, name = reference.partition(":")
        if source == "ssm":
            return str(client_for("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
        if source == "secretsmanager":
            return str(client_for("secretsmanager").get_secret_value(SecretId=name)["SecretString"])
        raise ValueError(f"unknown secret source in {reference!r}: use ssm:/NAME or secretsmanager:ID")

    return read


def _open_dict(alert: OpenAlert) -> dict[str, Any]:
    return {
        "job": alert.job,
        "kind": alert.kind,
        "since": alert.since,
        "events": list(alert.events),
        "told": list(alert.told),
        "told_at": alert.told_at,
        "by": alert.by,
        "pending": alert.pending,
    }
