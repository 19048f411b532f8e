"""AWS quotas known before the first write (issue 14): ``trigger_mode: auto`` places UTC jobs on
EventBridge Scheduler when their rules would not fit on the default event bus, and a plan over
a quota stops before any write, naming the quota, the numbers and the way out. Against moto
in-process: its IAM account summary says 1,000 roles, and Service Quotas does not know the
EventBridge quota (so the documented default applies) unless a test gives it one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.deployer import Deployer
from cronplane.aws.quotas import QuotaExceededError
from cronplane.aws.session import AwsConfig
from cronplane.build.desired import Kind
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest
from testkit import jobctl

REGION = "eu-west-1"
HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


def write_manifest(folder: Path, jobs: int, *, extra: str = "", timezone_every: int = 0) -> Path:
    (folder / "jobs" / "ops").mkdir(parents=True, exist_ok=True)
    (folder / "jobs" / "ops" / "tick.py").write_text(HANDLER)
    lines = ["namespace: scale", f"region: {REGION}", *filter(None, [extra]), "jobs:"]
    for i in range(jobs):
        lines += [f"  job-{i:04d}:", "    handler: ops/tick.py:handler", f"    schedule: cron({i % 60} * * * ? *)"]
        if timezone_every and i % timezone_every == 0:
            lines.append("    timezone: Europe/Paris")
    path = folder / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def client() -> AwsClient:
    return AwsClient(AwsConfig(region=REGION))


def triggers(manifest: Manifest) -> tuple[set[str], Any]:
    aws = client()
    plan = Deployer(aws).plan(manifest)
    kinds = {a.kind for a in plan.actions if a.kind in (Kind.RULE, Kind.SCHEDULE)}
    return kinds, plan


def test_400_utc_jobs_in_auto_mode_plan_onto_scheduler(tmp_path: Path, aws: None) -> None:
    manifest = load_manifest(str(write_manifest(tmp_path, 400)))
    aws_client = client()
    plan = Deployer(aws_client).plan(manifest)

    assert {a.kind for a in plan.actions if a.kind in (Kind.RULE, Kind.SCHEDULE)} == {Kind.SCHEDULE}
    assert sum(1 for a in plan.actions if a.kind == Kind.SCHEDULE) == 400
    note = next(n for n in plan.notes if n.startswith("trigger_mode auto"))
    assert "the 400 UTC jobs of namespace scale go on EventBridge Scheduler" in note
    assert "400 rules (0 there already are not this namespace's), over its quota of 300 (documented default" in note
    assert aws_client.writes == 0


def test_auto_mode_counts_the_rules_of_others_on_the_bus(tmp_path: Path, aws: None) -> None:
    events = boto3.client("events", region_name=REGION)
    for i in range(250):
        events.put_rule(Name=f"other-tool-{i}", ScheduleExpression="rate(1 day)")

    fits, _ = triggers(load_manifest(str(write_manifest(tmp_path / "a", 50))))
    assert fits == {Kind.RULE}  # 250 + 50 = 300: exactly the quota

    crowded, plan = triggers(load_manifest(str(write_manifest(tmp_path / "b", 51))))
    assert crowded == {Kind.SCHEDULE}
    assert any("to 301 rules (250 there already are not this namespace's)" in n for n in plan.notes)


def test_auto_mode_reads_the_applied_quota_from_service_quotas(
    tmp_path: Path, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.servicequotas.models import ServiceQuotasBackend

    asked: list[tuple[str, str]] = []

    def applied(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        asked.append((service_code, quota_code))
        return {"ServiceCode": service_code, "QuotaCode": quota_code, "QuotaName": "Rules", "Value": 500.0}

    monkeypatch.setattr(ServiceQuotasBackend, "get_service_quota", applied)
    kinds, plan = triggers(load_manifest(str(write_manifest(tmp_path, 400))))
    assert kinds == {Kind.RULE}  # 400 fit under a raised quota of 500
    assert ("events", "L-244521F2") in asked
    assert any(
        "EventBridge rules per event bus: 0 now, 400 after this deploy, of 500 (applied" in n for n in plan.notes
    )


def test_jobs_that_need_scheduler_stay_there_and_only_utc_jobs_count_as_rules(tmp_path: Path, aws: None) -> None:
    # 330 jobs, every 10th with a timezone: 297 UTC jobs fit on the bus as rules.
    kinds, plan = triggers(load_manifest(str(write_manifest(tmp_path, 330, timezone_every=10))))
    assert kinds == {Kind.RULE, Kind.SCHEDULE}
    assert sum(1 for a in plan.actions if a.kind == Kind.RULE) == 297
    assert not any(n.startswith("trigger_mode auto") for n in plan.notes)


def test_a_deploy_over_the_role_quota_fails_before_any_write(tmp_path: Path, aws: None) -> None:
    manifest = load_manifest(str(write_manifest(tmp_path, 1200, extra="trigger_mode: scheduler")))
    aws_client = client()
    with pytest.raises(QuotaExceededError) as caught:
        Deployer(aws_client).deploy(manifest)
    message = str(caught.value)
    # 1,200 execution roles and 1,200 Scheduler roles, in an account allowed 1,000.
    assert "IAM roles per account would be 2,400 after this deploy (now 0)" in message
    assert "over the account's limit of 1,000 (IAM account summary)" in message
    assert "Nothing was written" in message and "set `role_mode: per_team`" in message
    assert aws_client.writes == 0
    assert boto3.client("iam").list_roles()["Roles"] == []
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []


def test_the_cli_names_the_quota_in_one_message_and_exits_1(
    tmp_path: Path, aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_manifest(tmp_path, 600, extra="trigger_mode: scheduler")
    code, out, err = jobctl(capsys, "deploy", "-f", str(path), "--yes", "--region", REGION)
    assert code == 1, out + err
    assert "IAM roles per account would be 1,200 after this deploy" in err
    assert "Traceback" not in out + err


def test_an_unchanged_deploy_reads_no_quota(tmp_path: Path, aws: None) -> None:
    manifest = load_manifest(str(write_manifest(tmp_path, 20)))
    Deployer(client()).deploy(manifest)
    again = client()
    result = Deployer(again).deploy(manifest)
    assert not result.plan.has_changes and again.writes == 0
    counts = again.operation_counts()
    assert not any(
        op.startswith(("service-quotas.", "iam.GetAccountSummary", "lambda.GetAccountSettings")) for op in counts
    )
    assert counts["events.ListRules"] == 1  # the inventory's own listing; the bus is not counted


def test_regions_with_a_smaller_rule_quota_use_their_own_default(tmp_path: Path, aws: None) -> None:
    # EventBridge allows 100 rules per bus by default in af-south-1 and eu-south-1, 300 elsewhere.
    path = write_manifest(tmp_path, 150)
    path.write_text(path.read_text().replace(f"region: {REGION}", "region: eu-south-1"))
    plan = Deployer(AwsClient(AwsConfig(region="eu-south-1"))).plan(load_manifest(str(path)))
    assert {a.kind for a in plan.actions if a.kind in (Kind.RULE, Kind.SCHEDULE)} == {Kind.SCHEDULE}
    assert any("over its quota of 100 (documented default" in n for n in plan.notes)


def test_plan_warns_of_minutes_crowded_beyond_the_accounts_concurrency(
    tmp_path: Path, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.servicequotas.models import ServiceQuotasBackend

    def applied(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        if (service_code, quota_code) != ("lambda", "L-B99A9384"):
            from moto.servicequotas.exceptions import NoSuchResource

            raise NoSuchResource
        return {"ServiceCode": service_code, "QuotaCode": quota_code, "QuotaName": "Concurrency", "Value": 2.0}

    monkeypatch.setattr(ServiceQuotasBackend, "get_service_quota", applied)
    # 130 hourly jobs on minutes i % 60: minutes 0-9 of every hour have 3 jobs, the others 2.
    plan = Deployer(client()).plan(load_manifest(str(write_manifest(tmp_path, 130))))
    fanout = [n for n in plan.notes if n.startswith("fan-out:")]
    assert fanout, plan.notes
    assert "3 jobs fire" in fanout[0]
    assert "more than the 2 concurrent executions the account allows (applied, from Service Quotas)" in fanout[0]
    assert "`start_window:" in fanout[0]


def test_per_team_roles_fit_where_per_job_roles_do_not(tmp_path: Path, aws: None) -> None:
    manifest = load_manifest(str(write_manifest(tmp_path, 1200, extra="trigger_mode: scheduler\nrole_mode: per_team")))
    aws_client = client()
    plan = Deployer(aws_client).plan(manifest)
    roles = [a for a in plan.actions if a.kind in ("iam team role", Kind.ROLE) and a.op.value == "create"]
    assert 1 < len(roles) < 1000
    assert f"IAM roles per account: 0 now, {len(roles):,} after this deploy, of 1,000" in "\n".join(plan.notes)
    assert aws_client.writes == 0
