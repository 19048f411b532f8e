"""The ops commands through click (CliRunner), against moto in-process: output, exit codes,
confirmation and option errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from ops_fixtures import TABLE, put_run

from cronplane.cli.main import cli
from cronplane.manifest.loader import load_manifest
from cronplane.runtime.schema import backfill_run_id, from_item, scheduled_run_id

MANIFEST = """\
namespace: acme-jobs
region: eu-west-1
jobs:
  tmp-cleanup:
    handler: infra/tmp_cleanup.py:handler
    schedule: cron(0 * * * ? *)
    team: infra
"""


@pytest.fixture
def project(tmp_path: Path, deploy: Any) -> tuple[Path, Any]:
    (tmp_path / "jobs" / "infra").mkdir(parents=True)
    (tmp_path / "jobs" / "infra" / "tmp_cleanup.py").write_text("def handler(event, context):\n    return 1\n")
    path = tmp_path / "jobs.yaml"
    path.write_text(MANIFEST)
    manifest = load_manifest(path)
    deploy(manifest, manifest.jobs[0])
    return path, manifest


def day_after_tomorrow() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)


def invoke(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def fill_day(day: datetime, skip: set[int], failed: set[int] = frozenset()) -> list[datetime]:
    db = boto3.client("dynamodb", region_name="eu-west-1")
    fires = [day + timedelta(hours=h) for h in range(1, 25)]
    for h, fire in enumerate(fires, start=1):
        if h not in skip:
            put_run(
                db,
                "tmp-cleanup",
                scheduled_run_id(fire, f"e{h}"),
                scheduled_for=fire,
                started_at=fire + timedelta(seconds=2),
                status="failed" if h in failed else "succeeded",
                error="ValueError: disk full" if h in failed else None,
            )
    return fires


def test_audit_table_lists_problems_and_exits_3(project: Any) -> None:
    path, _ = project
    day = day_after_tomorrow()
    fill_day(day, skip={3, 4}, failed={17})
    now = (day + timedelta(days=1, minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = invoke("audit", "-f", str(path), "--since", "24h", "--now", now)
    assert result.exit_code == 3, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Audit ") and "(grace 120s)" in lines[0]
    assert "  24 fire times: 21 ok, 2 missed, 1 failed" in lines
    assert any(line.startswith(f"  {(day + timedelta(hours=3)):%Y-%m-%dT%H:%M:%SZ}  missed") for line in lines)
    assert any("failed" in line and "ValueError: disk full" in line for line in lines)
    assert lines[-1] == "PROBLEMS: 2 missed, 1 failed; 21 of 24 expected runs succeeded"


def test_audit_json_and_clean_exit(project: Any) -> None:
    path, _ = project
    day = day_after_tomorrow()
    fill_day(day, skip=set())
    result = invoke(
        "audit",
        "tmp-cleanup",
        "-f",
        str(path),
        "--since",
        day.isoformat(),
        "--until",
        (day + timedelta(days=1)).isoformat(),
        "--now",
        (day + timedelta(days=1, hours=1)).isoformat(),
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (job,) = data["jobs"]
    assert job["counts"] == {"ok": 24} and job["trigger"]["kind"] == "rule" and data["exit_code"] == 0
    # One Query for the window, one for DLQ retries started in the hour after it; never a Scan.
    assert data["requests"]["dynamodb.Query"] == 2 and "dynamodb.Scan" not in data["requests"]
    assert job["checks"][0]["fire_time"] == (day + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_bad_window_options_are_usage_errors(project: Any) -> None:
    path, _ = project
    result = CliRunner().invoke(cli, ["audit", "-f", str(path), "--since", "yesterday"])
    assert result.exit_code == 2 and "expected a duration like 24h" in result.output
    result = CliRunner().invoke(
        cli, ["audit", "-f", str(path), "--since", "2026-11-27T10:00:00Z", "--until", "2026-11-27T09:00:00Z"]
    )
    assert result.exit_code == 2 and "the window is empty" in result.output


def test_pause_resume_commands_and_history_events(project: Any) -> None:
    path, _ = project
    first = invoke("pause", "tmp-cleanup", "-f", str(path), "--reason", "db migration")
    assert first.exit_code == 0 and first.output.startswith(
        "paused tmp-cleanup: EventBridge rule acme-jobs--tmp-cleanup disabled by arn:"
    )
    assert invoke("pause", "tmp-cleanup", "-f", str(path)).output.startswith("tmp-cleanup is already paused")
    events = boto3.client("events", region_name="eu-west-1")
    assert events.describe_rule(Name="acme-jobs--tmp-cleanup")["State"] == "DISABLED"
    resumed = invoke("resume", "tmp-cleanup", "-f", str(path))
    assert resumed.exit_code == 0 and resumed.output.startswith(
        "resumed tmp-cleanup: EventBridge rule acme-jobs--tmp-cleanup enabled"
    )
    assert events.describe_rule(Name="acme-jobs--tmp-cleanup")["State"] == "ENABLED"
    db = boto3.client("dynamodb", region_name="eu-west-1")
    items = [
        from_item(i).as_dict()
        for i in db.query(
            TableName=TABLE, KeyConditionExpression="job = :j", ExpressionAttributeValues={":j": {"S": "tmp-cleanup"}}
        )["Items"]
    ]
    assert [(i["action"], i.get("reason")) for i in items] == [("pause", "db migration"), ("resume", None)]


def test_unknown_job_is_one_line_error(project: Any) -> None:
    path, _ = project
    result = CliRunner().invoke(cli, ["pause", "nope", "-f", str(path)])
    assert result.exit_code == 1 and "no job named 'nope'" in str(result.exception)


def wrapper_message(url: str, run_id: str) -> None:
    body = {
        "source": "cronplane",
        "job": "tmp-cleanup",
        "run_id": run_id,
        "trigger": "schedule",
        "status": "failed",
        "attempts": [
            {"attempt": 1, "started_at": "2026-11-27T09:00:01Z", "error_type": "OSError", "error_message": "disk full"}
        ],
        "error": "OSError: disk full",
        "event": {"cronplane": {"trigger": "schedule", "event_id": "x", "scheduled_for": "2026-11-27T09:00:00Z"}},
    }
    boto3.client("sqs", region_name="eu-west-1").send_message(QueueUrl=url, MessageBody=json.dumps(body))


def queue() -> str:
    return boto3.client("sqs", region_name="eu-west-1").get_queue_url(QueueName="acme-jobs--tmp-cleanup-dlq")[
        "QueueUrl"
    ]


def test_dlq_list_and_replay(project: Any) -> None:
    path, _ = project
    wrapper_message(queue(), "20261127T090000Z-aaaa1111")
    wrapper_message(queue(), "20261127T100000Z-bbbb2222")
    listed = invoke("dlq", "tmp-cleanup", "-f", str(path))
    assert listed.exit_code == 0
    assert "tmp-cleanup: 2 message(s) in the dead-letter queue (none consumed)" in listed.output
    assert "20261127T090000Z-aaaa1111" in listed.output and "OSError: disk full" in listed.output
    as_json = json.loads(invoke("dlq", "tmp-cleanup", "-f", str(path), "-o", "json").output)
    assert [m["source"] for m in as_json["messages"]] == ["wrapper", "wrapper"]
    # No terminal and no --yes: refuse, touch nothing.
    refused = CliRunner().invoke(cli, ["dlq", "replay", "tmp-cleanup", "-f", str(path), "--all"])
    assert refused.exit_code == 1 and "pass --yes" in str(refused.exception)
    replayed = invoke("dlq", "replay", "tmp-cleanup", "-f", str(path), "--run", "20261127T090000Z-aaaa1111", "--yes")
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 20261127T090000Z-aaaa1111 as retry run" in replayed.output and "1 of 1 replayed" in replayed.output
    left = json.loads(invoke("dlq", "tmp-cleanup", "-f", str(path), "-o", "json").output)["messages"]
    assert [m["run_id"] for m in left] == ["20261127T100000Z-bbbb2222"]


def test_dlq_replay_needs_a_selection_and_known_runs(project: Any) -> None:
    path, _ = project
    wrapper_message(queue(), "20261127T090000Z-aaaa1111")
    usage = CliRunner().invoke(cli, ["dlq", "replay", "tmp-cleanup", "-f", str(path)])
    assert usage.exit_code == 2 and "--run RUN_ID (repeatable) or --all" in usage.output
    unknown = CliRunner().invoke(cli, ["dlq", "replay", "tmp-cleanup", "-f", str(path), "--run", "nope", "--yes"])
    assert unknown.exit_code == 1 and "runs in the queue: 20261127T090000Z-aaaa1111" in str(unknown.exception)


def test_backfill_prints_plan_then_runs(project: Any) -> None:
    path, _ = project
    day = datetime(2026, 11, 20, tzinfo=UTC)
    fires = fill_day(day, skip={5, 6})
    sent: list[dict[str, Any]] = []
    args = [
        "backfill",
        "tmp-cleanup",
        "-f",
        str(path),
        "--from",
        "2026-11-20T01:00:00Z",
        "--to",
        "2026-11-21T00:00:00Z",
        "--now",
        "2026-11-21T06:00:00Z",
        "--rate",
        "6000/min",
    ]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1 and "pass --yes" in str(refused.exception)
    assert f"  {fires[4]:%Y-%m-%dT%H:%M:%SZ}  missed     run {backfill_run_id(fires[4])}" in refused.output

    import botocore.session  # noqa: F401  (hook every client the command creates)
    from botocore.hooks import HierarchicalEmitter

    original = HierarchicalEmitter.emit

    def spy(self: Any, event_name: str, **kwargs: Any) -> Any:
        if event_name.startswith("provide-client-params.lambda.Invoke"):
            sent.append(json.loads(kwargs["params"]["Payload"]))
        return original(self, event_name, **kwargs)

    HierarchicalEmitter.emit = spy  # type: ignore[method-assign]
    try:
        result = invoke(*args, "--yes")
    finally:
        HierarchicalEmitter.emit = original  # type: ignore[method-assign]
    assert result.exit_code == 0, result.output
    assert (
        "Backfill tmp-cleanup 2026-11-20T01:00:00Z .. 2026-11-21T00:00:00Z: 24 fire times, 2 without a successful run"
        in result.output
    )
    assert "[2/2]" in result.output and "2 of 2 backfill run(s) started" in result.output
    assert [e["cronplane"]["scheduled_for"] for e in sent] == ["2026-11-20T05:00:00Z", "2026-11-20T06:00:00Z"]


def test_backfill_rate_must_be_per_minute(project: Any) -> None:
    path, _ = project
    result = CliRunner().invoke(
        cli, ["backfill", "tmp-cleanup", "-f", str(path), "--from", "1d", "--to", "1h", "--rate", "fast"]
    )
    assert result.exit_code == 2 and "expected runs per minute, like 10/min" in result.output


def test_ops_commands_keep_working_after_a_one_time_job_fired(project: Any) -> None:
    """A past at() makes validate/deploy refuse the manifest, but on-call must still be able to
    pause and audit the other jobs."""
    path, _ = project
    path.write_text(
        MANIFEST + "  one-off:\n    handler: infra/tmp_cleanup.py:handler\n    schedule: at(2020-01-01T00:00:00)\n"
    )
    result = invoke("pause", "tmp-cleanup", "-f", str(path))
    assert result.exit_code == 0, result.output
    assert "paused tmp-cleanup" in result.output


def test_backfill_window_mistakes_are_usage_errors(project: Any) -> None:
    """Regression: an empty backfill window exited 1 (a failure) while audit's exits 2 (usage)."""
    path, _ = project
    base = ["backfill", "tmp-cleanup", "-f", str(path), "--now", "2026-11-21T06:00:00Z"]
    empty = CliRunner().invoke(cli, [*base, "--from", "2026-11-21T00:00:00Z", "--to", "2026-11-20T00:00:00Z"])
    assert (
        empty.exit_code == 2
        and "the window is empty: --to 2026-11-20T00:00:00Z is not after --from 2026-11-21T00:00:00Z" in empty.output
    )
    future = CliRunner().invoke(cli, [*base, "--from", "2026-11-22T00:00:00Z", "--to", "2026-11-23T00:00:00Z"])
    assert future.exit_code == 2 and "is in the future" in future.output
    audit_empty = CliRunner().invoke(
        cli, ["audit", "-f", str(path), "--since", "2026-11-22T00:00:00Z", "--now", "2026-11-21T06:00:00Z"]
    )
    assert audit_empty.exit_code == 2
    assert "--since 2026-11-22T00:00:00Z is not before now 2026-11-21T06:00:00Z" in audit_empty.output


def test_backfill_of_a_paused_job_says_so_and_counts_read_well(project: Any) -> None:
    path, _ = project
    day = datetime(2026, 11, 20, tzinfo=UTC)
    fill_day(day, skip={5})
    assert invoke("pause", "tmp-cleanup", "-f", str(path), "--reason", "disk migration").exit_code == 0
    result = CliRunner().invoke(
        cli,
        [
            "backfill",
            "tmp-cleanup",
            "-f",
            str(path),
            "--from",
            "2026-11-20T04:30:00Z",
            "--to",
            "2026-11-20T05:30:00Z",
            "--now",
            "2026-11-21T06:00:00Z",
        ],
    )
    lines = result.output.splitlines()
    assert (
        lines[0]
        == "Backfill tmp-cleanup 2026-11-20T04:30:00Z .. 2026-11-20T05:30:00Z: 1 fire time, 1 without a successful run"
    )
    assert lines[1].startswith("  note: tmp-cleanup is paused by arn:aws:sts::") and lines[1].endswith(
        "(disk migration); the backfill runs it anyway"
    )


def test_audit_lists_unmatched_runs_under_a_heading_in_columns(project: Any) -> None:
    path, _ = project
    day = day_after_tomorrow()
    fill_day(day, skip=set())
    db = boto3.client("dynamodb", region_name="eu-west-1")
    put_run(
        db,
        "tmp-cleanup",
        f"{day + timedelta(hours=5, minutes=7):%Y%m%dT%H%M%SZ}-m1234567",
        trigger="manual",
        status="failed",
        started_at=day + timedelta(hours=5, minutes=7),
        triggered_by="arn:aws:sts::123456789012:user/ana",
    )
    result = invoke(
        "audit",
        "-f",
        str(path),
        "--since",
        day.isoformat(),
        "--until",
        (day + timedelta(hours=1)).isoformat(),
        "--now",
        (day + timedelta(days=1, hours=1)).isoformat(),
    )
    assert result.exit_code == 0, result.output
    assert "  1 fire time: 1 ok" in result.output.splitlines()
    result = invoke(
        "audit",
        "-f",
        str(path),
        "--since",
        day.isoformat(),
        "--until",
        (day + timedelta(days=1)).isoformat(),
        "--now",
        (day + timedelta(days=1, hours=1)).isoformat(),
    )
    lines = result.output.splitlines()
    heading = lines.index("  runs that match no fire time (listed, not checked):")
    assert lines[heading + 1] == (
        f"  manual    {day + timedelta(hours=5, minutes=7):%Y%m%dT%H%M%SZ}-m1234567     failed     "
        "manual run by arn:aws:sts::123456789012:user/ana"
    )
    assert result.exit_code == 0  # a failed manual run is listed, never flagged


def test_dlq_help_shows_how_to_list_and_replay() -> None:
    result = CliRunner().invoke(cli, ["dlq", "--help"])
    assert result.exit_code == 0
    assert "dlq [OPTIONS] JOB [-o json] | replay JOB (--run RUN_ID | --all)" in " ".join(result.output.split())


def test_forbid_backfill_reports_how_its_runs_ended_and_exits_1_on_failure(tmp_path: Path, deploy: Any) -> None:
    """Regression: a forbid job's backfill waits for each run's final status, but said only
    "2 of 2 backfill run(s) started" and exited 0 when they had all failed."""
    (tmp_path / "jobs" / "infra").mkdir(parents=True)
    (tmp_path / "jobs" / "infra" / "tmp_cleanup.py").write_text("def handler(event, context):\n    return 1\n")
    path = tmp_path / "jobs.yaml"
    path.write_text(MANIFEST + "    concurrency: forbid\n")
    deploy(load_manifest(path), load_manifest(path).jobs[0])
    day = datetime(2026, 11, 20, tzinfo=UTC)
    fill_day(day, skip={5, 6})
    db = boto3.client("dynamodb", region_name="eu-west-1")

    from botocore.hooks import HierarchicalEmitter

    original = HierarchicalEmitter.emit

    def runtime(self: Any, event_name: str, **kwargs: Any) -> Any:
        # Stands in for the function: the 05:00 run fails, the 06:00 one succeeds.
        if event_name.startswith("provide-client-params.lambda.Invoke"):
            env = json.loads(kwargs["params"]["Payload"])["cronplane"]
            fire = datetime.fromisoformat(env["scheduled_for"].replace("Z", "+00:00"))
            put_run(
                db,
                "tmp-cleanup",
                env["run_id"],
                trigger="backfill",
                scheduled_for=fire,
                started_at=day + timedelta(days=1),
                status="failed" if fire.hour == 5 else "succeeded",
                error="OSError: disk full",
            )
        return original(self, event_name, **kwargs)

    HierarchicalEmitter.emit = runtime  # type: ignore[method-assign]
    try:
        result = invoke(
            "backfill",
            "tmp-cleanup",
            "-f",
            str(path),
            "--from",
            "2026-11-20T04:30:00Z",
            "--to",
            "2026-11-20T06:30:00Z",
            "--now",
            "2026-11-21T06:00:00Z",
            "--rate",
            "6000/min",
            "--yes",
        )
    finally:
        HierarchicalEmitter.emit = original  # type: ignore[method-assign]
    assert "[1/2] 2026-11-20T05:00:00Z run 20261120T050000Z-backfill: failed" in result.output
    assert (
        "2 of 2 backfill run(s) started (1 failed, 1 succeeded); follow them with `jobctl history tmp-cleanup`"
        in result.output
    )
    assert result.exit_code == 1


def test_audit_header_says_or_earlier_only_for_an_estimated_deploy_time() -> None:
    from cronplane.cli.views.ops import audit_text
    from cronplane.ops.audit import AuditReport, JobAudit
    from cronplane.ops.switch import TriggerKind, TriggerState

    at = datetime(2026, 11, 27, 9, tzinfo=UTC)
    schedule = TriggerState(TriggerKind.SCHEDULE, "acme-jobs--nightly-report", "acme-jobs", True, at)
    rule = TriggerState(TriggerKind.RULE, "acme-jobs--tmp-cleanup", None, True, None)
    jobs = (
        JobAudit("nightly-report", at, at, schedule, at, "schedule CreationDate"),
        JobAudit("tmp-cleanup", at, at, rule, at, "function LastModified"),
    )
    text = audit_text(AuditReport(at, at, 120, jobs))
    assert "live since 2026-11-27T09:00:00Z (schedule CreationDate)" in text
    assert "live since 2026-11-27T09:00:00Z or earlier (function LastModified)" in text


def test_an_age_beyond_the_calendar_is_a_usage_error_not_a_traceback(project: Any) -> None:
    path, _ = project
    result = CliRunner().invoke(cli, ["audit", "-f", str(path), "--since", "99999999999d"])
    assert result.exit_code == 2
    assert ("further back than dates go" in result.output and result.exception is None) or isinstance(
        result.exception, SystemExit
    )
