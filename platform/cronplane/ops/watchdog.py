"""The watchdog's check: are the jobs with ``alerts:`` running when they should, and who has
been told? One pass, per watched job:

    one Query of the job's partition (its runs and pause events of the last
    ``missed_after`` + 1 h, its alert records, its watch start)
      ─▶ ``observe`` (pure, ``ops.watch_findings``): the fire times of the window matched with
         the runs by the engine of ``jobctl audit`` (``ops.matching.classify``), paused periods
         left out; findings ``late`` / ``missed`` (no run ``late_after`` / ``missed_after``
         after a fire time), ``lost`` (running past its deadline, ``runs.status``), ``failed`` /
         ``timed_out`` (already announced by the job's wrapper: recorded, not sent again),
         ``recovered``
      ─▶ ``apply``: a conditional put of an ``AlertRecord`` per finding *before* anyone is
         told, then one notification per job and kind through ``runtime.alerts.deliver``.

Once per event: a finding whose record exists is done, and one that an open alert of its
episode already covers (the 2nd..10th missed fire of a per-minute job) is neither recorded nor
sent; a ``missed`` covers ``late``. An episode ends with one ``recovered`` when a run succeeds
after all of its findings. Fire times before the watch start (``WatchStart``: the first pass
that saw the job's schedule, so within a watch period of its deploy) are never reported.

Runs in the watchdog's Lambda (``cronplane.watchdog.entry``) and in ``jobctl watch --once`` /
``jobctl alerts``: standard library, boto3-shaped clients and the modules its zip ships.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cronplane.manifest.watch_config import WatchConfig, WatchedJob
from cronplane.ops.matching import WINDOW_ATTRIBUTES
from cronplane.ops.watch_findings import (
    LATE,
    LOST,
    MISSED,
    RECOVERED,
    JobItems,
    JobWatch,
    OpenAlert,
    Step,
    WatchdogFinding,
    lookback,
    observe,
    open_alerts,
)
from cronplane.runtime import alerts
from cronplane.runtime.schema import (
    PAUSED_PARTITION,
    AlertRecord,
    PauseEvent,
    PauseMarker,
    RunRecord,
    WatchStart,
    alert_sort_key,
    from_item,
    iso,
    time_key,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient

# The window's run and event fields, the alert records' and the watch start's.
READ_ATTRIBUTES = (
    *WINDOW_ATTRIBUTES,
    *("alert", "event", "sent_at", "routes", "moment", "told", "by", "note", "since", "schedule"),
)
CONDITION_FAILED = "ConditionalCheckFailedException"
# The key of the JSON log line the deployed watchdog writes per notification (`jobctl dev` reads it).
NOTICE_LOG_KEY = "cronplane_watchdog_alert"


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": iso(self.now),
            "jobs": list(self.jobs),
            "sent": [n.as_dict() for n in self.sent],
            "open": [_open_dict(a) for a in self.open],
            "errors": list(self.errors),
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
    config: WatchConfig, clients: WatchClients, now: datetime, *, jobs: Iterable[str] | None = None, act: bool = True
) -> PassReport:
    """Look at every enabled watched job (or ``jobs``); with ``act``, record and send what is
    new (``jobctl alerts`` looks without acting). A job that cannot be read is an error of the
    report; the other jobs are still watched."""
    wanted = set(jobs) if jobs is not None else None
    watched = [j for j in config.jobs if j.enabled and (wanted is None or j.name in wanted)]
    markers = read_markers(clients.dynamodb, config.table) if watched else {}
    sent: list[Notice] = []
    still_open: list[OpenAlert] = []
    errors: list[str] = []
    for job in watched:
        try:
            items = read_job(clients.dynamodb, config.table, job.name, now - lookback(job))
            watch = observe(job, items, markers.get(job.name), now)
            notices = apply(watch, config, clients) if act else []
            sent += notices
            told = {n.kind: (n.accepted, iso(now)) for n in notices} if act else None
            still_open += open_alerts(watch, told)
        except Exception as exc:  # one job's trouble (throttling, a bad item) must not silence the others
            errors.append(f"{job.name}: {_describe(exc)}")
            clients.log(f"watchdog: {job.name}: {_describe(exc)}")
    return PassReport(now, tuple(j.name for j in watched), tuple(sent), tuple(still_open), tuple(errors))


# -- reading ----------------------------------------------------------------------------------
def read_job(dynamodb: DynamoDBClient, table: str, job: str, since: datetime) -> JobItems:
    """The job's partition from ``since`` on, in one Query (per 1 MB page): runs and pause
    events of the window, and its alert records and watch start, which sort after them all."""
    aliases = {f"#a{i}": name for i, name in enumerate(READ_ATTRIBUTES)}  # many are reserved words
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#a0 = :job AND #a1 >= :lo",
        "ExpressionAttributeNames": aliases,
        "ExpressionAttributeValues": {":job": {"S": job}, ":lo": {"S": time_key(since)}},
        "ProjectionExpression": ", ".join(aliases),
    }
    runs: list[RunRecord] = []
    events: list[PauseEvent] = []
    records: list[AlertRecord] = []
    watch: WatchStart | None = None
    while True:
        page = dynamodb.query(**request)
        for raw in page.get("Items", []):
            item = from_item(raw)
            if isinstance(item, RunRecord):
                runs.append(item)
            elif isinstance(item, PauseEvent):
                events.append(item)
            elif isinstance(item, AlertRecord):
                records.append(item)
            elif isinstance(item, WatchStart):
                watch = item
        if "LastEvaluatedKey" not in page:
            return JobItems(tuple(runs), tuple(events), tuple(records), watch)
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


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
            _alert(config, job, step, findings, clients.region, now),
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


def _alert(
    config: WatchConfig, job: WatchedJob, step: Step, findings: list[WatchdogFinding], region: str, now: datetime
) -> alerts.Alert:
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
    what = {
        LATE: f"not started {_span(job.late_after_s)} after its fire time",
        MISSED: f"no run {_span(job.missed_after_s)} after its fire time",
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
        namespace=config.namespace,
        region=region,
        log_url=log_url,
        next_steps=steps,
    )


def _span(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


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
    dynamodb.put_item(TableName=table, Item=to_item(record), **extra)  # type: ignore[arg-type]


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
