"""The wired pipeline against moto in-process: pause kept / --unpause, field diffs of hidden
settings read on demand, progress, failures that release the lock, look-alike functions."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient, Call
from cronplane.aws.deployer import Deployer
from cronplane.aws.session import AwsConfig
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest, Permission

ROOT = Path(__file__).resolve().parents[3]
LOCK_KEY = {"job": {"S": "~deploy"}, "run_id": {"S": "~lock"}}


@pytest.fixture
def manifest(tmp_path: Path, aws: None) -> Manifest:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return load_manifest(str(tmp_path / "jobs.yaml"))


def deployer(**kw: Any) -> tuple[Deployer, AwsClient]:
    client = AwsClient(AwsConfig(region="eu-west-1"), before_write=kw.pop("before_write", None))
    return Deployer(client, **kw), client


def test_paused_job_stays_paused_until_unpause(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    ddb, events = boto3.client("dynamodb"), boto3.client("events")
    events.disable_rule(Name="acme-jobs--invoice-sync")
    ddb.put_item(
        TableName="acme-jobs-history",
        Item={
            "job": {"S": "~paused"},
            "run_id": {"S": "invoice-sync"},
            "actor": {"S": "arn:aws:iam::123456789012:user/ana"},
            "at": {"S": "2026-11-27T10:00:00Z"},
        },
    )

    dep, client = deployer()
    result = dep.deploy(manifest)
    assert client.writes == 0 and not result.plan.has_changes
    assert result.plan.notes == (
        "job invoice-sync: paused by arn:aws:iam::123456789012:user/ana since 2026-11-27T10:00:00Z; the manifest "
        "says `enabled: true` but the eventbridge rule stays disabled by the pause. Deploy keeps it paused — "
        "`jobctl resume invoice-sync` or `jobctl deploy --unpause invoice-sync` to enable it, or set "
        "`enabled: false` in the manifest to keep it off",
    )
    assert [(d.job, d.field, d.manifest, d.live, d.reason) for d in result.plan.drift] == [
        (
            "invoice-sync",
            "enabled",
            True,
            False,
            "paused by arn:aws:iam::123456789012:user/ana since 2026-11-27T10:00:00Z",
        )
    ]

    lines: list[str] = []
    dep, client = deployer(progress=lines.append)
    dep.deploy(manifest, unpause=["invoice-sync"])
    assert events.describe_rule(Name="acme-jobs--invoice-sync")["State"] == "ENABLED"
    assert [w for w in client.write_calls() if w != "dynamodb.put_item" and w != "dynamodb.delete_item"] == [
        "events.put_rule"
    ]
    assert "Item" not in ddb.get_item(
        TableName="acme-jobs-history", Key={"job": {"S": "~paused"}, "run_id": {"S": "invoice-sync"}}
    )
    resumed = ddb.query(
        TableName="acme-jobs-history",
        KeyConditionExpression="job = :j",
        ExpressionAttributeValues={":j": {"S": "invoice-sync"}},
    )["Items"]
    assert [i["action"]["S"] for i in resumed] == ["resume"]
    assert any(line.startswith("unpaused invoice-sync") for line in lines)
    dep, client = deployer()
    after = dep.deploy(manifest).plan
    assert not after.has_changes and after.drift == ()  # the marker is gone: nothing re-disables it


def test_hidden_change_shows_the_changed_field_old_and_new(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    extra = (Permission(actions=("s3:GetObject",), resources=("arn:aws:s3:::reports/*",)),)
    changed = replace(
        manifest, jobs=tuple(replace(j, permissions=extra) if j.name == "tmp-cleanup" else j for j in manifest.jobs)
    )
    dep, client = deployer()
    plan = dep.plan(changed)
    (action,) = plan.changes
    assert action.label == "update iam role acme-jobs--tmp-cleanup-exec"
    (field,) = action.fields
    assert field.name == "policy"
    old_actions = {a for s in field.old["Statement"] for a in s["Action"]}
    new_actions = {a for s in field.new["Statement"] for a in s["Action"]}
    assert new_actions - old_actions == {"s3:GetObject"}
    assert client.writes == 0  # plan reads only
    dep, client = deployer()
    dep.deploy(changed)
    # the policy, then the job's state record; tags did not change, so they are not rewritten
    assert [w for w in client.write_calls() if not w.startswith("dynamodb.")] == [
        "iam.put_role_policy",
        "lambda.tag_resource",
    ]
    policy = boto3.client("iam").get_role_policy(RoleName="acme-jobs--tmp-cleanup-exec", PolicyName="cronplane")
    assert any("s3:GetObject" in s["Action"] for s in policy["PolicyDocument"]["Statement"])


def test_progress_counts_every_change_of_the_deploy(manifest: Manifest) -> None:
    import threading

    lines: list[str] = []
    threads: set[str] = set()
    dep, _ = deployer(
        progress=lines.append, workers=2, before_write=lambda call: threads.add(threading.current_thread().name)
    )
    result = dep.deploy(manifest)
    job_threads = {t for t in threads if t.startswith("deploy")}
    assert len(job_threads) == 2  # the four jobs ran in parallel, on at most two workers
    steps = [line for line in lines if line.startswith("[")]
    assert len(steps) == len(result.plan.changes) == 30
    assert steps[0] == "[1/30] create dynamodb table acme-jobs-history"
    assert sorted(int(s[1 : s.index("/")]) for s in steps) == list(range(1, 31))


def test_failure_part_way_reports_progress_and_releases_the_lock(manifest: Manifest) -> None:
    writes = itertools.count(1)  # atomic: the deploy's workers write at once

    def fail_at_12(call: Call) -> None:
        if call.service == "dynamodb":
            return
        if next(writes) == 12:
            raise AwsError("AWS lambda create_function failed: ServiceException: boom")

    dep, _ = deployer(before_write=fail_at_12)
    with pytest.raises(CronplaneError) as info:
        dep.deploy(manifest)
    message = str(info.value)
    assert "boom" in message and "run deploy again (it continues from where this one stopped)" in message
    assert "Item" not in boto3.client("dynamodb").get_item(TableName="acme-jobs-history", Key=LOCK_KEY)
    dep, _ = deployer()
    dep.deploy(manifest)
    dep, client = deployer()
    assert not dep.deploy(manifest).plan.has_changes and client.writes == 0


def test_untagged_function_with_a_jobs_name_is_left_alone(manifest: Manifest) -> None:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="someone", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda").create_function(
        FunctionName="acme-jobs--tmp-cleanup",
        Role=role,
        Runtime="python3.12",
        Handler="x.y",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    dep, _client = deployer()
    result = dep.deploy(manifest)
    assert not [a for a in result.plan.changes if a.job == "tmp-cleanup"]
    assert any(
        n.startswith(
            "not managed: lambda function acme-jobs--tmp-cleanup has no cronplane:namespace=acme-jobs"
            " tag; job tmp-cleanup skipped"
        )
        for n in result.plan.notes
    )
    fn = boto3.client("lambda").get_function(FunctionName="acme-jobs--tmp-cleanup")
    assert fn["Configuration"]["Handler"] == "x.y" and not fn.get("Tags")
    # destroy leaves it too
    deployer()[0].deploy(manifest, destroy=True)
    assert (
        boto3.client("lambda").get_function(FunctionName="acme-jobs--tmp-cleanup")["Configuration"]["Handler"] == "x.y"
    )


def test_provisioned_concurrency_puts_the_trigger_on_an_alias_and_back(manifest: Manifest) -> None:
    with_pc = replace(
        manifest,
        jobs=tuple(
            replace(j, provisioned_concurrency=1, reserved_concurrency=3) if j.name == "invoice-sync" else j
            for j in manifest.jobs
        ),
    )
    deployer()[0].deploy(with_pc)
    lam, events = boto3.client("lambda"), boto3.client("events")
    alias = lam.get_alias(FunctionName="acme-jobs--invoice-sync", Name="live")
    (target,) = events.list_targets_by_rule(Rule="acme-jobs--invoice-sync")["Targets"]
    assert target["Arn"] == alias["AliasArn"]
    assert lam.get_function_concurrency(FunctionName="acme-jobs--invoice-sync")["ReservedConcurrentExecutions"] == 3
    assert (
        lam.get_function_event_invoke_config(FunctionName="acme-jobs--invoice-sync", Qualifier="live")[
            "MaximumRetryAttempts"
        ]
        == 0
    )
    assert not deployer()[0].plan(with_pc).has_changes

    dep, client = deployer()
    result = dep.deploy(manifest)  # provisioned and reserved concurrency dropped
    assert "delete lambda alias acme-jobs--invoice-sync" in [a.label for a in result.plan.changes]
    (target,) = events.list_targets_by_rule(Rule="acme-jobs--invoice-sync")["Targets"]
    assert not target["Arn"].endswith(":live")
    assert "lambda.delete_function_concurrency" in client.write_calls()
    assert not deployer()[0].plan(manifest).has_changes


def test_reserved_concurrency_change_is_shown_and_applied(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    changed = replace(
        manifest,
        jobs=tuple(replace(j, reserved_concurrency=2) if j.name == "tmp-cleanup" else j for j in manifest.jobs),
    )
    dep, _client = deployer()
    (action,) = dep.plan(changed).changes
    assert [(f.name, f.old, f.new) for f in action.fields] == [("reserved_concurrency", None, 2)]
    dep.deploy(changed)
    got = boto3.client("lambda").get_function_concurrency(FunctionName="acme-jobs--tmp-cleanup")
    assert got["ReservedConcurrentExecutions"] == 2


@pytest.mark.parametrize("k", [1, 5])
def test_ctrl_c_releases_the_lock_and_a_rerun_converges(manifest: Manifest, k: int) -> None:
    """Ctrl-C at the k-th resource write: k=1 lands in the main thread (the Scheduler group),
    k=5 inside a job's worker thread. Either way the lock is freed on the way out."""
    writes = itertools.count(1)  # atomic: the deploy's workers write at once

    def interrupt(call: Call) -> None:
        if call.service == "dynamodb":
            return
        if next(writes) == k:
            raise KeyboardInterrupt

    dep, _ = deployer(before_write=interrupt)
    with pytest.raises(KeyboardInterrupt):
        dep.deploy(manifest)
    assert "Item" not in boto3.client("dynamodb").get_item(TableName="acme-jobs-history", Key=LOCK_KEY)
    dep, _ = deployer(lock_wait=0)  # not blocked by a leftover lock
    dep.deploy(manifest)
    dep, client = deployer()
    assert not dep.deploy(manifest).plan.has_changes and client.writes == 0


def test_shared_resources_lose_tags_the_manifest_does_not_give_them(manifest: Manifest) -> None:
    deployer()[0].deploy(manifest)
    ddb, sched = boto3.client("dynamodb"), boto3.client("scheduler")
    table_arn = ddb.describe_table(TableName="acme-jobs-history")["Table"]["TableArn"]
    group_arn = sched.get_schedule_group(Name="acme-jobs")["Arn"]
    ddb.tag_resource(ResourceArn=table_arn, Tags=[{"Key": "stray", "Value": "1"}])
    sched.tag_resource(ResourceArn=group_arn, Tags=[{"Key": "stray", "Value": "1"}])
    dep, client = deployer()
    plan = dep.plan(manifest)
    assert [(a.label, [f.describe() for f in a.fields]) for a in plan.changes] == [
        ("update dynamodb table acme-jobs-history", ["tags: stray: 1 → (none)"]),
        ("update scheduler group acme-jobs", ["tags: stray: 1 → (none)"]),
    ]
    dep.deploy(manifest)
    assert "dynamodb.untag_resource" in client.write_calls() and "scheduler.untag_resource" in client.write_calls()
    assert "dynamodb.update_continuous_backups" not in client.write_calls()  # only the tags were touched
    assert "stray" not in {t["Key"] for t in ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"]}
    assert "stray" not in {t["Key"] for t in sched.list_tags_for_resource(ResourceArn=group_arn)["Tags"]}
    dep, client = deployer()
    assert not dep.deploy(manifest).plan.has_changes and client.writes == 0
