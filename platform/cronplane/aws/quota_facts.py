"""The AWS quotas a namespace's deploy can run into, as AWS documents them: each with its
Service Quotas codes (to read the account's applied value where that API knows the quota), its
documented default, and the way out a plan names when it would be exceeded. Sources, with the
AWS page of every number: docs/quotas.md.

Data only; ``aws.quotas`` reads the account and checks a plan against these. Three things the
numbers alone do not say:

- Service Quotas is regional. IAM's quotas are global and live in us-east-1 (``sq_region``);
  ``GetServiceQuota`` answers ``NoSuchResourceException`` for a quota whose applied value it does
  not have, and then the documented default (``default_in``) is what applies.
- Service Quotas gives some values in another unit than the default here: Lambda's code
  storage is in gigabytes there, in bytes in ``GetAccountSettings``. ``from_service_quotas``
  converts.
- Some defaults depend on the Region (``region_defaults``): rules per event bus are 100, not 300,
  in af-south-1 and eu-south-1.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class QuotaFact:
    key: str  # cronplane's name for it
    title: str  # how plans and errors name it (the Service Quotas name is in docs/quotas.md)
    service_code: str | None  # Service Quotas ServiceCode; None: not in Service Quotas
    quota_code: str | None  # None: no code known; the documented default applies
    default: int  # the documented default in most Regions, in cronplane's unit
    adjustable: bool
    fix: str  # the way out, when a plan would exceed it
    source: str  # the AWS page that documents it
    maximum: int | None = None  # the most an increase can give, where AWS documents one
    region_defaults: tuple[tuple[str, int], ...] = ()  # Regions whose default differs
    sq_unit: int = 1  # Service Quotas' Value times this is in ``default``'s unit
    sq_region: str | None = None  # where to ask Service Quotas (global quotas); None: the deploy's Region

    def default_in(self, region: str | None) -> int:
        """The documented default in ``region`` (the general one when the Region is unknown)."""
        return dict(self.region_defaults).get(region or "", self.default)

    def from_service_quotas(self, value: float) -> int:
        """A Service Quotas ``Quota.Value`` in this fact's unit."""
        return int(value * self.sq_unit)


RULES_PER_BUS = QuotaFact(
    "rules-per-bus",
    "EventBridge rules per event bus",
    "events",
    "L-244521F2",  # Service Quotas: "Number of rules"
    300,
    True,
    "set `trigger_mode: scheduler` (or leave `trigger_mode: auto`, which moves the namespace's UTC jobs to "
    "EventBridge Scheduler when rules do not fit), or request an increase of Service Quotas code L-244521F2",
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html",
    region_defaults=(("af-south-1", 100), ("eu-south-1", 100)),
)
IAM_ROLES = QuotaFact(
    "iam-roles",
    "IAM roles per account",
    "iam",
    "L-FE177D64",  # Service Quotas: "Roles per account"; IAM GetAccountSummary: RolesQuota
    1000,
    True,
    "set `role_mode: per_team` (roles shared per team; `jobctl plan` shows the isolation kept), or request an "
    "increase of Service Quotas code L-FE177D64 (at most 5,000)",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
    maximum=5000,
    sq_region="us-east-1",
)
ROLE_POLICY_SIZE = QuotaFact(
    "role-policy-size",
    "IAM inline policy size per role (characters, white space not counted)",
    None,  # fixed; IAM GetAccountSummary reports it as RolePolicySizeQuota
    None,
    10_240,
    False,
    "split the permissions of a shared role (fewer jobs per team role), or use `role_mode: per_job`",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
)
SCHEDULES = QuotaFact(
    "schedules",
    "EventBridge Scheduler schedules per account per Region",
    "scheduler",
    # From a public quota checker, not seen on an AWS page: an unknown code only means the
    # documented default applies (GetServiceQuota answers NoSuchResourceException).
    "L-EE5D6FF0",  # "Number of schedules"
    # 10 million on the current English pages (scheduler-quotas and the Scheduler usage
    # metrics page); older copies and translations say 1 million. A namespace is far below both.
    10_000_000,
    True,
    "request an increase of EventBridge Scheduler's Number of schedules quota in Service Quotas, or move "
    "jobs to another Region or account",
    "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html",
)
SCHEDULE_GROUPS = QuotaFact(
    "schedule-groups",
    "EventBridge Scheduler schedule groups per account per Region",
    "scheduler",
    "L-A632CD40",  # "Number of schedule groups"; same provenance as SCHEDULES' code
    500,
    True,
    "delete unused schedule groups, merge namespaces (one group each), or request an increase of EventBridge "
    "Scheduler's Number of schedule groups quota in Service Quotas",
    "https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-group.html",
)
CONCURRENT_EXECUTIONS = QuotaFact(
    "concurrent-executions",
    "Lambda concurrent executions",
    "lambda",
    "L-B99A9384",  # Service Quotas: "Concurrent executions"; GetAccountSettings: ConcurrentExecutions
    1000,  # new accounts start lower until AWS raises them: read the account, not this
    True,
    "spread the jobs (`start_window: N` on EventBridge Scheduler, or other minutes), or request an increase of "
    "Service Quotas code L-B99A9384",
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
)
CODE_STORAGE = QuotaFact(
    "code-storage",
    "Lambda function and layer storage",
    "lambda",
    "L-2ACBD22F",  # Service Quotas: "Function and layer storage", in gigabytes
    75 * GIB,  # GetAccountSettings' TotalCodeSize: 80,530,636,800 bytes
    True,
    "delete unused functions or versions, or request an increase of Service Quotas code L-2ACBD22F",
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    sq_unit=GIB,
)
LOG_GROUPS = QuotaFact(
    "log-groups",
    "CloudWatch Logs log groups per account per Region",
    "logs",
    "L-C7B9AAAB",  # Service Quotas: "Log groups"
    1_000_000,
    True,
    "delete unused log groups, or request an increase of Service Quotas code L-C7B9AAAB",
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html",
)

ALL = (
    RULES_PER_BUS,
    IAM_ROLES,
    ROLE_POLICY_SIZE,
    SCHEDULES,
    SCHEDULE_GROUPS,
    CONCURRENT_EXECUTIONS,
    CODE_STORAGE,
    LOG_GROUPS,
)
