"""Attack: a team's manifest entry asks for more rights than a job should have (issue 10, item 7).

A team member with write access to ``jobs.yaml`` declared ``permissions`` and ``secrets`` that
the deployer's credentials then granted: ``iam:PassRole`` / ``iam:PutRolePolicy`` /
``lambda:UpdateFunctionCode`` / ``sts:AssumeRole`` on ``*``, write access to the shared history
table, another job's DLQ, ``ssm:/*`` as a "secret". Each is now refused by ``jobctl validate``
(FILE:LINE, why, how to fix) and again by the policy builder; a reviewed ``allow_privileged``
exception on the job accepts the permission ones, and ``jobctl plan`` shows it.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from cronplane.build import iam
from cronplane.errors import ManifestError
from cronplane.manifest import guardrails
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Permission, Secret
from testkit import jobctl

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = "123456789012"
HEAD = """\
namespace: acme-jobs
region: eu-west-1
jobs:
  other:
    handler: billing/nightly_report.py:handler
    schedule: cron(0 2 * * ? *)
  report:
    handler: billing/nightly_report.py:handler
    schedule: cron(0 3 * * ? *)
"""  # lines 1-9; the attack's own lines start at 10
REASON = "passes the export role to Glue; reviewed by security in SEC-1234"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def write(project: Path, text: str) -> Path:
    path = project / "jobs.yaml"
    path.write_text(HEAD + text)
    return path


def refusals(project: Path, text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ManifestError) as info:
        load_manifest(write(project, text), now=NOW)
    return [(p.line, p.path, p.message) for p in info.value.problems]


def permission(action: str, resource: str) -> str:
    return f"""\
    permissions:
      - actions: [{action}]
        resources: ["{resource}"]
"""


TABLE = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/acme-jobs-history"
ATTACKS = {
    # name: (manifest lines, the path refused, words of the reason)
    "pass any role": (permission("iam:PassRole", "*"), "actions[0]", "privilege escalation"),
    "pass one role": (
        permission("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin"),
        "actions[0]",
        "privilege escalation",
    ),
    "write a role policy": (
        permission("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/team-role"),
        "actions[0]",
        "privilege escalation",
    ),
    "replace a function's code": (
        permission("lambda:UpdateFunctionCode", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:billing-api"),
        "actions[0]",
        "privilege escalation",
    ),
    "assume any role": (permission("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/ops"), "actions[0]", "assume one"),
    "every resource": (permission("s3:GetObject", "*"), "resources[0]", "names every resource of its kind"),
    "every bucket": (permission("s3:GetObject", "arn:aws:s3:::*"), "resources[0]", "names every resource"),
    "every table": (
        permission("dynamodb:GetItem", f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/*"),
        "resources[0]",
        "names every resource",
    ),
    "service wildcard": (permission('"s3:*"', "arn:aws:s3:::reports/*"), "actions[0]", "is a wildcard"),
    "action prefix wildcard": (permission('"s3:Get*"', "arn:aws:s3:::reports/*"), "actions[0]", "is a wildcard"),
    "write the shared history": (
        permission("dynamodb:PutItem", TABLE),
        "resources[0]",
        "covers the run history of namespace acme-jobs",
    ),
    "query the history index": (
        permission("dynamodb:Query", f"{TABLE}/index/*"),
        "resources[0]",
        "covers the run history of namespace acme-jobs",
    ),
    "another job's dead-letter queue": (
        permission("sqs:ReceiveMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:acme-jobs--other-dlq"),
        "resources[0]",
        "covers job other's dead-letter queue",
    ),
    "every job's function": (
        permission("lambda:InvokeFunction", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:acme-*"),
        "resources[0]",
        "which cronplane runs the jobs with",
    ),
    # Alerts (issue 10 review): fake or silence the namespace's alerts.
    "publish to the alert topic": (
        permission("sns:Publish", f"arn:aws:sns:eu-west-1:{ACCOUNT}:acme-jobs-alerts"),
        "resources[0]",
        "covers namespace acme-jobs's alert topic",
    ),
    "subscribe to the alert topic": (
        permission("sns:Subscribe", f"arn:aws:sns:eu-west-1:{ACCOUNT}:acme-jobs-alerts"),
        "resources[0]",
        "covers namespace acme-jobs's alert topic",
    ),
    "silence another job's alarm": (
        permission(
            "cloudwatch:DisableAlarmActions", f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:acme-jobs--other-failures"
        ),
        "resources[0]",
        "covers job other's alarm",
    ),
    "set another job's alarm state": (
        permission("cloudwatch:SetAlarmState", f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:acme-jobs--o*"),
        "resources[0]",
        "covers job other's alarm",
    ),
    "the watchdog": (
        permission("lambda:InvokeFunction", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:acme-jobs--_watchdog"),
        "resources[0]",
        "covers namespace acme-jobs's watchdog",
    ),
    "the alert key": (
        permission("kms:Decrypt", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/acme-jobs--alerts"),
        "resources[0]",
        "covers namespace acme-jobs's alert topic key",
    ),
    # Any cronplane namespace, recognised by the shape of its names.
    "another namespace's history": (
        permission("dynamodb:Query", f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/payroll-history/index/by-time"),
        "resources[0]",
        "covers another namespace's run history",
    ),
    "another namespace's function": (
        permission("lambda:InvokeFunction", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:payroll--payout"),
        "resources[0]",
        "a resource of a cronplane namespace",
    ),
    "another namespace's queue": (
        permission("sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:payroll--payout-dlq"),
        "resources[0]",
        "rename the team's own resource without '--'",
    ),
    "another namespace's log group": (
        permission("logs:GetLogEvents", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/payroll--payout:*"),
        "resources[0]",
        "a resource of a cronplane namespace",
    ),
    "a cronplane role": (
        permission("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/cronplane/acme-jobs/acme-jobs--other-exec"),
        "resources[0]",
        "covers job other's role",
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_privileged_permission_is_refused_by_validate(project: Path, attack: str) -> None:
    text, path, why = ATTACKS[attack]
    found = {where: (line, message) for line, where, message in refusals(project, text)}
    assert f"jobs.report.permissions[0].{path}" in found, found
    line, message = found[f"jobs.report.permissions[0].{path}"]
    assert line == (11 if path.startswith("actions") else 12)
    assert why in message
    assert 'add allow_privileged: "<why, for the reviewer>" to the job' in message


SECRET_ATTACKS = {
    "every parameter": ("ssm:/*", "is a pattern"),
    "a team's parameters": ("ssm:/team/*", "is a pattern"),
    "one character short": ("ssm:/team/db-passwor?", "is a pattern"),
    "a path": ("ssm:/team/", "names a path, not a parameter"),
    "secrets manager pattern": (f"secretsmanager:arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:*", "is a pattern"),
}


@pytest.mark.parametrize("attack", list(SECRET_ATTACKS))
def test_wildcard_secret_references_are_refused_even_with_an_exception(project: Path, attack: str) -> None:
    reference, why = SECRET_ATTACKS[attack]
    found = refusals(project, f'    allow_privileged: "{REASON}"\n    secrets:\n      DB: "{reference}"\n')
    assert [(line, path) for line, path, _ in found] == [
        (10, "jobs.report.allow_privileged"),  # it waives nothing: a secret pattern is never waived
        (12, "jobs.report.secrets.DB"),
    ]
    assert why in found[1][2] and "allow_privileged" not in found[1][2]


def test_a_teams_own_resources_that_merely_resemble_cronplanes_are_accepted(project: Path) -> None:
    """The shape rules are narrow: a table that is not ``*-history``, names with one hyphen."""
    text = """\
    permissions:
      - actions: [dynamodb:GetItem, sqs:SendMessage, lambda:InvokeFunction, sns:Publish]
        resources:
          - "arn:aws:dynamodb:eu-west-1:123456789012:table/history-archive"
          - "arn:aws:sqs:eu-west-1:123456789012:billing-out"
          - "arn:aws:lambda:eu-west-1:123456789012:function:billing-api"
          - "arn:aws:sns:eu-west-1:123456789012:billing-alerts"
"""
    assert len(load_manifest(write(project, text), now=NOW).job("report").permissions) == 1


def test_a_secret_under_another_teams_prefix_is_refused() -> None:
    """``ssm:/<team>/...`` belongs to that team; a job of another team of the manifest may not
    name it (the loader and the policy builder pass the manifest's teams)."""
    secrets = {"DB": "ssm:/infra/db-password", "OWN": "ssm:/billing/api-token", "SHARED": "ssm:/shared/smtp"}
    [finding] = guardrails.secret_findings(secrets, team="billing", teams=["billing", "infra"])
    assert finding.path == ("secrets", "DB")
    assert finding.message == (
        "'ssm:/infra/db-password': secret belongs to team infra (parameters under /infra/ are theirs); "
        "store the value the job needs under ssm:/billing/..."
    )
    [mirror] = guardrails.secret_findings(secrets, team="infra", teams=["billing", "infra"])
    assert (mirror.path, mirror.waivable) == (("secrets", "OWN"), True)
    assert "secret belongs to team billing" in mirror.refusal and "allow_privileged" in mirror.refusal
    assert guardrails.secret_findings(secrets) == []  # without the teams: no guess


def test_validate_refuses_another_teams_secret_and_the_policy_builder_does_too(project: Path) -> None:
    """Through the loader: job ``report`` (team billing) names infra's secret, while a job of
    team infra exists in the manifest; and the policy builder refuses the same job built
    without the loader."""
    text = """\
    secrets:
      DB: "ssm:/infra/db-password"
  cleanup:
    handler: infra/tmp_cleanup.py:handler
    schedule: cron(0 4 * * ? *)
"""
    [(line, path, message)] = refusals(project, text)
    assert (line, path) == (11, "jobs.report.secrets.DB") and "secret belongs to team infra" in message
    manifest = load_manifest(write(project, text.replace("/infra/", "/billing/")), now=NOW)
    job = manifest.job("report")
    stolen = replace(job, secrets=(Secret("DB", "ssm", "/infra/db-password"),))
    with pytest.raises(Exception, match="secret belongs to team infra"):
        iam.execution_policy(manifest, stolen, account_id=ACCOUNT, region="eu-west-1")


def test_validate_through_jobctl_is_one_line_per_refusal_with_file_and_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write(project, permission("iam:PassRole", "*"))
    code, out, err = jobctl(capsys, "validate", "-f", str(manifest))
    assert code != 0 and "Traceback" not in err
    lines = [line for line in (out + err).splitlines() if "jobs.report.permissions" in line]
    assert len(lines) == 2, out + err  # the action and the resource, each on its own line
    assert lines[0].startswith(f"{manifest}:11: jobs.report.permissions[0].actions[0]: 'iam:PassRole' lets")
    assert lines[1].startswith(f"{manifest}:12: jobs.report.permissions[0].resources[0]: '*' names every")


def test_a_deny_statement_is_not_a_grant(project: Path) -> None:
    text = """\
    permissions:
      - actions: [iam:PassRole]
        resources: ["*"]
        effect: Deny
"""
    assert load_manifest(write(project, text), now=NOW).job("report").permissions[0].effect == "Deny"


def test_the_exception_must_give_a_reason_must_waive_something_and_is_per_job(project: Path) -> None:
    short = refusals(project, '    allow_privileged: "yes"\n' + permission("iam:PassRole", "*"))
    assert (10, "jobs.report.allow_privileged") in [(line, path) for line, path, _ in short]
    assert any("at least 20 characters" in m for _, _, m in short)
    assert any("'iam:PassRole' lets" in m for _, _, m in short)  # not waived by a non-reason

    unused = refusals(project, f'    allow_privileged: "{REASON}"\n' + permission("s3:GetObject", "arn:aws:s3:::r/*"))
    assert unused == [
        (
            10,
            "jobs.report.allow_privileged",
            "waives nothing: the job declares no privileged permission; remove it, so that a later privileged "
            "grant cannot go through unreviewed",
        )
    ]

    in_defaults = refusals(project, f'defaults:\n  allow_privileged: "{REASON}"\n')
    assert in_defaults[0][1] == "defaults.allow_privileged"
    assert "reviewed job by job" in in_defaults[0][2]


def test_a_reviewed_exception_is_accepted_built_and_shown_by_plan(
    aws: None, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f'    allow_privileged: "{REASON}"\n' + permission("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/export")
    manifest = write(project, text)
    job = load_manifest(manifest, now=NOW).job("report")
    assert job.allow_privileged == REASON

    code, out, err = jobctl(capsys, "validate", "-f", str(manifest))
    assert code == 0, out + err

    code, out, err = jobctl(capsys, "plan", "-f", str(manifest))
    assert code == 0, err
    assert f"privileged: job report allow_privileged waives iam:PassRole because: {REASON}" in out
    assert "privileged: job other" not in out  # only the job that carries the exception

    code, out, err = jobctl(capsys, "deploy", "-f", str(manifest), "--yes")
    assert code == 0, err
    role = boto3.client("iam").get_role_policy(RoleName="acme-jobs--report-exec", PolicyName="cronplane")
    declared = [s for s in role["PolicyDocument"]["Statement"] if s["Sid"] == "JobDeclared1"]
    assert declared[0]["Action"] == ["iam:PassRole"]


def test_the_policy_builder_refuses_what_validate_refuses(project: Path) -> None:
    """A Job made without the loader (a tool, a test, a future code path) still cannot carry a
    privileged grant into a policy."""
    manifest = load_manifest(write(project, ""), now=NOW)
    job = manifest.job("report")
    attacks = [
        replace(job, permissions=(Permission(("iam:PutRolePolicy",), (f"arn:aws:iam::{ACCOUNT}:role/x",)),)),
        replace(job, permissions=(Permission(("dynamodb:PutItem",), (TABLE,)),)),
        replace(job, secrets=(Secret("ALL", "ssm", "/*"),)),
    ]
    for attack in attacks:
        with pytest.raises(iam.PolicyError, match=r"jobs.yaml:7: job 'report': (permissions|secrets)\.\S+: "):
            iam.execution_policy(manifest, attack, account_id=ACCOUNT, region="eu-west-1")
    excepted = replace(attacks[0], allow_privileged=REASON)
    policy = iam.execution_policy(manifest, excepted, account_id=ACCOUNT, region="eu-west-1")
    assert policy["Statement"][-1]["Action"] == ["iam:PutRolePolicy"]
    with pytest.raises(iam.PolicyError, match="is a pattern"):  # never waived
        iam.execution_policy(manifest, replace(attacks[2], allow_privileged=REASON), account_id=ACCOUNT, region="x")


def test_the_example_manifest_declares_nothing_privileged() -> None:
    manifest = load_manifest(ROOT / "jobs.yaml")
    assert all(job.allow_privileged is None for job in manifest.jobs)
    assert all(iam.privileged_grants(manifest, job) == [] for job in manifest.jobs)
