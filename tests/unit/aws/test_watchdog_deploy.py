"""The namespace's watchdog through the whole deploy pipeline, against moto in-process: created
with the first job that has alerts, its code updated when what it watches changes (and only
then), pruned when no job has alerts any more, destroyed with the namespace."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.deployer import Deployer
from cronplane.aws.session import AwsConfig
from cronplane.manifest import names
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import AlertPolicy, Manifest
from cronplane.runtime.alerts import Route

ROOT = Path(__file__).resolve().parents[3]
NS, REGION = "acme-jobs", "eu-west-1"
FUNCTION = names.watchdog_function(NS)
WATCHDOG_NAMES = {
    FUNCTION,
    names.role_name(NS, names.WATCHDOG),
    names.rule_name(NS, names.WATCHDOG),
    names.log_group_name(NS, names.WATCHDOG),
}


@pytest.fixture
def plain(tmp_path: Path, aws: None) -> Manifest:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return load_manifest(str(tmp_path / "jobs.yaml"))


def alerted(manifest: Manifest, *, late_after_s: int = 300) -> Manifest:
    policy = AlertPolicy((Route("email", "billing@example.com"),), late_after_s=late_after_s)
    first, *rest = manifest.jobs
    return replace(manifest, jobs=(replace(first, alerts=policy), *rest))


def deploy(manifest: Manifest, **options: bool) -> tuple[set[str], list[str]]:
    """Deploy (or destroy); the watchdog's resources that exist afterwards and the writes made."""
    client = AwsClient(AwsConfig(region=REGION))
    Deployer(client).deploy(manifest, **options)
    functions = {f["FunctionName"] for f in boto3.client("lambda", region_name=REGION).list_functions()["Functions"]}
    roles = {r["RoleName"] for r in boto3.client("iam").list_roles(PathPrefix=names.role_path(NS))["Roles"]}
    rules = {r["Name"] for r in boto3.client("events", region_name=REGION).list_rules()["Rules"]}
    groups = boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
    found = (functions | roles | rules | {g["logGroupName"] for g in groups}) & WATCHDOG_NAMES
    return found, client.write_calls()


def test_the_watchdog_comes_with_alerts_changes_with_them_and_goes_without_them(plain: Manifest) -> None:
    assert deploy(plain)[0] == set()  # no alerts: no watchdog
    found, _ = deploy(alerted(plain))
    assert found == WATCHDOG_NAMES
    lam = boto3.client("lambda", region_name=REGION)
    code = lam.get_function(FunctionName=FUNCTION)["Configuration"]["CodeSha256"]
    assert deploy(alerted(plain)) == (WATCHDOG_NAMES, [])  # unchanged: not a single write
    _, writes = deploy(alerted(plain, late_after_s=600))  # the watched config is in its zip
    assert "lambda.update_function_code" in writes
    assert lam.get_function(FunctionName=FUNCTION)["Configuration"]["CodeSha256"] != code
    found, writes = deploy(plain)
    assert found == set() and "lambda.delete_function" in writes


def test_destroy_removes_the_watchdog(plain: Manifest) -> None:
    deploy(alerted(plain))
    found, _ = deploy(alerted(plain), destroy=True)
    assert found == set()
