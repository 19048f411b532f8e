"""Helpers and fixtures for the ops tests (a uniquely named module, so `from ops_fixtures import`
never picks up another folder's conftest): moto in-process, a history table, and a job "deployed" the way
`jobctl deploy` leaves it (function, trigger, DLQ), built with plain boto3 so these tests do not
depend on the deploy code."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.session import AwsConfig
from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest, TriggerMode
from cronplane.runtime.schema import RunRecord, create_table, iso, to_item

NAMESPACE = "acme-jobs"
TABLE = names.history_table(NAMESPACE)


def next_day() -> datetime:
    """Midnight UTC of the day after tomorrow: safely after the moto resources' creation."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=2)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def make_job(name: str, schedule: str, *, timezone_name: str | None = None, **fields: Any) -> Job:
    from cronplane.schedule.expression import parse_schedule

    return Job(
        name=name,
        handler=f"billing/{name.replace('-', '_')}.py:handler",
        schedule=parse_schedule(schedule, timezone_name),
        team="billing",
        timezone=timezone_name,
        **fields,
    )


def make_manifest(*jobs: Job, trigger_mode: TriggerMode = TriggerMode.AUTO) -> Manifest:
    return Manifest(namespace=NAMESPACE, region="eu-west-1", jobs=tuple(jobs), trigger_mode=trigger_mode)


@pytest.fixture
def clients(aws: None) -> Iterator[AwsClient]:
    """The AWS door the ops commands get, on moto in-process. Its own session, made inside
    ``mock_aws``: a session shared with an earlier test could predate moto's hooks."""
    config = AwsConfig(region="eu-west-1")
    yield AwsClient(config, session=config.session(), sleep=_no_sleep)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"an ops test asked to sleep {seconds}s: moto does not throttle")


@pytest.fixture
def table(clients: AwsClient) -> str:
    create_table(boto3.client("dynamodb", region_name="eu-west-1"), TABLE)
    return TABLE


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def deploy(table: str) -> Callable[..., dict[str, str]]:
    """Create what deploy creates for a job that matters to ops: function, trigger, DLQ."""

    def create(manifest: Manifest, job: Job, *, function: bool = True) -> dict[str, str]:
        region = "eu-west-1"
        lam = boto3.client("lambda", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        iam = boto3.client("iam", region_name=region)
        made: dict[str, str] = {}
        # Tagged as deploy tags them: the ops commands act only on their namespace's resources.
        tags = {names.NAMESPACE_TAG: manifest.namespace, names.MANAGED_BY_TAG: names.MANAGED_BY_VALUE}
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        made["queue_url"] = sqs.create_queue(QueueName=names.dlq_name(manifest.namespace, job.name), tags=tags)[
            "QueueUrl"
        ]
        if function:
            role = iam.create_role(
                RoleName=names.role_name(manifest.namespace, job.name), AssumeRolePolicyDocument="{}"
            )
            lam.create_function(
                FunctionName=names.function_name(manifest.namespace, job.name),
                Runtime="python3.12",
                Role=role["Role"]["Arn"],
                Handler="cronplane.runtime.entry.handler",
                Code={"ZipFile": _zip()},
                Tags=tags,
            )
        function_arn = (
            f"arn:aws:lambda:{region}:123456789012:function:{names.function_name(manifest.namespace, job.name)}"
        )
        state = "ENABLED" if job.enabled else "DISABLED"
        if manifest.trigger_mode == TriggerMode.SCHEDULER or job.schedule.needs_scheduler:
            scheduler = boto3.client("scheduler", region_name=region)
            group = names.schedule_group(manifest.namespace)
            try:  # moto replaces an existing group (and drops its schedules) where AWS refuses
                scheduler.get_schedule_group(Name=group)
            except scheduler.exceptions.ResourceNotFoundException:
                scheduler.create_schedule_group(Name=group, Tags=tag_list)
            scheduler.create_schedule(
                Name=names.schedule_name(manifest.namespace, job.name),
                GroupName=group,
                ScheduleExpression=job.schedule.expression,
                ScheduleExpressionTimezone=job.timezone or "UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                State=state,
                Target={
                    "Arn": function_arn,
                    "RoleArn": "arn:aws:iam::123456789012:role/sched",
                    "Input": json.dumps({"cronplane": {"trigger": "schedule"}}),
                },
            )
        else:
            events = boto3.client("events", region_name=region)
            events.put_rule(
                Name=names.rule_name(manifest.namespace, job.name),
                ScheduleExpression=job.schedule.expression,
                State=state,
                Tags=tag_list,
            )
        return made

    return create


def run_record(
    job: str,
    run_id: str,
    *,
    status: str = "succeeded",
    trigger: str = "schedule",
    scheduled_for: datetime | None = None,
    started_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A run record's plain form, as the runtime writes it (``schema.RunRecord.as_dict``)."""
    return {
        "job": job,
        "run_id": run_id,
        "kind": "run",
        "gsi_pk": "run",
        "trigger": trigger,
        "status": status,
        "scheduled_for": iso(scheduled_for) if scheduled_for else None,
        "started_at": iso(started_at) if started_at else None,
        "finished_at": iso(started_at) if started_at and status != "running" else None,
        "attempts": [],
        "duration_ms": 1200 if status != "running" else None,
        "error": None,
        "triggered_by": None,
        "retry_of": None,
        "result": None,
        **extra,
    }


def record_item(record: dict[str, Any]) -> dict[str, Any]:
    """As the runtime stores a record: through the schema, every field present, None as NULL."""
    return to_item(RunRecord.from_dict(record))


def put_run(dynamodb: Any, job: str, run_id: str, **fields: Any) -> dict[str, Any]:
    record = run_record(job, run_id, **fields)
    dynamodb.put_item(TableName=TABLE, Item=record_item(record))
    return record


def put_runs(dynamodb: Any, records: list[dict[str, Any]]) -> None:
    """Many records, 25 per BatchWriteItem (moto takes them all at once)."""
    for start in range(0, len(records), 25):
        batch = [{"PutRequest": {"Item": record_item(r)}} for r in records[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={TABLE: batch})
