"""End to end against a moto server process (real HTTP on 127.0.0.1): the ops commands run as
`jobctl` runs them (click + AwsConfig + --endpoint-url). The job is set up with plain boto3 the
way `jobctl deploy` leaves it (function, rule with its target, DLQ, history table), so these
tests do not depend on the deploy code. moto does not execute Lambda: a stand-in writes the run
records the wrapper would write, from the Invoke payloads the commands really sent."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.hooks import HierarchicalEmitter
from click.testing import CliRunner

from cronplane.cli.main import cli
from cronplane.runtime.schema import RunRecord, create_table, iso, parse_iso, scheduled_run_id, to_item

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
TABLE = "acme-jobs-history"
MANIFEST = """\
namespace: acme-jobs
region: eu-west-1
jobs:
  tmp-cleanup:
    handler: infra/tmp_cleanup.py:handler
    schedule: "0 * * * *"
    team: infra
  ticker:
    handler: infra/tmp_cleanup.py:handler
    schedule: rate(1 minute)
    team: infra
"""


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def deploy_like(endpoint: str, job: str, expression: str) -> None:
    """What deploy creates for a rule-triggered job, as far as the ops commands look."""
    lam, iam, events, sqs = (client(endpoint, s) for s in ("lambda", "iam", "events", "sqs"))
    # Tagged as deploy tags them: the ops commands act only on their namespace's resources.
    tags = {"cronplane:namespace": "acme-jobs", "ManagedBy": "cronplane"}
    queue = sqs.create_queue(QueueName=f"acme-jobs--{job}-dlq", tags=tags)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = iam.create_role(
        RoleName=f"acme-jobs--{job}-exec", Path="/cronplane/acme-jobs/", AssumeRolePolicyDocument="{}"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("infra/tmp_cleanup.py", "def handler(event, context):\n    return 1\n")
    function = lam.create_function(
        FunctionName=f"acme-jobs--{job}",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="cronplane.runtime.entry.handler",
        Code={"ZipFile": buffer.getvalue()},
        Tags=tags,
    )
    events.put_rule(
        Name=f"acme-jobs--{job}",
        ScheduleExpression=expression,
        State="ENABLED",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    events.put_targets(
        Rule=f"acme-jobs--{job}",
        Targets=[
            {
                "Id": "job",
                "Arn": function["FunctionArn"],
                "DeadLetterConfig": {"Arn": queue_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600},
                "InputTransformer": {
                    "InputPathsMap": {"id": "$.id", "time": "$.time"},
                    "InputTemplate": '{"cronplane": {"trigger": "schedule", "event_id": <id>, "scheduled_for": <time>}}',
                },
            }
        ],
    )


@pytest.fixture
def project(tmp_path: Path, moto_server: str) -> Iterator[tuple[Path, str]]:
    (tmp_path / "jobs" / "infra").mkdir(parents=True)
    shutil.copy(ROOT / "jobs" / "infra" / "tmp_cleanup.py", tmp_path / "jobs" / "infra" / "tmp_cleanup.py")
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    create_table(client(moto_server, "dynamodb"), TABLE)
    deploy_like(moto_server, "tmp-cleanup", "cron(0 * * * ? *)")
    yield tmp_path / "jobs.yaml", moto_server


def jobctl(path: Path, endpoint: str, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "-f", str(path), "--endpoint-url", endpoint], catch_exceptions=False)


def put_runs(endpoint: str, records: list[dict[str, Any]]) -> None:
    db = client(endpoint, "dynamodb")
    for start in range(0, len(records), 25):
        batch = [{"PutRequest": {"Item": to_item(RunRecord.from_dict(r))}} for r in records[start : start + 25]]
        db.batch_write_item(RequestItems={TABLE: batch})


def record(
    job: str,
    run_id: str,
    fire: datetime,
    started: datetime,
    status: str = "succeeded",
    trigger: str = "schedule",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "job": job,
        "run_id": run_id,
        "kind": "run",
        "gsi_pk": "run",
        "trigger": trigger,
        "status": status,
        "scheduled_for": iso(fire),
        "started_at": iso(started),
        "finished_at": iso(started + timedelta(seconds=3)),
        "duration_ms": 3000,
        "attempts": [{"attempt": 1, "started_at": iso(started), "duration_ms": 3000}],
        "deadline": iso(started + timedelta(minutes=5)),
        **extra,
    }


class InvokeSpy:
    """Every Invoke request any client in this process sends (the commands build their own)."""

    def __enter__(self) -> list[dict[str, Any]]:
        self.sent: list[dict[str, Any]] = []
        self.original = HierarchicalEmitter.emit
        sent, original = self.sent, self.original

        def emit(emitter: Any, event_name: str, **kwargs: Any) -> Any:
            if event_name.startswith("provide-client-params.lambda.Invoke"):
                sent.append(json.loads(kwargs["params"]["Payload"]))
            return original(emitter, event_name, **kwargs)

        HierarchicalEmitter.emit = emit  # type: ignore[method-assign]
        return self.sent

    def __exit__(self, *exc: Any) -> None:
        HierarchicalEmitter.emit = self.original  # type: ignore[method-assign]


def test_audit_backfill_audit(project: tuple[Path, str]) -> None:
    path, endpoint = project
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    fires = [day + timedelta(hours=h) for h in range(1, 25)]
    put_runs(
        endpoint,
        [
            record(
                "tmp-cleanup",
                scheduled_run_id(fire, f"ev{h}"),
                fire,
                fire + timedelta(seconds=900 if h == 10 else 4),
                status="failed" if h == 17 else "succeeded",
                error="KeyError: 'bucket'" if h == 17 else None,
            )
            for h, fire in enumerate(fires, start=1)
            if h not in (3, 4)
        ],
    )
    window = [
        "--since",
        iso(day),
        "--until",
        iso(day + timedelta(days=1)),
        "--now",
        iso(day + timedelta(days=1, hours=1)),
    ]

    # A real jobctl process: the exit code monitoring sees.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cronplane.cli.main",
            "audit",
            "tmp-cleanup",
            "-f",
            str(path),
            "--endpoint-url",
            endpoint,
            *window,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    flagged = [line.split()[:2] for line in proc.stdout.splitlines() if line.startswith("  20")]
    assert flagged == [
        [iso(fires[2]), "missed"],
        [iso(fires[3]), "missed"],
        [iso(fires[9]), "late"],
        [iso(fires[16]), "failed"],
    ]
    assert proc.stdout.splitlines()[-1] == "PROBLEMS: 2 missed, 1 failed; 21 of 24 expected runs succeeded (1 late)"

    with InvokeSpy() as sent:
        result = jobctl(
            path,
            endpoint,
            "backfill",
            "tmp-cleanup",
            "--from",
            iso(fires[0]),
            "--to",
            iso(fires[-1]),
            "--now",
            iso(day + timedelta(days=1, hours=1)),
            "--rate",
            "600/min",
            "--yes",
        )
    assert result.exit_code == 0, result.output
    envelopes = [e["cronplane"] for e in sent]
    assert [(e["trigger"], e["scheduled_for"]) for e in envelopes] == [
        ("backfill", iso(f)) for f in (fires[2], fires[3], fires[16])
    ]
    # The runtime's part: each backfill run records itself under the run id it was given.
    put_runs(
        endpoint,
        [
            record(
                "tmp-cleanup",
                e["run_id"],
                parse_iso(e["scheduled_for"]),
                day + timedelta(days=1, minutes=2),
                trigger="backfill",
                triggered_by=e["triggered_by"],
            )
            for e in envelopes
        ],
    )

    clean = jobctl(path, endpoint, "audit", "tmp-cleanup", *window)
    assert clean.exit_code == 0, clean.output
    assert clean.output.splitlines()[-1] == "OK: 24 of 24 expected runs succeeded in 1 job(s) (1 late)"


def test_pause_disables_rule_and_audit_shows_paused_period(project: tuple[Path, str]) -> None:
    path, endpoint = project
    paused = jobctl(path, endpoint, "pause", "tmp-cleanup", "--reason", "vendor outage")
    assert paused.exit_code == 0, paused.output
    assert client(endpoint, "events").describe_rule(Name="acme-jobs--tmp-cleanup")["State"] == "DISABLED"
    now = datetime.now(UTC)
    later = iso(now + timedelta(hours=3, minutes=1))
    result = jobctl(path, endpoint, "audit", "tmp-cleanup", "--since", "6h", "--now", later, "-o", "json")
    assert result.exit_code == 0, result.output
    (job,) = json.loads(result.output)["jobs"]
    assert job["counts"] == {"paused": 3}
    (period,) = job["paused"]
    assert period["end"] is None and period["reason"] == "vendor outage" and period["actor"].startswith("arn:aws:")
    resumed = jobctl(path, endpoint, "resume", "tmp-cleanup")
    assert (
        resumed.exit_code == 0
        and client(endpoint, "events").describe_rule(Name="acme-jobs--tmp-cleanup")["State"] == "ENABLED"
    )


def test_dlq_list_and_replay_keep_what_failed(project: tuple[Path, str]) -> None:
    path, endpoint = project
    sqs = client(endpoint, "sqs")
    url = sqs.get_queue_url(QueueName="acme-jobs--tmp-cleanup-dlq")["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(
            {
                "source": "cronplane",
                "job": "tmp-cleanup",
                "run_id": "20261127T090000Z-0a0b0c0d",
                "trigger": "schedule",
                "status": "timed_out",
                "attempts": [
                    {
                        "attempt": 1,
                        "started_at": "2026-11-27T09:00:02Z",
                        "error_type": "TimeoutError",
                        "error_message": "soft deadline",
                    }
                ],
                "error": "TimeoutError: soft deadline",
                "event": {
                    "cronplane": {"trigger": "schedule", "event_id": "e1", "scheduled_for": "2026-11-27T09:00:00Z"}
                },
            }
        ),
    )
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(
            {
                "version": "0",
                "id": "e2",
                "source": "aws.events",
                "time": "2026-11-27T10:00:00Z",
                "detail-type": "Scheduled Event",
                "detail": {},
            }
        ),
        MessageAttributes={
            "ERROR_CODE": {"DataType": "String", "StringValue": "THROTTLING"},
            "RULE_ARN": {
                "DataType": "String",
                "StringValue": "arn:aws:events:eu-west-1:123456789012:rule/acme-jobs--tmp-cleanup",
            },
            "RETRY_ATTEMPTS": {"DataType": "String", "StringValue": "4"},
        },
    )
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(
            {
                "version": "1.0",
                "timestamp": "2026-11-27T11:00:09.000Z",
                "requestContext": {"requestId": "r", "condition": "RetriesExhausted", "approximateInvokeCount": 1},
                "requestPayload": {
                    "cronplane": {"trigger": "schedule", "event_id": "e3", "scheduled_for": "2026-11-27T11:00:00Z"}
                },
                "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                "responsePayload": {"errorType": "Runtime.OutOfMemory", "errorMessage": "out of memory"},
            }
        ),
    )
    listed = json.loads(jobctl(path, endpoint, "dlq", "tmp-cleanup", "-o", "json").output)["messages"]
    # Oldest first: the delivery failure has no time of its own but SQS's sent time (now).
    assert [(m["source"], m["attempts"], m["when"][:19]) for m in listed][:2] == [
        ("wrapper", 1, "2026-11-27T09:00:02"),
        ("lambda", 1, "2026-11-27T11:00:09"),
    ]
    assert (listed[2]["source"], listed[2]["attempts"], listed[2]["error"]) == ("delivery", 5, "THROTTLING")
    assert listed[1]["run_id"] == scheduled_run_id(parse_iso("2026-11-27T11:00:00Z"), "e3")
    assert listed[2]["run_id"] == scheduled_run_id(parse_iso("2026-11-27T10:00:00Z"), "e2")

    # The function is gone (say, destroyed by mistake): every replay fails, nothing is lost.
    client(endpoint, "lambda").delete_function(FunctionName="acme-jobs--tmp-cleanup")
    failed = jobctl(path, endpoint, "dlq", "replay", "tmp-cleanup", "--all", "--yes")
    assert failed.exit_code == 1 and failed.output.count("message kept") == 3
    assert len(json.loads(jobctl(path, endpoint, "dlq", "tmp-cleanup", "-o", "json").output)["messages"]) == 3

    deploy_again = client(endpoint, "lambda")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.py", "")
    role = client(endpoint, "iam").get_role(RoleName="acme-jobs--tmp-cleanup-exec")["Role"]["Arn"]
    deploy_again.create_function(
        FunctionName="acme-jobs--tmp-cleanup",
        Runtime="python3.12",
        Role=role,
        Handler="cronplane.runtime.entry.handler",
        Code={"ZipFile": buffer.getvalue()},
        Tags={"cronplane:namespace": "acme-jobs", "ManagedBy": "cronplane"},
    )
    with InvokeSpy() as sent:
        ok = jobctl(path, endpoint, "dlq", "replay", "tmp-cleanup", "--all", "--yes")
    assert ok.exit_code == 0, ok.output
    assert sorted(e["cronplane"]["retry_of"] for e in sent) == sorted(m["run_id"] for m in listed)
    assert json.loads(jobctl(path, endpoint, "dlq", "tmp-cleanup", "-o", "json").output)["messages"] == []


def test_audit_of_a_per_minute_day_costs_a_few_requests(project: tuple[Path, str]) -> None:
    """Records the size the runtime writes (attempt, request id, a ~200-byte result): 1,440 of
    them fit in two 1 MB pages at most; plus the Query for retries after the window."""
    path, endpoint = project
    deploy_like(endpoint, "ticker", "rate(1 minute)")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    put_runs(
        endpoint,
        [
            record(
                "ticker",
                scheduled_run_id(day + timedelta(minutes=m), f"t{m}"),
                day + timedelta(minutes=m),
                day + timedelta(minutes=m, seconds=1),
                result='{"deleted": 12, "kept": 3}' * 8,
                request_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                function_name="acme-jobs--ticker",
                ttl=2_000_000_000,
            )
            for m in range(1, 1441)
        ],
    )
    result = jobctl(
        path,
        endpoint,
        "audit",
        "ticker",
        "--since",
        iso(day),
        "--until",
        iso(day + timedelta(days=1)),
        "--now",
        iso(day + timedelta(days=1, minutes=5)),
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["jobs"][0]["counts"] == {"ok": 1440}
    requests = data["requests"]
    assert "dynamodb.Scan" not in requests and requests["dynamodb.Query"] <= 3
    assert sum(requests.values()) <= 6, requests


def test_pause_survives_a_real_deploy_and_plan_explains_it(tmp_path: Path, moto_server: str) -> None:
    """With the real `jobctl deploy`: a paused job stays paused, and the plan says why."""
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    path = tmp_path / "jobs.yaml"
    deployed = jobctl(path, moto_server, "deploy", "--yes")
    assert deployed.exit_code == 0, deployed.output
    assert jobctl(path, moto_server, "pause", "tmp-cleanup", "--reason", "disk maintenance").exit_code == 0
    plan = jobctl(path, moto_server, "plan")
    assert plan.exit_code == 0, plan.output
    assert "job tmp-cleanup: paused by arn:aws:sts::123456789012:user/moto since" in plan.output
    assert "`jobctl resume tmp-cleanup` or `jobctl deploy --unpause tmp-cleanup`" in plan.output
    again = jobctl(path, moto_server, "deploy", "--yes")
    assert again.exit_code == 0, again.output
    assert client(moto_server, "events").describe_rule(Name="acme-jobs--tmp-cleanup")["State"] == "DISABLED"
    # The Scheduler-triggered job (Europe/Berlin) pauses and resumes the same way.
    assert jobctl(path, moto_server, "pause", "nightly-report").exit_code == 0
    schedule = client(moto_server, "scheduler").get_schedule(Name="acme-jobs--nightly-report", GroupName="acme-jobs")
    assert schedule["State"] == "DISABLED" and schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert jobctl(path, moto_server, "resume", "tmp-cleanup").exit_code == 0
    assert jobctl(path, moto_server, "resume", "nightly-report").exit_code == 0
    assert "paused by" not in jobctl(path, moto_server, "plan").output
    history = jobctl(path, moto_server, "history", "tmp-cleanup")
    assert "pause by" in history.output and "resume by" in history.output and "(disk maintenance)" in history.output
