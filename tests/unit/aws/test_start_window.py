"""``start_window`` on EventBridge Scheduler against moto in-process: planned as a change of the
schedule, applied as its FlexibleTimeWindow (read back with scheduler.get_schedule), taken off
again, and left out of the recorded settings of a schedule without one."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from deploy_builders import desired_for, make_job, make_manifest

from cronplane.aws.client import AwsClient
from cronplane.aws.deployer import Deployer
from cronplane.aws.session import AwsConfig
from cronplane.build.resources import Kind
from cronplane.manifest.loader import load_manifest, on_scheduler
from cronplane.manifest.models import Manifest

ROOT = Path(__file__).resolve().parents[3]
JOB = "nightly-report"  # on Scheduler in the example (it has a timezone)
SCHEDULE = "acme-jobs--nightly-report"


@pytest.fixture
def manifest(tmp_path: Path, aws: None) -> Manifest:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return load_manifest(str(tmp_path / "jobs.yaml"))


def deployer() -> tuple[Deployer, AwsClient]:
    client = AwsClient(AwsConfig(region="eu-west-1"))
    return Deployer(client), client


def with_window(manifest: Manifest, minutes: int, job: str = JOB) -> Manifest:
    return replace(
        manifest, jobs=tuple(replace(j, start_window=minutes) if j.name == job else j for j in manifest.jobs)
    )


def live_window(name: str = SCHEDULE) -> dict[str, Any]:
    window: dict[str, Any] = boto3.client("scheduler").get_schedule(Name=name, GroupName="acme-jobs")[
        "FlexibleTimeWindow"
    ]
    return window


def test_a_window_is_planned_applied_and_taken_off_again(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    assert live_window() == {"Mode": "OFF"}

    windowed = with_window(manifest, 15)
    dep, client = deployer()
    (action,) = dep.plan(windowed).changes
    assert action.label == f"update scheduler schedule {SCHEDULE}"
    assert [(f.name, f.old, f.new) for f in action.fields] == [("start_window", None, 15)]
    assert client.writes == 0  # plan reads only
    dep.deploy(windowed)
    assert live_window() == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert not deployer()[0].plan(windowed).has_changes

    wider = with_window(manifest, 30)
    (action,) = deployer()[0].plan(wider).changes
    assert [(f.name, f.old, f.new) for f in action.fields] == [("start_window", 15, 30)]
    deployer()[0].deploy(wider)
    assert live_window() == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 30}

    dep, _ = deployer()
    (action,) = dep.plan(manifest).changes  # back to on time (the planner shows fields of the
    # desired settings only, and a schedule without a window has no start_window key)
    assert action.label == f"update scheduler schedule {SCHEDULE}"
    dep.deploy(manifest)
    assert live_window() == {"Mode": "OFF"}
    assert not deployer()[0].plan(manifest).has_changes


def test_a_window_moves_a_utc_job_from_its_rule_to_scheduler(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    windowed = with_window(manifest, 10, job="tmp-cleanup")
    assert on_scheduler(windowed, windowed.job("tmp-cleanup"))
    deployer()[0].deploy(windowed)
    assert live_window("acme-jobs--tmp-cleanup") == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
    rules = boto3.client("events").list_rules(NamePrefix="acme-jobs--tmp-cleanup")["Rules"]
    assert rules == []  # the rule it had is gone: one trigger per job
    assert not deployer()[0].plan(windowed).has_changes


def test_pause_and_resume_keep_the_window(manifest: Manifest) -> None:
    from cronplane.aws.kinds import trigger_kind

    windowed = with_window(manifest, 20)
    deployer()[0].deploy(windowed)
    kind = trigger_kind("schedule")
    client = AwsClient(AwsConfig(region="eu-west-1"))
    state = kind.read_trigger(client, "acme-jobs", JOB)
    assert state is not None
    kind.set_enabled(client, state, False)
    kind.set_enabled(client, state, True)
    assert live_window() == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 20}


def test_a_schedule_without_a_window_records_the_same_settings_as_before_the_setting_existed() -> None:
    """Existing schedules are not rewritten by an upgrade: ``start_window`` is in the recorded
    hidden settings only when a job has one."""
    plain = make_manifest(make_job("a", "cron(0 9 * * ? *)", timezone="Europe/Berlin"))
    windowed = make_manifest(make_job("a", "cron(0 9 * * ? *)", timezone="Europe/Berlin", start_window=5))
    [before] = [r for r in desired_for(plain).resources if r.kind == Kind.SCHEDULE]
    [after] = [r for r in desired_for(windowed).resources if r.kind == Kind.SCHEDULE]
    assert set(before.hidden) == {
        "group",
        "expression",
        "timezone",
        "description",
        "action_after_completion",
        "role_arn",
        "retry",
        "dlq",
        "input",
    }
    assert after.hidden["start_window"] == 5
    assert {k: v for k, v in after.hidden.items() if k != "start_window"} == dict(before.hidden)
    assert after.hidden_hash() != before.hidden_hash()  # so a new window is planned
