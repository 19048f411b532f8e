"""Least privilege for alerts: a job's role may publish only to its own routes' topics (the
namespace's topic only when it has email routes) and read only its own webhooks' URLs; a job
without alerts gets no SNS grant at all; the topic refuses every publisher but the namespace's
roles and its alarms."""

from __future__ import annotations

from typing import Any

from cronplane.build import iam, policy_checks
from cronplane.build.alerting import topic_policy
from cronplane.build.arns import Arns
from cronplane.manifest.models import AlertPolicy, Job, Manifest
from cronplane.runtime.alerts import Route

ACCOUNT, REGION, NS = "123456789012", "eu-west-1", "acme"
NAMESPACE_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:acme-alerts"
PAGER = f"arn:aws:sns:{REGION}:{ACCOUNT}:billing-pager"
OPS = f"arn:aws:sns:{REGION}:{ACCOUNT}:ops-pager"


def job(name: str, *routes: str) -> Job:
    alerts = AlertPolicy(notify=tuple(Route.parse(r) for r in routes)) if routes else None
    return Job(name=name, handler="billing/report.py:handler", schedule=object(), team="billing", alerts=alerts)  # type: ignore[arg-type]


def statements_of(target: Job, *others: Job) -> dict[str, dict[str, Any]]:
    manifest = Manifest(namespace=NS, region=REGION, jobs=(target, *others))
    policy = iam.execution_policy(manifest, target, account_id=ACCOUNT, region=REGION)
    assert policy_checks.policy_problems(policy) == [] and policy_checks.find_wildcards(policy) == []
    return {s["Sid"]: s for s in policy["Statement"]}


def actions(statements: dict[str, dict[str, Any]]) -> set[str]:
    return {a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def test_a_job_publishes_to_its_own_topics_and_reads_its_own_webhooks_only() -> None:
    mine = job(
        "report",
        "email:billing@example.com",
        f"sns:{PAGER}",
        "webhook:ssm:/billing/slack",
        "webhook:secretsmanager:billing/teams-hook",
    )
    other = job("sync", f"sns:{OPS}", "webhook:ssm:/ops/slack")
    found = statements_of(mine, other)
    assert found["PublishOwnAlerts"]["Action"] == ["sns:Publish"]
    assert found["PublishOwnAlerts"]["Resource"] == [NAMESPACE_TOPIC, PAGER]
    assert found["ReadOwnWebhookUrls"]["Resource"] == [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/billing/slack"]
    assert found["ReadOwnWebhookSecrets"]["Resource"] == [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:billing/teams-hook-??????"
    ]
    granted = str(found)
    assert OPS not in granted and "/ops/slack" not in granted  # another job's routes stay out of reach


def test_without_email_routes_the_namespace_topic_is_not_granted() -> None:
    found = statements_of(job("report", f"sns:{PAGER}", "webhook:ssm:/billing/slack"))
    assert found["PublishOwnAlerts"]["Resource"] == [PAGER]
    assert "PublishOwnAlerts" not in statements_of(job("report", "webhook:ssm:/billing/slack"))


def test_a_job_without_alerts_gets_no_alert_grant() -> None:
    found = statements_of(job("report"), job("sync", "email:ops@example.com"))
    assert not {a for a in actions(found) if a.startswith("sns:")}
    assert not {sid for sid in found if "Alert" in sid or "Webhook" in sid}


def test_the_topic_refuses_every_publisher_but_the_namespaces_roles_and_alarms() -> None:
    manifest = Manifest(namespace=NS, region=REGION, jobs=(job("report", "email:a@example.com"),))
    policy = topic_policy(manifest, Arns("aws", REGION, ACCOUNT), NAMESPACE_TOPIC)
    allow, deny = policy["Statement"]
    assert allow == {
        "Sid": "NamespaceAlarmsPublish",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": NAMESPACE_TOPIC,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:acme--*"},
        },
    }
    # No Allow for any role: a role publishes only if its own policy says so (a job with email
    # routes, the watchdog); everyone else is refused even with sns:Publish on "*".
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Resource"] == NAMESPACE_TOPIC
    assert deny["Condition"] == {
        "ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/cronplane/acme/*"},
        "StringNotEquals": {"aws:PrincipalServiceName": "cloudwatch.amazonaws.com"},
    }
