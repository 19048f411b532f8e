"""The alert resources deploy adds when some job has ``alerts:`` (pure, like ``resources``):

- the namespace's KMS key (shared, ``alias/NAMESPACE--alerts``, rotated yearly): the topic's
  encryption key. Not the AWS-managed ``alias/aws/sns``, whose key policy AWS does not let anyone
  change, so CloudWatch alarms could not publish to a topic encrypted with it. Its policy: the
  account (so the key is never orphaned), and GenerateDataKey / Decrypt for CloudWatch, for SNS
  (this account's only) and, through SNS only, for the namespace's roles that publish;
- the namespace's SNS topic (shared): encrypted with that key; its
  policy lets CloudWatch alarms of this namespace publish and refuses every other publisher
  that is not a role of the namespace (``/cronplane/NAMESPACE/``); which of those roles may
  publish is then their own policy's business (``build.iam``: a job whose routes use the topic,
  the watchdog). Its email subscriptions are the jobs' ``email:`` routes, each filtered to the
  messages addressed to it (message attribute ``emails``), so one job's failure never mails
  another job's on-call;
- per job whose ``on`` names failed or timed_out: one CloudWatch alarm on the wrapper's EMF
  metrics (``runtime.metrics``: namespace ``cronplane``, dimensions Namespace and Job), Failed +
  TimedOut over a minute, with the topic as its action.

Without alerts, none of this exists and nothing about it is read or written.
"""

from __future__ import annotations

from typing import Any

from cronplane.build.arns import Arns
from cronplane.build.resources import Kind, Resource, base_tags, canonical_json
from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest
from cronplane.runtime import metrics

# What publishing to an encrypted topic needs of its key (for the publisher and for SNS).
KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
ALARM_PERIOD_S = 60


def topic_resources(manifest: Manifest, arns: Arns) -> list[Resource]:
    """The namespace's alert topic, when some job has alerts."""
    if not has_alerts(manifest):
        return []
    name = names.alert_topic(manifest.namespace)
    arn = arns.topic(name)
    return [
        key_resource(manifest, arns),
        Resource(
            Kind.TOPIC, name, None, "topic", arn, hidden=topic_hidden(manifest, arns, arn), tags=base_tags(manifest)
        ),
    ]


def alarm_resources(manifest: Manifest, job: Job, arns: Arns) -> list[Resource]:
    """The job's failures alarm, when its alerts are on failed or timed_out."""
    if job.alerts is None or not job.alerts.alarmed:
        return []
    name = names.alarm_name(manifest.namespace, job.name)
    alarm = {"alarm": alarm_definition(manifest, job, arns)}
    return [
        Resource(Kind.ALARM, name, job.name, "alarm", arns.alarm(name), hidden=alarm, tags=base_tags(manifest, job))
    ]


def key_resource(manifest: Manifest, arns: Arns) -> Resource:
    """The topic's customer-managed key, named by its alias (a key's own id is AWS's to pick)."""
    alias = names.alert_key_alias(manifest.namespace)
    hidden = {
        "description": f"cronplane {manifest.namespace}: encrypts the alert topic {names.alert_topic(manifest.namespace)}",
        "rotation": True,
        "policy": canonical_json(key_policy(manifest, arns)),
    }
    return Resource(Kind.KEY, alias, None, "key", key_alias_arn(arns, alias), hidden=hidden, tags=base_tags(manifest))


def key_alias_arn(arns: Arns, alias: str) -> str:
    return f"arn:{arns.partition}:kms:{arns.region}:{arns.account}:{alias}"


def key_policy(manifest: Manifest, arns: Arns) -> dict[str, Any]:
    roles = f"arn:{arns.partition}:iam::{arns.account}:role{names.role_path(manifest.namespace)}*"
    via_sns = f"sns.{arns.region}.amazonaws.com"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # AWS's default statement: the account's IAM decides, so the key is never orphaned.
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{arns.partition}:iam::{arns.account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "AlarmsEncrypt",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": list(KEY_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "TopicEncrypts",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": list(KEY_ACTIONS),
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": arns.account}},
            },
            {
                # The jobs' roles and the watchdog's publish to the topic: SNS uses the key on
                # their behalf, and only SNS in this region may (kms:ViaService).
                "Sid": "NamespaceRolesPublish",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(KEY_ACTIONS),
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:CallerAccount": arns.account, "kms:ViaService": via_sns},
                    "ArnLike": {"aws:PrincipalArn": roles},
                },
            },
        ],
    }


def has_alerts(manifest: Manifest) -> bool:
    return any(job.alerts is not None for job in manifest.jobs)


def email_subscriptions(manifest: Manifest) -> list[str]:
    """Every ``email:`` address of the manifest: one subscription each."""
    return sorted({address for job in manifest.jobs if job.alerts for address in job.alerts.targets("email")})


def topic_policy(manifest: Manifest, arns: Arns, topic_arn: str) -> dict[str, Any]:
    namespace = manifest.namespace
    roles = f"arn:{arns.partition}:iam::{arns.account}:role{names.role_path(namespace)}*"
    alarms = arns.alarm(f"{names.job_prefix(namespace)}*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NamespaceAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": arns.account},
                    "ArnLike": {"aws:SourceArn": alarms},
                },
            },
            {
                # Same-account principals need no grant here to publish: an identity policy
                # would do. This refuses all of them but the namespace's roles (and CloudWatch,
                # whose requests carry a service name and no principal ARN).
                "Sid": "NobodyElsePublishes",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "ArnNotLike": {"aws:PrincipalArn": roles},
                    "StringNotEquals": {"aws:PrincipalServiceName": "cloudwatch.amazonaws.com"},
                },
            },
        ],
    }


def topic_hidden(manifest: Manifest, arns: Arns, topic_arn: str) -> dict[str, Any]:
    """The topic's settings as deploy applies them (their hash is its ``cronplane:config`` tag)."""
    return {
        "attributes": {
            "DisplayName": f"cronplane {manifest.namespace}"[:100],
            "KmsMasterKeyId": names.alert_key_alias(manifest.namespace),
            "Policy": canonical_json(topic_policy(manifest, arns, topic_arn)),
        },
        "subscriptions": email_subscriptions(manifest),
    }


def alarm_definition(manifest: Manifest, job: Job, arns: Arns) -> dict[str, Any]:
    """``put_metric_alarm``'s parameters (tags aside) for the job's failures alarm."""
    namespace = manifest.namespace
    dimensions = [{"Name": "Namespace", "Value": namespace}, {"Name": "Job", "Value": job.name}]

    def count(metric_id: str, metric: str) -> dict[str, Any]:
        return {
            "Id": metric_id,
            "MetricStat": {
                "Metric": {"Namespace": metrics.NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
                "Period": ALARM_PERIOD_S,
                "Stat": "Sum",
            },
            "ReturnData": False,
        }

    return {
        "AlarmName": names.alarm_name(namespace, job.name),
        "AlarmDescription": (
            f"cronplane job {job.name} (namespace {namespace}, team {job.team}): a run ended failed or "
            f"timed_out. See `jobctl history {job.name}`."
        )[:1024],
        "ActionsEnabled": True,
        "AlarmActions": [arns.topic(names.alert_topic(namespace))],
        "Metrics": [
            count("failed", metrics.COUNTS["failed"]),
            count("timed_out", metrics.COUNTS["timed_out"]),
            {
                "Id": "failures",
                "Expression": "failed + timed_out",
                "Label": "Failed or timed-out runs",
                "ReturnData": True,
            },
        ],
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        # No run in a minute is no failure: the alarm goes back to OK.
        "TreatMissingData": "notBreaching",
    }
