"""The job's state record stands in for the log group and Scheduler schedule listings (aws.vouch):
an unchanged deploy lists neither, yet every change the manifest makes is still found and shown
old -> new, a removed job loses both, a deploy or prune cut short is finished, records written
before are listed once and rewritten, a paused job stays paused; and what changed behind
cronplane's back is found with --refresh (moto in-process)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient, Call
from cronplane.aws.deployer import Deployer
from cronplane.aws.plan import Op
from cronplane.aws.session import AwsConfig
from cronplane.build.resources import CONFIG_TAG, decode_state, encode_state
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest, TriggerMode
from testkit import jobctl

ROOT = Path(__file__).resolve().parents[3]
NS = "acme-jobs"
GROUP = NS  # the namespace's schedule group
LISTINGS = ("logs.DescribeLogGroups", "scheduler.ListSchedules")
LOCK_WRITES = ("dynamodb.put_item", "dynamodb.delete_item")


@pytest.fixture
def manifest_path(tmp_path: Path, aws: None) -> Path:
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    text = (
        (ROOT / "jobs.yaml").read_text().replace("region: eu-west-1\n", "region: eu-west-1\ntrigger_mode: scheduler\n")
    )
    (tmp_path / "jobs.yaml").write_text(text)
    return tmp_path / "jobs.yaml"


@pytest.fixture
def manifest(manifest_path: Path) -> Manifest:
    loaded = load_manifest(str(manifest_path))
    assert loaded.trigger_mode is TriggerMode.SCHEDULER
    return loaded


def deployer(*, refresh: bool = False, **kw: Any) -> tuple[Deployer, AwsClient]:
    client = AwsClient(AwsConfig(region="eu-west-1"), before_write=kw.pop("before_write", None))
    dep = Deployer(client, **kw)
    dep.inventory.refresh = refresh
    return dep, client


def with_job(manifest: Manifest, name: str, **changes: Any) -> Manifest:
    return replace(manifest, jobs=tuple(replace(j, **changes) if j.name == name else j for j in manifest.jobs))


def without_job(manifest: Manifest, name: str) -> Manifest:
    return replace(manifest, jobs=tuple(j for j in manifest.jobs if j.name != name))


def resource_writes(client: AwsClient) -> list[str]:
    return [w for w in client.write_calls() if w not in LOCK_WRITES]


def listed(client: AwsClient) -> dict[str, int]:
    return {op: n for op, n in client.operation_counts().items() if op in LISTINGS}


def retention(name: str) -> int | None:
    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return next((g.get("retentionInDays") for g in groups if g["logGroupName"] == name), None)


def schedule_state(job: str) -> str | None:
    try:
        return str(boto3.client("scheduler").get_schedule(Name=f"{NS}--{job}", GroupName=GROUP)["State"])
    except boto3.client("scheduler").exceptions.ResourceNotFoundException:
        return None


def test_an_unchanged_deploy_lists_no_log_group_nor_schedule(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    record = decode_state(boto3.client("lambda").list_tags(Resource=function_arn("tmp-cleanup"))["Tags"][CONFIG_TAG])
    assert {"log", "log+", "sched", "sched+"} <= set(record)  # visible settings vouched for too
    dep, client = deployer()
    assert not dep.deploy(manifest).plan.has_changes
    assert client.writes == 0 and listed(client) == {}
    assert "scheduler.GetSchedule" not in client.operation_counts()
    dep, client = deployer(refresh=True)  # listed, they agree with what the records say
    assert not dep.deploy(manifest).plan.has_changes and set(listed(client)) == set(LISTINGS)


def test_a_visible_change_is_read_on_demand_and_shown_old_to_new(manifest: Manifest) -> None:
    assert manifest.job("tmp-cleanup").log_retention_days == 30
    deployer()[0].deploy(manifest)
    changed = with_job(with_job(manifest, "tmp-cleanup", log_retention_days=90), "invoice-sync", enabled=False)
    dep, client = deployer()
    plan = dep.plan(changed)
    assert sorted((a.op, a.kind, a.name, tuple((f.name, f.old, f.new) for f in a.fields)) for a in plan.changes) == [
        (Op.UPDATE, "log group", f"/aws/lambda/{NS}--tmp-cleanup", (("retention", 30, 90),)),
        (Op.UPDATE, "scheduler schedule", f"{NS}--invoice-sync", (("state", "ENABLED", "DISABLED"),)),
    ]
    counts = client.operation_counts()  # the two it needs, read by name: no listing
    assert counts["logs.DescribeLogGroups"] == 1 and counts["scheduler.GetSchedule"] == 1
    assert "scheduler.ListSchedules" not in counts

    dep, client = deployer()
    dep.deploy(changed)
    assert sorted(w for w in resource_writes(client) if w != "lambda.tag_resource") == [
        "logs.put_retention_policy",
        "scheduler.update_schedule",
    ]
    assert retention(f"/aws/lambda/{NS}--tmp-cleanup") == 90 and schedule_state("invoice-sync") == "DISABLED"
    dep, client = deployer()
    assert not dep.deploy(changed).plan.has_changes and client.writes == 0 and listed(client) == {}


def test_changes_behind_cronplanes_back_are_found_with_refresh(manifest: Manifest, capsys: Any) -> None:
    deployer()[0].deploy(manifest)
    boto3.client("logs").put_retention_policy(logGroupName=f"/aws/lambda/{NS}--tmp-cleanup", retentionInDays=1)
    boto3.client("scheduler").delete_schedule(Name=f"{NS}--invoice-sync", GroupName=GROUP)

    assert not deployer()[0].plan(manifest).has_changes  # the records vouch: not seen (the trade)
    code, out, _ = jobctl(capsys, "plan", "-f", manifest.path, "--refresh")
    assert code == 0
    assert f"log group /aws/lambda/{NS}--tmp-cleanup" in out and f"scheduler schedule {NS}--invoice-sync" in out

    dep, client = deployer(refresh=True)
    plan = dep.deploy(manifest).plan
    assert sorted((a.op, a.name, a.reason) for a in plan.changes if a.op != Op.RECORD) == [
        (Op.CREATE, f"{NS}--invoice-sync", "missing"),
        (Op.UPDATE, f"/aws/lambda/{NS}--tmp-cleanup", "settings differ"),
    ]
    assert set(listed(client)) == set(LISTINGS)
    assert retention(f"/aws/lambda/{NS}--tmp-cleanup") == 30 and schedule_state("invoice-sync") == "ENABLED"
    assert not deployer()[0].plan(manifest).has_changes


def test_a_removed_job_loses_its_log_group_and_schedule(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    dep, client = deployer()
    plan = dep.deploy(without_job(manifest, "tmp-cleanup")).plan
    deleted = {(a.kind, a.name) for a in plan.changes if a.op == Op.DELETE}
    assert {("log group", f"/aws/lambda/{NS}--tmp-cleanup"), ("scheduler schedule", f"{NS}--tmp-cleanup")} <= deleted
    assert retention(f"/aws/lambda/{NS}--tmp-cleanup") is None and schedule_state("tmp-cleanup") is None
    assert listed(client) == {}  # the removed job's record named them


def test_a_prune_cut_short_after_the_function_is_finished_by_the_next_deploy(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    smaller = without_job(manifest, "tmp-cleanup")

    def die_at_the_log_group(call: Call) -> None:
        if (call.service, call.operation) == ("logs", "delete_log_group"):
            raise AwsError("injected failure")

    with pytest.raises(CronplaneError, match="injected failure"):
        deployer(before_write=die_at_the_log_group)[0].deploy(smaller)
    # The function (and the record on it) is gone; its log group and DLQ are left.
    assert retention(f"/aws/lambda/{NS}--tmp-cleanup") is not None
    dep, client = deployer()
    dep.deploy(smaller)
    assert retention(f"/aws/lambda/{NS}--tmp-cleanup") is None
    assert "logs.DescribeLogGroups" in listed(client)  # a DLQ without a record: listed, not vouched
    again, client = deployer()
    assert not again.deploy(smaller).plan.has_changes and listed(client) == {}


def test_records_from_before_vouching_are_listed_once_and_rewritten(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    lam = boto3.client("lambda")
    for job in manifest.jobs:
        record = decode_state(lam.list_tags(Resource=function_arn(job.name))["Tags"][CONFIG_TAG])
        old = {slot: digest for slot, digest in record.items() if not slot.endswith("+")}
        lam.tag_resource(Resource=function_arn(job.name), Tags={CONFIG_TAG: encode_state(old)})

    dep, client = deployer()
    plan = dep.deploy(manifest).plan
    assert {a.op for a in plan.actions} == {Op.RECORD} and len(plan.actions) == len(manifest.jobs)
    assert set(listed(client)) == set(LISTINGS) and resource_writes(client) == ["lambda.tag_resource"] * 4
    dep, client = deployer()
    assert not dep.deploy(manifest).plan.has_changes and listed(client) == {}


def test_a_new_jobs_name_taken_by_an_untagged_log_group_is_found_at_plan_time(manifest: Manifest) -> None:
    deployer()[0].deploy(without_job(manifest, "search-reindex"))
    boto3.client("logs").create_log_group(logGroupName=f"/aws/lambda/{NS}--search-reindex")
    dep, client = deployer()
    plan = dep.deploy(manifest).plan
    assert not plan.has_changes and client.writes == 0
    assert any(
        n.startswith(f"not managed: log group /aws/lambda/{NS}--search-reindex has no cronplane:namespace={NS} tag")
        for n in plan.notes
    )
    assert "scheduler.ListSchedules" not in client.operation_counts()  # read by name, not listed


def test_a_paused_scheduler_job_stays_paused_and_unpause_enables_it(manifest: Manifest) -> None:
    from cronplane.ops.pause import pause_job

    deployer()[0].deploy(manifest)
    pause_job(AwsClient(AwsConfig(region="eu-west-1")), manifest, "invoice-sync", now=datetime.now(UTC))
    dep, client = deployer()
    result = dep.deploy(manifest)
    assert not result.plan.has_changes and client.writes == 0 and [d.job for d in result.plan.drift] == ["invoice-sync"]
    assert schedule_state("invoice-sync") == "DISABLED"
    dep, client = deployer()
    dep.deploy(manifest, unpause=["invoice-sync"])
    assert schedule_state("invoice-sync") == "ENABLED" and resource_writes(client) == ["scheduler.update_schedule"]


def test_a_fresh_deploy_lists_each_vouched_kind_instead_of_reading_every_name(manifest: Manifest) -> None:
    dep, client = deployer()
    dep.deploy(manifest)
    counts = client.operation_counts()
    # Listed (the plan shown, and again under the deploy lock), never read job by job; no
    # schedule is listed before the deploy made their group.
    assert counts["logs.DescribeLogGroups"] == 2 and "scheduler.ListSchedules" not in counts
    assert "scheduler.GetSchedule" not in counts


def function_arn(job: str) -> str:
    return f"arn:aws:lambda:eu-west-1:123456789012:function:{NS}--{job}"


def test_a_function_the_tagging_api_does_not_return_yet_makes_the_deploy_list(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    # The tagging API answers from an index that lags behind: a function of ours it does not
    # return yet has no record to read, so the records cannot vouch for the namespace.
    boto3.client("lambda").untag_resource(Resource=function_arn("tmp-cleanup"), TagKeys=["cronplane:namespace"])
    dep, client = deployer()
    dep.plan(manifest)
    assert set(listed(client)) == set(LISTINGS)
