"""The AWS quotas a namespace's deploy can run into, as AWS documents them: each with its
Service Quotas codes (to read the account's applied value where that API knows the quota), its
documented default, and the way out a plan names when it would be exceeded. Sources: docs/quotas.md.

Data only; ``aws.quotas`` reads the account and checks a plan against these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuotaFact:
    key: str  # cronplane's name for it
    title: str  # AWS's name, as the Service Quotas console shows it
    service_code: str | None  # Service Quotas ServiceCode; None: not in Service Quotas
    quota_code: str | None
    default: int
    adjustable: bool
    fix: str  # the way out, when a plan would exceed it
    source: str  # where AWS documents it


RULES_PER_BUS = QuotaFact(
    "rules-per-bus",
    "EventBridge rules per event bus",
    "events",
    "L-244521F2",
    300,
    True,
    "set `trigger_mode: scheduler` (or leave `trigger_mode: auto`, which moves the namespace's UTC jobs to "
    "EventBridge Scheduler when rules do not fit), or request an increase of Service Quotas code L-244521F2",
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html",
)
IAM_ROLES = QuotaFact(
    "iam-roles",
    "IAM roles per account",
    "iam",
    "L-FE177D64",
    1000,
    True,
    "set `role_mode: per_team` (roles shared per team; `jobctl plan` shows the isolation kept), or request an "
    "increase of Service Quotas code L-FE177D64 (at most 5,000)",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
)
SCHEDULES = QuotaFact(
    "schedules",
    "EventBridge Scheduler schedules per account per Region",
    "scheduler",
    None,
    1_000_000,
    True,
    "request an increase of EventBridge Scheduler's schedules quota in Service Quotas, or move jobs to another "
    "Region or account",
    "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html",
)
SCHEDULE_GROUPS = QuotaFact(
    "schedule-groups",
    "EventBridge Scheduler schedule groups per account per Region",
    "scheduler",
    None,
    500,
    True,
    "delete unused schedule groups, merge namespaces, or request an increase in Service Quotas",
    "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html",
)
CONCURRENT_EXECUTIONS = QuotaFact(
    "concurrent-executions",
    "Lambda concurrent executions",
    "lambda",
    "L-B99A9384",
    1000,
    True,
    "spread the jobs (`start_window: N` on EventBridge Scheduler, or other minutes), or request an increase of "
    "Service Quotas code L-B99A9384",
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
)
CODE_STORAGE = QuotaFact(
    "code-storage",
    "Lambda function and layer storage",
    "lambda",
    "L-2ACBD22F",
    75 * 1024**3,
    True,
    "delete unused functions or versions, or request an increase of Service Quotas code L-2ACBD22F",
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
)

ALL = (RULES_PER_BUS, IAM_ROLES, SCHEDULES, SCHEDULE_GROUPS, CONCURRENT_EXECUTIONS, CODE_STORAGE)
