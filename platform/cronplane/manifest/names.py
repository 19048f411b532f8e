"""How cronplane names things in AWS. One place, so the manifest can check lengths before
deploy and every later stage agrees on the same names."""

from __future__ import annotations

from dataclasses import dataclass

# Tags every managed resource carries. Deploy and destroy only touch resources whose
# NAMESPACE_TAG equals the manifest's namespace.
MANAGED_BY_TAG = "ManagedBy"
MANAGED_BY_VALUE = "cronplane"
NAMESPACE_TAG = "cronplane:namespace"
JOB_TAG = "cronplane:job"
TEAM_TAG = "cronplane:team"
OWNER_TAG = "cronplane:owner"

ALIAS_NAME = "live"  # alias the trigger targets when a job has provisioned concurrency


@dataclass(frozen=True)
class AwsName:
    kind: str  # human name of the resource kind, used in messages
    value: str
    limit: int


def history_table(namespace: str) -> str:
    return f"{namespace}-history"


def function_name(namespace: str, job: str) -> str:
    return f"{namespace}-{job}"


def rule_name(namespace: str, job: str) -> str:
    return f"{namespace}-{job}"


def schedule_name(namespace: str, job: str) -> str:
    return f"{namespace}-{job}"


def schedule_group(namespace: str) -> str:
    return namespace


def role_name(namespace: str, job: str) -> str:
    return f"{namespace}-{job}-exec"


def scheduler_role_name(namespace: str, job: str) -> str:
    return f"{namespace}-{job}-sched"


def dlq_name(namespace: str, job: str) -> str:
    return f"{namespace}-{job}-dlq"


def log_group_name(namespace: str, job: str) -> str:
    return f"/aws/lambda/{function_name(namespace, job)}"


def role_path(namespace: str) -> str:
    """IAM path of every role of a namespace: lets inventory list them in one call."""
    return f"/cronplane/{namespace}/"


def job_names(namespace: str, job: str) -> list[AwsName]:
    """Every generated name of a job with the AWS limit it must fit."""
    return [
        AwsName("Lambda function name", function_name(namespace, job), 64),
        AwsName("EventBridge rule name", rule_name(namespace, job), 64),
        AwsName("Scheduler schedule name", schedule_name(namespace, job), 64),
        AwsName("IAM role name", role_name(namespace, job), 64),
        AwsName("Scheduler IAM role name", scheduler_role_name(namespace, job), 64),
        AwsName("SQS queue name", dlq_name(namespace, job), 80),
        AwsName("log group name", log_group_name(namespace, job), 512),
    ]


def too_long(namespace: str, job: str) -> AwsName | None:
    """The generated name that overflows its limit by the most, or None if all fit."""
    worst = max(job_names(namespace, job), key=lambda n: len(n.value) - n.limit)
    return worst if len(worst.value) > worst.limit else None
