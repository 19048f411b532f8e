"""jobctl pause / resume: the trigger is switched without a deploy, the marker and the history
event record who and when, and repeating either is harmless and says so."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from ops_fixtures import TABLE, make_job, make_manifest

from cronplane.cli.views.ops import pause_text  # the words; ops.pause says what happened
from cronplane.errors import CronplaneError
from cronplane.manifest.models import TriggerMode
from cronplane.ops.pause import NotDeployedError, list_markers, pause_job, read_marker, resume_job
from cronplane.runtime.schema import from_item

T1 = datetime(2026, 11, 27, 10, 0, 5, tzinfo=UTC)
T2 = datetime(2026, 11, 27, 12, 30, 0, tzinfo=UTC)


def rule_state(name: str = "acme-jobs--tmp-cleanup") -> str:
    return str(boto3.client("events", region_name="eu-west-1").describe_rule(Name=name)["State"])


def schedule(name: str = "acme-jobs--nightly-report") -> dict[str, Any]:
    return boto3.client("scheduler", region_name="eu-west-1").get_schedule(Name=name, GroupName="acme-jobs")


def job_items(job: str) -> list[dict[str, Any]]:
    db = boto3.client("dynamodb", region_name="eu-west-1")
    page = db.query(TableName=TABLE, KeyConditionExpression="job = :j", ExpressionAttributeValues={":j": {"S": job}})
    return [from_item(i).as_dict() for i in page["Items"]]  # as stored: the items' plain form


@pytest.fixture
def rule_job(deploy: Any) -> Any:
    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)"))
    deploy(manifest, manifest.jobs[0])
    return manifest


def test_pause_disables_rule_and_records_who_and_when(clients: Any, rule_job: Any) -> None:
    outcome = pause_job(clients, rule_job, "tmp-cleanup", now=T1, reason="provider outage")
    assert outcome.changed and rule_state() == "DISABLED"
    assert pause_text(outcome) == (
        "paused tmp-cleanup: EventBridge rule acme-jobs--tmp-cleanup disabled by "
        "arn:aws:sts::123456789012:user/moto at 2026-11-27T10:00:05Z"
    )
    marker = read_marker(clients.dynamodb, TABLE, "tmp-cleanup")
    assert marker is not None and (marker.at_time, marker.reason) == (T1, "provider outage")
    assert [m.job for m in list_markers(clients.dynamodb, TABLE)] == ["tmp-cleanup"]
    (event,) = job_items("tmp-cleanup")
    assert event["run_id"] == "20261127T100005Z-event-pause"
    assert (event["kind"], event["action"], event["actor"], event["at"]) == (
        "event",
        "pause",
        marker.actor,
        "2026-11-27T10:00:05Z",
    )
    assert event["ttl"] > T1.timestamp() and "gsi_pk" not in event  # not a run: stays out of the run index


def test_pause_twice_is_a_no_op_with_a_clear_message(clients: Any, rule_job: Any) -> None:
    pause_job(clients, rule_job, "tmp-cleanup", now=T1)
    again = pause_job(clients, rule_job, "tmp-cleanup", now=T2)
    assert not again.changed
    assert pause_text(again) == (
        "tmp-cleanup is already paused (by arn:aws:sts::123456789012:user/moto since "
        "2026-11-27T10:00:05Z); nothing to do"
    )
    assert len(job_items("tmp-cleanup")) == 1


def test_pause_holds_when_someone_re_enabled_the_rule(clients: Any, rule_job: Any) -> None:
    pause_job(clients, rule_job, "tmp-cleanup", now=T1)
    boto3.client("events", region_name="eu-west-1").enable_rule(Name="acme-jobs--tmp-cleanup")
    again = pause_job(clients, rule_job, "tmp-cleanup", now=T2)
    assert again.changed and rule_state() == "DISABLED" and "disabled it again" in pause_text(again)


def test_resume_enables_and_clears_the_marker(clients: Any, rule_job: Any) -> None:
    pause_job(clients, rule_job, "tmp-cleanup", now=T1)
    outcome = resume_job(clients, rule_job, "tmp-cleanup", now=T2)
    assert outcome.changed and rule_state() == "ENABLED"
    assert pause_text(outcome).endswith(
        "at 2026-11-27T12:30:00Z (paused by arn:aws:sts::123456789012:user/moto since 2026-11-27T10:00:05Z)"
    )
    assert read_marker(clients.dynamodb, TABLE, "tmp-cleanup") is None
    assert [i["action"] for i in job_items("tmp-cleanup")] == ["pause", "resume"]
    again = resume_job(clients, rule_job, "tmp-cleanup", now=T2)
    assert (
        not again.changed
        and pause_text(again)
        == "tmp-cleanup is not paused (EventBridge rule acme-jobs--tmp-cleanup is enabled); nothing to do"
    )


def test_scheduler_job_keeps_its_whole_definition(clients: Any, deploy: Any) -> None:
    manifest = make_manifest(make_job("nightly-report", "cron(0 2 * * ? *)", timezone_name="Europe/Berlin"))
    deploy(manifest, manifest.jobs[0])
    before = schedule()
    pause_job(clients, manifest, "nightly-report", now=T1)
    paused = schedule()
    assert paused["State"] == "DISABLED"
    for field in ("ScheduleExpression", "ScheduleExpressionTimezone", "Target", "FlexibleTimeWindow"):
        assert paused[field] == before[field]
    resume_job(clients, manifest, "nightly-report", now=T2)
    assert schedule()["State"] == "ENABLED"


def test_trigger_mode_scheduler_is_found_for_a_utc_job(clients: Any, deploy: Any) -> None:
    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)"), trigger_mode=TriggerMode.SCHEDULER)
    deploy(manifest, manifest.jobs[0])
    outcome = pause_job(clients, manifest, "tmp-cleanup", now=T1)
    assert outcome.trigger.label == "Scheduler schedule acme-jobs/acme-jobs--tmp-cleanup"
    assert schedule("acme-jobs--tmp-cleanup")["State"] == "DISABLED"


def test_undeployed_job_and_unknown_job_are_clear_errors(clients: Any, table: str) -> None:
    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)"))
    with pytest.raises(
        NotDeployedError, match=r"tmp-cleanup has no EventBridge rule or Scheduler schedule.*jobctl deploy"
    ):
        pause_job(clients, manifest, "tmp-cleanup", now=T1)
    with pytest.raises(CronplaneError, match="no job named 'nope'"):
        pause_job(clients, manifest, "nope", now=T1)


def test_resume_refuses_a_job_disabled_in_the_manifest(clients: Any, deploy: Any) -> None:
    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)", enabled=False))
    deploy(manifest, manifest.jobs[0])
    with pytest.raises(CronplaneError, match=r"enabled: false.*set enabled: true and run `jobctl deploy`"):
        resume_job(clients, manifest, "tmp-cleanup", now=T2)
    assert rule_state() == "DISABLED"


def test_pause_without_history_table_changes_nothing(clients: Any) -> None:
    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)"))
    boto3.client("events", region_name="eu-west-1").put_rule(
        Name="acme-jobs--tmp-cleanup",
        ScheduleExpression="cron(0 * * * ? *)",
        Tags=[{"Key": "cronplane:namespace", "Value": "acme-jobs"}],
    )
    with pytest.raises(
        CronplaneError, match="history table acme-jobs-history does not exist: deploy the manifest first"
    ):
        pause_job(clients, manifest, "tmp-cleanup", now=T1)
    assert rule_state() == "ENABLED"
