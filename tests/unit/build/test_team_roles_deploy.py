"""``role_mode: per_team`` deployed (issue 14, "Identity at scale"), against moto in-process:
the shared roles record their hash in their own tag, switching ``per_job`` <-> ``per_team`` plans
and applies (functions move to their new roles, the old roles go, the shared ones last), and both
export formats hold the shared roles. Their policies: test_team_roles.py."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from test_team_roles import REGION, ROOT, job, manifest, state

from cronplane.aws.client import AwsClient
from cronplane.aws.deployer import Deployer
from cronplane.aws.plan import Op
from cronplane.aws.session import AwsConfig
from cronplane.build.desired import Kind
from cronplane.build.resources import CONFIG_TAG
from cronplane.build.team_roles import TEAM_ROLE
from cronplane.manifest import names
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest, RoleMode

# -- deploy against moto --------------------------------------------------------------------------


@pytest.fixture
def example(tmp_path: Path, aws: None) -> Manifest:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    text = (tmp_path / "jobs.yaml").read_text()
    (tmp_path / "jobs.yaml").write_text("role_mode: per_team\ntrigger_mode: scheduler\n" + text)
    return load_manifest(str(tmp_path / "jobs.yaml"))


def deploy(m: Manifest) -> tuple[Any, AwsClient]:
    client = AwsClient(AwsConfig(region=REGION))
    return Deployer(client).deploy(m), client


def live_roles() -> dict[str, dict[str, Any]]:
    iam_client = boto3.client("iam")
    return {r["RoleName"]: r for r in iam_client.list_roles(PathPrefix="/cronplane/")["Roles"]}


def function_roles() -> dict[str, str]:
    functions = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    return {f["FunctionName"].split("--", 1)[1]: f["Role"].rsplit("/", 1)[1] for f in functions}


def test_per_team_deploys_records_its_hash_and_switches_back_and_forth(example: Manifest) -> None:
    assert example.role_mode is RoleMode.PER_TEAM
    result, _ = deploy(example)
    assert set(live_roles()) == {
        "acme-jobs--_team-billing-0-exec",
        "acme-jobs--_team-infra-0-exec",
        "acme-jobs--_scheduler",
    }
    assert function_roles() == {
        "nightly-report": "acme-jobs--_team-billing-0-exec",
        "invoice-sync": "acme-jobs--_team-billing-0-exec",
        "search-reindex": "acme-jobs--_team-infra-0-exec",
        "tmp-cleanup": "acme-jobs--_team-infra-0-exec",
    }
    iam_client = boto3.client("iam")
    billing = live_roles()["acme-jobs--_team-billing-0-exec"]
    assert billing["Path"] == "/cronplane/acme-jobs/_shared/"
    desired = next(r for r in result.plan.actions if r.name == billing["RoleName"]).desired
    # The hash is recorded at the end of the description too: ListRoles shows it, tags it does not.
    assert billing["Description"] == (
        f"cronplane team billing: execution role 0 of namespace acme-jobs [cronplane:config={desired.hidden_hash()}]"
    )
    tags = {t["Key"]: t["Value"] for t in iam_client.list_role_tags(RoleName=billing["RoleName"])["Tags"]}
    assert tags[CONFIG_TAG] == desired.hidden_hash() and tags[names.TEAM_TAG] == "billing"
    policy = iam_client.get_role_policy(RoleName=billing["RoleName"], PolicyName="cronplane")["PolicyDocument"]
    assert policy == desired.hidden["policy"]

    again, client = deploy(example)
    assert not again.plan.has_changes and client.writes == 0
    counts = client.operation_counts()  # one listing for both role kinds, and no role's tags
    assert counts["iam.ListRoles"] == 1 and "iam.ListRoleTags" not in counts

    back, _ = deploy(replace(example, role_mode=RoleMode.PER_JOB))
    ops = [(a.op, a.kind) for a in back.plan.changes]
    updates = max(i for i, (op, kind) in enumerate(ops) if kind == Kind.FUNCTION)
    assert all(i > updates for i, (op, kind) in enumerate(ops) if kind == TEAM_ROLE)  # deleted last
    assert {a.op for a in back.plan.changes if a.kind == TEAM_ROLE} == {Op.DELETE}
    assert function_roles() == {j: f"acme-jobs--{j}-exec" for j in function_roles()}
    assert set(live_roles()) == {f"acme-jobs--{j}-{k}" for j in function_roles() for k in ("exec", "sched")}

    forth, _ = deploy(example)
    first_update = min(i for i, a in enumerate(forth.plan.changes) if a.kind == Kind.FUNCTION)
    creates = [i for i, a in enumerate(forth.plan.changes) if a.kind == TEAM_ROLE]
    assert creates and max(creates) < first_update  # the shared roles exist before a function moves
    assert len(live_roles()) == 3 and deploy(example)[1].writes == 0


def test_a_changed_team_updates_its_role_and_a_stale_tag_goes(example: Manifest) -> None:
    deploy(example)
    iam_client = boto3.client("iam")
    name = "acme-jobs--_team-infra-0-exec"
    iam_client.tag_role(RoleName=name, Tags=[{"Key": "stale", "Value": "x"}])
    fewer = replace(example, jobs=tuple(j for j in example.jobs if j.name != "tmp-cleanup"))
    result, _ = deploy(fewer)
    change = next(a for a in result.plan.changes if a.name == name)
    assert change.op == Op.UPDATE
    policy = iam_client.get_role_policy(RoleName=name, PolicyName="cronplane")["PolicyDocument"]
    assert "tmp-cleanup" not in json.dumps(policy) and "search-reindex" in json.dumps(policy)
    tags = {t["Key"]: t["Value"] for t in iam_client.list_role_tags(RoleName=name)["Tags"]}
    assert "stale" not in tags and tags[CONFIG_TAG] == change.desired.hidden_hash()
    assert deploy(fewer)[1].writes == 0


# -- export --------------------------------------------------------------------------------------


def test_both_exports_hold_the_shared_roles_and_point_the_functions_at_them(example: Manifest, tmp_path: Path) -> None:
    from cfnlint.api import ManualArgs, lint

    from cronplane.aws.export.writer import ExportFormat, export

    export(example, ExportFormat.CLOUDFORMATION, tmp_path / "cfn")
    template = json.loads((tmp_path / "cfn" / "template.json").read_text())
    resources = template["Resources"]
    billing = resources["TeamRoleBilling0"]["Properties"]
    assert billing["RoleName"] == {"Fn::Sub": "${Namespace}--_team-billing-0-exec"}
    assert billing["Path"] == {"Fn::Sub": "/cronplane/${Namespace}/_shared/"}
    assert resources["NightlyReportFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["TeamRoleBilling0", "Arn"]}
    schedule = resources["NightlyReportSchedule"]["Properties"]["Target"]
    assert schedule["RoleArn"] == {"Fn::GetAtt": ["NamespaceSchedulerRole", "Arn"]}
    assert not [k for k in resources if k.endswith(("Role", "SchedulerRole")) and k.startswith("NightlyReport")]
    config = ManualArgs(regions=[REGION], include_checks=["I"])
    assert [m.rule.id for m in lint(json.dumps(template), config=config)] == []

    export(example, ExportFormat.TERRAFORM, tmp_path / "tf")
    main = (tmp_path / "tf" / "main.tf").read_text()
    assert 'resource "aws_iam_role" "_team_billing_0_exec"' in main
    assert 'resource "aws_iam_role_policy" "_team_billing_0_exec"' in main
    assert "role             = aws_iam_role._team_billing_0_exec.arn" in main
    assert "role_arn = aws_iam_role._scheduler.arn" in main
    assert '"lambda:SourceFunctionArn"' in main


def test_teams_an_export_cannot_tell_apart_are_one_clear_error(tmp_path: Path, aws: None) -> None:
    from cronplane.aws.export.context import ExportError
    from cronplane.aws.export.writer import ExportFormat, export

    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    handler = "billing/nightly_report.py:handler"
    twins = manifest(job("a", team="data-ops", handler=handler), job("b", team="data_ops", handler=handler))
    twins = replace(twins, root=str(tmp_path))
    state(twins)  # deploy tells them apart: their role names differ
    for fmt in ExportFormat:
        with pytest.raises(ExportError, match=r"teams 'data-ops' and 'data_ops' get the same .* rename one"):
            export(twins, fmt, tmp_path / fmt.value)


def test_a_shared_role_changed_behind_cronplanes_back_is_read_and_put_right(example: Manifest) -> None:
    """The description's hash vouches only for what the last deploy applied: a role whose
    description no longer carries the desired hash is read (its tags) and updated."""
    deploy(example)
    iam_client = boto3.client("iam")
    name = "acme-jobs--_team-infra-0-exec"
    iam_client.update_role_description(RoleName=name, Description="edited by hand")
    result, client = deploy(example)
    assert [a.name for a in result.plan.changes] == [name]
    assert client.operation_counts()["iam.ListRoleTags"] == 2  # for the plan shown, and again under the lock
    described = live_roles()[name]["Description"]
    assert described.startswith("cronplane team infra") and "[cronplane:config=" in described
    quiet = deploy(example)[1]
    assert quiet.writes == 0 and "iam.ListRoleTags" not in quiet.operation_counts()
