"""Least-privilege IAM policy documents for each job: pure functions returning dicts.

Sits inside ``resources``: the desired IAM role of a job is ``lambda_trust_policy()`` plus one
inline policy ``execution_policy(...)``; a job on EventBridge Scheduler also gets a role with
``scheduler_trust_policy`` / ``scheduler_policy``. The planner compares these dicts with the
live documents, so every function here is deterministic (same input, same dict, same order).

What a job's execution role may do, and nothing else:

- write its own log group (the group itself is created by deploy, so no ``CreateLogGroup``);
- read and write its own run records in the history table (items whose partition key is the
  job's name, enforced with ``dynamodb:LeadingKeys``): exactly the item calls the runtime makes
  (``RUNTIME_ACTIONS``). No index: the by-time index holds every job's records, and its
  partition key is a time bucket, so ``LeadingKeys`` cannot hold a Query on it to one job;
- send to its own dead-letter queue; invoke itself (retries that continue in a new invocation);
- read exactly its declared secrets and decrypt with its ``kms_key``;
- with ``alerts``: publish to its own routes' topics, read its own webhooks' URLs (the alert of
  a failed run, ``runtime/failure_alert.py``);
- with ``vpc``: manage its network interfaces. ``ec2:DescribeNetworkInterfaces`` works only on
  ``Resource: "*"`` and Lambda checks the others the same way when it attaches the function to
  the subnets, so the ENI statement is the only one with a ``*`` resource;
- the statements the job declares under ``permissions``, within the guardrails of
  ``manifest.guardrails`` unless the job carries a reviewed ``allow_privileged`` exception.

Every platform action is one the runtime's source calls (``RUNTIME_ACTIONS``, checked against
``cronplane/runtime`` by tests/unit/test_attack_job_role.py) or one Lambda itself needs with the
role (``LAMBDA_SERVICE_ACTIONS``). No ``*`` action anywhere. Metrics need nothing: they are
CloudWatch EMF lines in the log.
"""

from __future__ import annotations

import re
from typing import Any

from cronplane.build.policy_checks import POLICY_VERSION, policy_size
from cronplane.errors import CronplaneError
from cronplane.manifest import guardrails, names
from cronplane.manifest.models import Job, Manifest, Permission

# IAM counts an inline role policy's characters without whitespace; the quota is 10,240.
MAX_INLINE_POLICY_CHARS = 10_240

# The history calls of ``runtime/store.py``: put_item (records, markers), get_item (who holds
# the lock) and transact_write_items, which IAM authorises per item: a Put as PutItem, the lock's
# release (a Delete) as DeleteItem. No Query, UpdateItem or ConditionCheckItem: the runtime
# makes none, so its role cannot either.
RUN_HISTORY_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:DeleteItem",
)
DLQ_ACTIONS = ("sqs:SendMessage",)  # runtime/dispatch.py: the run's one dead-letter message
SELF_INVOKE_ACTIONS = ("lambda:InvokeFunction",)  # runtime/dispatch.py: lambda.invoke (continuations)
SSM_SECRET_ACTIONS = ("ssm:GetParameter",)  # runtime/secrets.py
SECRETS_MANAGER_ACTIONS = ("secretsmanager:GetSecretValue",)  # runtime/secrets.py
ALERT_ACTIONS = ("sns:Publish",)  # runtime/alerts.py: the alert of a failed run
# Everything the runtime's own code calls with the job's role, as IAM actions.
RUNTIME_ACTIONS = frozenset(
    RUN_HISTORY_ACTIONS
    + DLQ_ACTIONS
    + SELF_INVOKE_ACTIONS
    + SSM_SECRET_ACTIONS
    + SECRETS_MANAGER_ACTIONS
    + ALERT_ACTIONS
)
# The actions of AWSLambdaVPCAccessExecutionRole except the logs ones (granted narrower above).
VPC_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
# What Lambda itself does with the role, not the runtime: write the function's log streams,
# decrypt the environment (and SecureString / secret values) with the job's kms_key, attach the
# function to its VPC.
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
KMS_ACTIONS = ("kms:Decrypt",)
LAMBDA_SERVICE_ACTIONS = frozenset(LOG_ACTIONS + KMS_ACTIONS + VPC_ENI_ACTIONS)
# The Sids of the statements a shared role (``build.team_roles``) treats apart: the platform's
# statements on the resources cronplane names for the job (log group, DLQ and self-invoke merged
# there), and the grants Lambda uses outside the function, where IAM cannot tell jobs apart.
SID_LOGS, SID_HISTORY, SID_DLQ, SID_INVOKE = (
    "WriteOwnLogs",
    "OwnRunRecords",
    "SendToOwnDeadLetterQueue",
    "InvokeSelfForRetries",
)
SID_JOB_KEY, SID_VPC = "DecryptWithJobKey", "ManageVpcNetworkInterfaces"
_KMS_KEY_ID = re.compile(r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


class PolicyError(CronplaneError):
    """A job's settings cannot be turned into a least-privilege policy."""


def lambda_trust_policy() -> dict[str, Any]:
    return _document(
        [
            {
                "Sid": "LambdaAssumesRole",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
    )


def execution_policy(
    manifest: Manifest, job: Job, *, account_id: str, region: str, partition: str = "aws"
) -> dict[str, Any]:
    """The inline policy of ``job``'s execution role (see the module docstring for the list)."""
    namespace = manifest.namespace
    function = names.function_name(namespace, job.name)
    arn = _ArnBuilder(partition, region, account_id)
    table_arn = arn("dynamodb", f"table/{names.history_table(namespace)}")
    function_arn = arn("lambda", f"function:{function}")

    statements: list[dict[str, Any]] = [
        {
            "Sid": SID_LOGS,
            "Effect": "Allow",
            "Action": list(LOG_ACTIONS),
            # Log streams are addressed as log-group:NAME:log-stream:STREAM, hence the ":*".
            "Resource": [arn("logs", f"log-group:{names.log_group_name(namespace, job.name)}:*")],
        },
        {
            "Sid": SID_HISTORY,
            "Effect": "Allow",
            "Action": list(RUN_HISTORY_ACTIONS),
            "Resource": [table_arn],
            # Run records, events and the overlap lock all live in the job's own partition;
            # another job's history stays out of reach, even for a buggy or hostile handler.
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [job.name]}},
        },
        {
            "Sid": SID_DLQ,
            "Effect": "Allow",
            "Action": list(DLQ_ACTIONS),
            "Resource": [arn("sqs", names.dlq_name(namespace, job.name))],
        },
        {
            "Sid": SID_INVOKE,
            "Effect": "Allow",
            "Action": list(SELF_INVOKE_ACTIONS),
            # ":*" covers the alias (and versions) the trigger targets with provisioned concurrency.
            "Resource": [function_arn, f"{function_arn}:*"],
        },
    ]

    ssm = [_ssm_parameter_arn(arn, s.name) for s in job.secrets if s.source == "ssm"]
    if ssm:
        statements.append(
            {"Sid": "ReadSsmSecrets", "Effect": "Allow", "Action": list(SSM_SECRET_ACTIONS), "Resource": _unique(ssm)}
        )
    managed = [_secret_arn(arn, s.name) for s in job.secrets if s.source == "secretsmanager"]
    if managed:
        statements.append(
            {
                "Sid": "ReadSecretsManagerSecrets",
                "Effect": "Allow",
                "Action": list(SECRETS_MANAGER_ACTIONS),
                "Resource": _unique(managed),
            }
        )
    unknown = sorted({s.source for s in job.secrets} - {"ssm", "secretsmanager"})
    if unknown:
        raise PolicyError(
            f"{_where(manifest, job)}: secret source {unknown[0]!r} is not known; use ssm or secretsmanager"
        )
    if job.kms_key:
        # Also what SSM SecureString and Secrets Manager need for a customer key; with AWS
        # managed keys (aws/ssm, aws/secretsmanager) no grant is needed at all.
        statements.append(
            {
                "Sid": SID_JOB_KEY,
                "Effect": "Allow",
                "Action": list(KMS_ACTIONS),
                "Resource": [_kms_key_arn(arn, job.kms_key, manifest, job)],
            }
        )
    if job.vpc is not None:
        statements.append(
            {
                "Sid": SID_VPC,
                "Effect": "Allow",
                "Action": list(VPC_ENI_ACTIONS),
                # AWS offers no narrower resource here: DescribeNetworkInterfaces only works on
                # "*", and Lambda validates the ENI actions against "*" when it attaches the
                # function to the VPC. The only "*" resource cronplane ever grants.
                "Resource": "*",
            }
        )
    statements.extend(_alert_statements(manifest, job, arn))
    _check_guardrails(manifest, job)
    for index, permission in enumerate(job.permissions, start=1):
        statements.append(_declared_statement(manifest, job, index, permission))

    policy = _document(statements)
    _check_size(manifest, job, policy)
    return policy


def _alert_statements(manifest: Manifest, job: Job, arn: _ArnBuilder) -> list[dict[str, Any]]:
    """A job with alerts publishes to its own routes' topics only (the namespace's topic when
    it has email routes, its ``sns:`` topics) and reads its own webhooks' URLs only."""
    if job.alerts is None:
        return []
    statements: list[dict[str, Any]] = []
    topics = list(job.alerts.targets("sns"))
    if job.alerts.targets("email"):
        topics.insert(0, arn("sns", names.alert_topic(manifest.namespace)))
    if topics:
        statements.append(
            {"Sid": "PublishOwnAlerts", "Effect": "Allow", "Action": list(ALERT_ACTIONS), "Resource": _unique(topics)}
        )
    webhooks = [ref.partition(":") for ref in job.alerts.targets("webhook")]
    ssm = [_ssm_parameter_arn(arn, name) for source, _, name in webhooks if source == "ssm"]
    if ssm:
        statements.append(
            {
                "Sid": "ReadOwnWebhookUrls",
                "Effect": "Allow",
                "Action": list(SSM_SECRET_ACTIONS),
                "Resource": _unique(ssm),
            }
        )
    managed = [_secret_arn(arn, name) for source, _, name in webhooks if source == "secretsmanager"]
    if managed:
        statements.append(
            {
                "Sid": "ReadOwnWebhookSecrets",
                "Effect": "Allow",
                "Action": list(SECRETS_MANAGER_ACTIONS),
                "Resource": _unique(managed),
            }
        )
    return statements


def scheduler_trust_policy(account_id: str, group_arn: str) -> dict[str, Any]:
    """Who may use a job's Scheduler role: EventBridge Scheduler, and only for a schedule of
    this account in this namespace's schedule group (``group_arn``). The confused-deputy guard
    AWS documents for Scheduler execution roles: ``aws:SourceArn`` is the schedule *group*'s
    ARN (never a schedule's), ``aws:SourceAccount`` the account, so neither a schedule of
    another account nor one of another namespace (another group) can fire through this role."""
    return _document(
        [
            {
                "Sid": "SchedulerAssumesRole",
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnEquals": {"aws:SourceArn": group_arn},
                },
            }
        ]
    )


def scheduler_policy(function_arn: str, dlq_arn: str) -> dict[str, Any]:
    """What EventBridge Scheduler needs to fire one job: invoke its function (or the alias
    under it) and park undeliverable firings in the job's DLQ."""
    return _document(
        [
            {
                "Sid": "InvokeJobFunction",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [function_arn, f"{function_arn}:*"],
            },
            {
                "Sid": "SendToJobDeadLetterQueue",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [dlq_arn],
            },
        ]
    )


# --- helpers ---------------------------------------------------------------------------------


class _ArnBuilder:
    def __init__(self, partition: str, region: str, account_id: str) -> None:
        self.partition, self.region, self.account_id = partition, region, account_id

    def __call__(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": statements}


def _ssm_parameter_arn(arn: _ArnBuilder, name: str) -> str:
    if name.startswith("arn:"):
        return name
    # The ARN of "/billing/db" is ".../parameter/billing/db": one slash, not two.
    return arn("ssm", f"parameter/{name.lstrip('/')}")


def _secret_arn(arn: _ArnBuilder, name: str) -> str:
    if name.startswith("arn:"):
        return name  # a full ARN already carries the random suffix
    # Secrets Manager appends "-" and 6 random characters to every secret's ARN; "??????"
    # matches exactly those, so "db" does not also grant "db-admin".
    return arn("secretsmanager", f"secret:{name}-??????")


def _kms_key_arn(arn: _ArnBuilder, key: str, manifest: Manifest, job: Job) -> str:
    if key.startswith("arn:") and ":key/" in key:
        return key
    if _KMS_KEY_ID.match(key):
        return arn("kms", f"key/{key}")
    raise PolicyError(
        f"{_where(manifest, job)}: kms_key {key!r} must be a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) "
        "or key id; an alias cannot scope kms:Decrypt and Lambda needs the key's ARN"
    )


def _declared_statement(manifest: Manifest, job: Job, index: int, permission: Permission) -> dict[str, Any]:
    # Every action of every service: never, not even with allow_privileged (a service's wildcard
    # such as "s3:*" is one of the guardrails that exception may waive).
    everything = [a for a in permission.actions if a in ("*", "*:*")]
    if everything:
        raise PolicyError(
            f"{_where(manifest, job)}: permissions[{index - 1}]: action {everything[0]!r} grants every "
            "action of every service; list the actions the job calls (for example s3:GetObject)"
        )
    if permission.effect not in ("Allow", "Deny"):
        raise PolicyError(f"{_where(manifest, job)}: permissions[{index - 1}]: effect must be Allow or Deny")
    if not permission.actions or not permission.resources:
        raise PolicyError(f"{_where(manifest, job)}: permissions[{index - 1}]: needs actions and resources")
    return {
        "Sid": f"JobDeclared{index}",
        "Effect": permission.effect,
        "Action": list(permission.actions),
        "Resource": list(permission.resources),
    }


def privileged_grants(manifest: Manifest, job: Job) -> list[str]:
    """What the job's ``allow_privileged`` exception waives (empty without one): the grants
    ``jobctl plan`` lists next to the reason."""
    if not job.allow_privileged:
        return []
    return list(dict.fromkeys(f.grant for f in _findings(manifest, job) if f.waivable))


def _check_guardrails(manifest: Manifest, job: Job) -> None:
    """``validate`` refuses these already; checked again here so that no policy is ever built
    from a Job that did not come through the loader (``manifest.guardrails``)."""
    refused = [f for f in _findings(manifest, job) if not (f.waivable and job.allow_privileged)]
    if refused:
        first = refused[0]
        where = ".".join(str(p) for p in first.path)
        raise PolicyError(f"{_where(manifest, job)}: {where}: {first.refusal}")


def _findings(manifest: Manifest, job: Job) -> list[guardrails.Finding]:
    # The other jobs' names matter only to declared permissions, the teams only to secrets:
    # without them the check costs nothing per other job (10,000 jobs: 10,000 checks, not 10^8).
    job_names = [j.name for j in manifest.jobs] if job.permissions else []
    teams = {j.team for j in manifest.jobs} if job.secrets else set()
    return guardrails.job_findings(manifest.namespace, job, job_names, teams=teams)


def _check_size(manifest: Manifest, job: Job, policy: dict[str, Any]) -> None:
    size = policy_size(policy)
    if size > MAX_INLINE_POLICY_CHARS:
        raise PolicyError(
            f"{_where(manifest, job)}: the execution policy is {size} characters; IAM allows "
            f"{MAX_INLINE_POLICY_CHARS} per inline policy. Merge the job's permissions statements "
            "or use fewer secrets"
        )


def _where(manifest: Manifest, job: Job) -> str:
    location = f"{manifest.path}:{job.line}" if job.line else manifest.path
    return f"{location}: job {job.name!r}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
