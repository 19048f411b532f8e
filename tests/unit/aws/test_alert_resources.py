"""The alert resources through the whole deploy pipeline, against moto in-process: the
namespace's topic (encrypted, its policy, email subscriptions filtered per job) and one alarm per
job alerted on failures; tagged, found again without a call of their own (a no-change redeploy
makes no write and no SNS or CloudWatch call), updated, pruned and destroyed like the rest; none
of it, and no call about it, for a manifest without alerts."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.deployer import Deployer
from cronplane.aws.session import AwsConfig
from cronplane.errors import CronplaneError
from cronplane.manifest import names
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import AlertPolicy, Manifest
from cronplane.runtime.alerts import ALERT_ROUTES, Route

ROOT = Path(__file__).resolve().parents[3]
NS, REGION, ACCOUNT = "acme-jobs", "eu-west-1", "123456789012"
TOPIC = names.alert_topic(NS)
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"
PAGER = f"arn:aws:sns:{REGION}:{ACCOUNT}:billing-pager"
KEY_ALIAS = names.alert_key_alias(NS)


@pytest.fixture
def plain(tmp_path: Path, aws: None) -> Manifest:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return load_manifest(str(tmp_path / "jobs.yaml"))


def with_alerts(manifest: Manifest, **policies: AlertPolicy) -> Manifest:
    return replace(
        manifest, jobs=tuple(replace(j, alerts=policies.get(j.name.replace("-", "_"))) for j in manifest.jobs)
    )


def emails(*addresses: str) -> tuple[Route, ...]:
    return tuple(Route("email", a) for a in addresses)


@pytest.fixture
def alerted(plain: Manifest) -> Manifest:
    return with_alerts(
        plain,
        nightly_report=AlertPolicy(notify=(*emails("billing@example.com"), Route("sns", PAGER))),
        invoice_sync=AlertPolicy(notify=emails("billing@example.com", "finance@example.com"), on=frozenset({"missed"})),
    )


def deployer() -> tuple[Deployer, AwsClient]:
    client = AwsClient(AwsConfig(region=REGION))
    return Deployer(client), client


def subscriptions() -> dict[str, list[str]]:
    """Each email subscription with the addresses its filter lets through."""
    sns = boto3.client("sns", region_name=REGION)
    found = {}
    for sub in sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]:
        attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
        found[sub["Endpoint"]] = json.loads(attributes["FilterPolicy"])["emails"]
    return found


def live_keys() -> dict[str, str]:
    """Each KMS key of the namespace (by its tag), with its state."""
    kms = boto3.client("kms", region_name=REGION)
    found = {}
    for key in kms.list_keys()["Keys"]:
        tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
        if tags.get("cronplane:namespace") == NS:
            found[key["KeyId"]] = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"]
    return found


def alarms() -> dict[str, dict[str, Any]]:
    listed = boto3.client("cloudwatch", region_name=REGION).describe_alarms(AlarmNamePrefix=f"{NS}--")["MetricAlarms"]
    return {a["AlarmName"]: a for a in listed}


def test_deploy_creates_the_encrypted_topic_filtered_subscriptions_and_one_alarm_per_job_alerted_on_failures(
    alerted: Manifest,
) -> None:
    deployer()[0].deploy(alerted)
    sns = boto3.client("sns", region_name=REGION)
    attributes = sns.get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]
    # Encrypted with the namespace's own key (CloudWatch cannot use the AWS-managed alias/aws/sns).
    assert attributes["KmsMasterKeyId"] == KEY_ALIAS
    policy = json.loads(attributes["Policy"])
    allow, deny = policy["Statement"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Effect"] == "Allow"
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{NS}--*"
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "sns:Publish"
    assert deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == f"arn:aws:iam::{ACCOUNT}:role/cronplane/{NS}/*"
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=TOPIC_ARN)["Tags"]}
    assert tags["cronplane:namespace"] == NS and tags["ManagedBy"] == "cronplane" and "cronplane:config" in tags
    # Each address receives what is addressed to it (the alerts list their email routes).
    assert subscriptions() == {
        "billing@example.com": ["billing@example.com"],
        "finance@example.com": ["finance@example.com"],
    }
    # invoice-sync alerts only on missed runs: no alarm for it.
    [(name, alarm)] = alarms().items()
    assert name == f"{NS}--nightly-report-failures" and alarm["AlarmActions"] == [TOPIC_ARN]
    watched = {m["Id"]: m for m in alarm["Metrics"]}
    assert watched["failures"]["Expression"] == "failed + timed_out"
    assert watched["failed"]["MetricStat"]["Metric"] == {
        "Namespace": "cronplane",
        "MetricName": "Failed",
        "Dimensions": [{"Name": "Namespace", "Value": NS}, {"Name": "Job", "Value": "nightly-report"}],
    }
    cw = boto3.client("cloudwatch", region_name=REGION)
    alarm_tags = {t["Key"]: t["Value"] for t in cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]}
    assert alarm_tags["cronplane:job"] == "nightly-report" and alarm_tags["cronplane:namespace"] == NS
    # The routes reach the runtime of the jobs that have them, and only theirs.
    lam = boto3.client("lambda", region_name=REGION)
    env = lam.get_function_configuration(FunctionName=f"{NS}--nightly-report")["Environment"]["Variables"]
    assert json.loads(env[ALERT_ROUTES]) == ["email:billing@example.com", f"sns:{PAGER}"]
    quiet = lam.get_function_configuration(FunctionName=f"{NS}--tmp-cleanup")["Environment"]["Variables"]
    assert ALERT_ROUTES not in quiet
    # A failed run raises after its own DLQ message: no on-failure destination to send a second.
    config = lam.get_function_event_invoke_config(FunctionName=f"{NS}--nightly-report")
    assert config["MaximumRetryAttempts"] == 0 and not config.get("DestinationConfig", {}).get("OnFailure")


def test_a_no_change_redeploy_makes_no_write_and_no_call_about_alerts(alerted: Manifest) -> None:
    deployer()[0].deploy(alerted)
    dep, client = deployer()
    assert not dep.deploy(alerted).plan.has_changes
    assert client.writes == 0
    assert client.count("sns") == 0 and client.count("cloudwatch") == 0  # found by the one tagging query
    assert client.count("kms") == 0


def test_without_alerts_nothing_is_created_and_nothing_is_asked(plain: Manifest) -> None:
    dep, client = deployer()
    dep.deploy(plain)
    assert client.count("sns") == 0 and client.count("cloudwatch") == 0 and client.count("kms") == 0
    assert live_keys() == {}
    assert boto3.client("sns", region_name=REGION).list_topics()["Topics"] == []
    assert alarms() == {}
    dep, client = deployer()
    assert not dep.deploy(plain).plan.has_changes and client.count("sns") == 0 and client.count("cloudwatch") == 0


def test_a_changed_address_is_resubscribed_and_dropped_alerts_are_pruned(plain: Manifest, alerted: Manifest) -> None:
    deployer()[0].deploy(alerted)
    changed = with_alerts(
        plain,
        nightly_report=AlertPolicy(notify=emails("billing@example.com", "oncall@example.com")),
        invoice_sync=AlertPolicy(notify=emails("billing@example.com"), on=frozenset({"missed"})),
    )
    dep, _ = deployer()
    plan = dep.plan(changed)
    [topic_change] = [a for a in plan.changes if a.kind == "sns topic"]
    assert topic_change.op.value == "update" and [f.name for f in topic_change.fields] == ["settings"]
    dep.deploy(changed)
    assert subscriptions() == {
        "billing@example.com": ["billing@example.com"],
        "oncall@example.com": ["oncall@example.com"],
    }  # finance@ unsubscribed
    dep, client = deployer()
    assert not dep.deploy(changed).plan.has_changes and client.writes == 0

    # No job has alerts any more: the alarm and the topic go (with its subscriptions).
    dep, _ = deployer()
    plan = dep.plan(plain)
    deleted = {f"{a.kind} {a.name}": a.reason for a in plan.changes if a.op.value == "delete"}
    assert deleted[f"cloudwatch alarm {NS}--nightly-report-failures"] == "no longer needed by the job"
    assert deleted[f"sns topic {TOPIC}"] == "no job has alerts"
    dep.deploy(plain)
    assert boto3.client("sns", region_name=REGION).list_topics()["Topics"] == [] and alarms() == {}
    dep, client = deployer()
    assert not dep.deploy(plain).plan.has_changes and client.writes == 0


def test_destroy_deletes_the_topic_and_the_alarms(alerted: Manifest) -> None:
    deployer()[0].deploy(alerted)
    dep, _ = deployer()
    dep.deploy(alerted, destroy=True)
    assert boto3.client("sns", region_name=REGION).list_topics()["Topics"] == [] and alarms() == {}


def test_a_topic_or_alarm_of_that_name_that_is_not_ours_is_refused_not_taken_over(alerted: Manifest) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sns.create_topic(Name=TOPIC, Tags=[{"Key": "owner", "Value": "someone-else"}])
    with pytest.raises(CronplaneError, match=rf"sns topic {TOPIC} already exists and is not managed by cronplane"):
        deployer()[0].deploy(alerted)
    assert {t["Key"] for t in sns.list_tags_for_resource(ResourceArn=TOPIC_ARN)["Tags"]} == {"owner"}
    sns.delete_topic(TopicArn=TOPIC_ARN)

    cw = boto3.client("cloudwatch", region_name=REGION)
    theirs = f"{NS}--nightly-report-failures"
    cw.put_metric_alarm(
        AlarmName=theirs,
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    with pytest.raises(CronplaneError, match=rf"cloudwatch alarm {theirs} already exists and is not managed"):
        deployer()[0].deploy(alerted)
    assert alarms()[theirs]["Threshold"] == 5.0  # untouched


def test_the_topic_key_is_the_namespaces_own_rotated_tagged_and_usable_by_alarms_sns_and_its_roles(
    alerted: Manifest,
) -> None:
    deployer()[0].deploy(alerted)
    kms = boto3.client("kms", region_name=REGION)
    key = kms.describe_key(KeyId=KEY_ALIAS)["KeyMetadata"]
    assert key["KeyState"] == "Enabled" and key["KeyManager"] == "CUSTOMER"
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert tags["cronplane:namespace"] == NS and tags["ManagedBy"] == "cronplane" and "cronplane:config" in tags
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    assert by_sid["AccountAdministers"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert by_sid["AccountAdministers"]["Action"] == "kms:*"
    publish = ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert by_sid["AlarmsEncrypt"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert by_sid["AlarmsEncrypt"]["Action"] == publish
    sns_grant = by_sid["TopicEncrypts"]
    assert sns_grant["Principal"] == {"Service": "sns.amazonaws.com"} and sns_grant["Action"] == publish
    assert sns_grant["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    roles = by_sid["NamespaceRolesPublish"]
    assert roles["Action"] == publish
    assert roles["Condition"]["ArnLike"] == {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/cronplane/{NS}/*"}
    assert roles["Condition"]["StringEquals"]["kms:ViaService"] == f"sns.{REGION}.amazonaws.com"


def test_a_pruned_or_destroyed_key_is_scheduled_for_deletion_and_never_planned_again(
    plain: Manifest, alerted: Manifest
) -> None:
    deployer()[0].deploy(alerted)
    [first] = live_keys()
    dep, _ = deployer()
    deleted = {f"{a.kind} {a.name}": a.reason for a in dep.plan(plain).changes if a.op.value == "delete"}
    assert deleted[f"kms key {KEY_ALIAS}"] == "no job has alerts"
    dep.deploy(plain)
    kms = boto3.client("kms", region_name=REGION)
    assert live_keys() == {first: "PendingDeletion"}
    assert kms.list_aliases(KeyId=first)["Aliases"] == []
    deletion = kms.describe_key(KeyId=first)["KeyMetadata"]["DeletionDate"]
    assert 6 <= (deletion - kms.describe_key(KeyId=first)["KeyMetadata"]["CreationDate"]).days <= 7
    dep, client = deployer()
    assert not dep.deploy(plain).plan.has_changes and client.writes == 0

    # Alerts again: a new key (the old one stays pending deletion), then destroy schedules it too.
    deployer()[0].deploy(alerted)
    [second] = [k for k, state in live_keys().items() if state == "Enabled"]
    assert kms.describe_key(KeyId=KEY_ALIAS)["KeyMetadata"]["KeyId"] == second != first
    dep, client = deployer()
    assert not dep.deploy(alerted).plan.has_changes and client.writes == 0
    deployer()[0].deploy(alerted, destroy=True)
    assert live_keys() == {first: "PendingDeletion", second: "PendingDeletion"}
    dep, _ = deployer()
    assert not [a for a in dep.plan(alerted, destroy=True).changes if a.kind == "kms key"]


def test_a_key_alias_of_that_name_that_is_not_ours_is_refused_not_taken_over(alerted: Manifest) -> None:
    kms = boto3.client("kms", region_name=REGION)
    theirs = kms.create_key(Tags=[{"TagKey": "owner", "TagValue": "someone-else"}])["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=KEY_ALIAS, TargetKeyId=theirs)
    with pytest.raises(CronplaneError, match=rf"kms key {KEY_ALIAS} already exists and is not managed by cronplane"):
        deployer()[0].deploy(alerted)
    assert kms.describe_key(KeyId=KEY_ALIAS)["KeyMetadata"]["KeyId"] == theirs
    assert live_keys() == {}  # no key created beside theirs
