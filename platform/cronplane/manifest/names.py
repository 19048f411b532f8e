"""How cronplane names things in AWS. One place, so the manifest can check lengths before
deploy and every later stage agrees on the same names.

Names must be injective: two (namespace, job) pairs never produce the same AWS name, or one
namespace's deploy, pause or audit would act on another's resources. Namespaces and job names
are lowercase words joined by single hyphens (``manifest.loader.NAME_RE``: never ``--``, never a
hyphen at either end), so joining them with ``--`` (``SEPARATOR``) is: the first ``--`` of a name
is always the join. With a single hyphen it was not (``acme`` + ``jobs-x`` and ``acme-jobs`` +
``x`` both gave ``acme-jobs-x``).

Deployments made before the ``--`` join still carry ``NAMESPACE-JOB`` names: the next deploy
plans each of them as a replacement (new resources under the new names first, then the old ones
deleted), and says so in a note (``legacy_names``). The history table keeps its name
(``NAMESPACE-history`` is injective already), so run history and pauses survive.

Whatever the names, every command checks the ``cronplane:namespace`` tag before it changes a
resource it found by name (``check_owner``): a clash with a resource of another namespace is an
error naming both, never a silent skip or a change to someone else's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cronplane.errors import CronplaneError

# Tags every managed resource carries. Deploy and destroy only touch resources whose
# NAMESPACE_TAG equals the manifest's namespace.
MANAGED_BY_TAG = "ManagedBy"
MANAGED_BY_VALUE = "cronplane"
NAMESPACE_TAG = "cronplane:namespace"
JOB_TAG = "cronplane:job"
TEAM_TAG = "cronplane:team"
OWNER_TAG = "cronplane:owner"

ALIAS_NAME = "live"  # alias the trigger targets when a job has provisioned concurrency
# Between namespace and job in every per-job name (see the module docstring for why "--").
SEPARATOR = "--"
LEGACY_SEPARATOR = "-"  # before the "--" join: not injective, only recognised to replace it


class NotOursError(CronplaneError):
    """A resource found by the name this namespace would use belongs to another namespace (or
    to no cronplane namespace): refusing to change it."""


@dataclass(frozen=True)
class AwsName:
    kind: str  # human name of the resource kind, used in messages
    value: str
    limit: int


def history_table(namespace: str) -> str:
    return f"{namespace}-history"


def job_prefix(namespace: str) -> str:
    """What every per-job name of ``namespace`` starts with (functions, rules, queues, roles)."""
    return f"{namespace}{SEPARATOR}"


def listing_prefix(namespace: str) -> str:
    """The name prefix inventory lists by: also matches names made before the ``--`` join, so a
    deploy finds (and replaces) them; resources of other namespaces it matches are told apart
    by their tags."""
    return f"{namespace}{LEGACY_SEPARATOR}"


def _joined(namespace: str, job: str) -> str:
    return f"{job_prefix(namespace)}{job}"


def function_name(namespace: str, job: str) -> str:
    return _joined(namespace, job)


def rule_name(namespace: str, job: str) -> str:
    return _joined(namespace, job)


def schedule_name(namespace: str, job: str) -> str:
    return _joined(namespace, job)


def schedule_group(namespace: str) -> str:
    return namespace


# The namespace's watchdog (``build.watchdog``) takes the place of a job in every per-job name
# (function, role, log group, rule) and in plans: "_" never appears in a job name (NAME_RE),
# so no job can clash with it.
WATCHDOG = "_watchdog"


def watchdog_function(namespace: str) -> str:
    """The namespace's watchdog function: checks the jobs with ``alerts:`` every minute."""
    return function_name(namespace, WATCHDOG)


def alert_topic(namespace: str) -> str:
    """The namespace's SNS topic: email routes are its subscriptions, alarms its publishers.
    Injective like the history table's name: one fixed suffix after the namespace."""
    return f"{namespace}-alerts"


def alert_key_alias(namespace: str) -> str:
    """The alias of the namespace's KMS key that encrypts its alert topic (``build.alerting``):
    ``alias/acme-jobs--alerts``. ``--`` after the namespace, as for its jobs' resources."""
    return f"alias/{namespace}--alerts"


# What a job's one CloudWatch alarm watches: its Failed and TimedOut runs together.
ALARM_FAILURES = "failures"


def alarm_name(namespace: str, job: str, metric: str = ALARM_FAILURES) -> str:
    """The CloudWatch alarm of ``job`` on ``metric`` (``acme-jobs--nightly-report-failures``)."""
    return f"{_joined(namespace, job)}-{metric}"


def role_name(namespace: str, job: str) -> str:
    return f"{_joined(namespace, job)}-exec"


def scheduler_role_name(namespace: str, job: str) -> str:
    return f"{_joined(namespace, job)}-sched"


def dlq_name(namespace: str, job: str) -> str:
    return f"{_joined(namespace, job)}-dlq"


LOG_GROUP_ROOT = "/aws/lambda/"  # Lambda writes a function's logs to LOG_GROUP_ROOT + its name


def log_group_name(namespace: str, job: str) -> str:
    return f"{LOG_GROUP_ROOT}{function_name(namespace, job)}"


def log_group_listing_prefix(namespace: str) -> str:
    """As ``listing_prefix``, for log groups."""
    return f"{LOG_GROUP_ROOT}{listing_prefix(namespace)}"


def role_path(namespace: str) -> str:
    """IAM path of every role of a namespace: lets inventory list them in one call."""
    return f"/cronplane/{namespace}/"


# Roles shared by many jobs (``role_mode: per_team``, ``build.team_roles``) live under a path of
# their own inside the namespace's: the two role kinds tell theirs apart by it. Their names take the
# place of a job in the per-job naming, behind "_", which no job name holds (NAME_RE): a shared
# role's name never equals a job's role name, nor the watchdog's.
SHARED_ROLE_DIR = "_shared/"
TEAM_ROLE_PREFIX = "_team-"
TEAM_ROLE_SUFFIX = "-exec"
TEAM_ROLE_INDEX_ROOM = 3  # digits kept free for a role's index: up to 1,000 roles per team
ROLE_NAME_LIMIT = 64
NAMESPACE_MAX_LENGTH = 32  # what manifest.loader allows


def shared_role_path(namespace: str) -> str:
    """IAM path of the namespace's shared roles (``/cronplane/acme/_shared/``)."""
    return f"{role_path(namespace)}{SHARED_ROLE_DIR}"


def team_label(team: str) -> str:
    """The team as its shared roles' names hold it: the team itself, or, for a name too long to
    fit IAM's 64 characters next to the longest namespace, its start and a CRC-32 of the whole
    name (``data-eng-3fa9c1``). Never depends on the namespace (an export's namespace is an
    input), nor on the role's index, so adding a role never renames the others;
    ``build.team_roles`` refuses a manifest in which two teams would get the same label."""
    fixed = len(f"{SEPARATOR}{TEAM_ROLE_PREFIX}-{'9' * TEAM_ROLE_INDEX_ROOM}{TEAM_ROLE_SUFFIX}")
    room = ROLE_NAME_LIMIT - NAMESPACE_MAX_LENGTH - fixed
    if len(team) <= room:
        return team
    import zlib

    digest = f"{zlib.crc32(team.encode()):08x}"[:6]
    return f"{team[: room - len(digest) - 1]}-{digest}"


def team_role_name(namespace: str, team: str, index: int) -> str:
    """The ``index``-th shared execution role of ``team`` (``acme--_team-billing-0-exec``).
    Injective: the namespace ends at the first ``--``, the index is the last ``-``-separated
    part before ``-exec`` and holds digits only, the team label is what lies between."""
    return f"{job_prefix(namespace)}{TEAM_ROLE_PREFIX}{team_label(team)}-{index}{TEAM_ROLE_SUFFIX}"


def namespace_scheduler_role_name(namespace: str) -> str:
    """The one role EventBridge Scheduler uses for every job of the namespace under
    ``role_mode: per_team`` (``acme--_scheduler``)."""
    return f"{job_prefix(namespace)}_scheduler"


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


def job_of(namespace: str, name: str) -> str | None:
    """The job a per-job name of ``namespace`` belongs to (None if it is not one): the part
    after the join, without a kind's suffix (``-exec``, ``-sched``, ``-dlq``)."""
    name = name.removeprefix(LOG_GROUP_ROOT)
    for prefix in (job_prefix(namespace), listing_prefix(namespace)):
        if name.startswith(prefix):
            job = name[len(prefix) :]
            for suffix in ("-exec", "-sched", "-dlq"):
                job = job.removesuffix(suffix)
            return job or None
    return None


def legacy_names(namespace: str, job: str) -> set[str]:
    """The names a job had before the ``--`` join (the planner notes their replacement)."""
    joined = f"{namespace}{LEGACY_SEPARATOR}{job}"
    return {joined, f"{joined}-exec", f"{joined}-sched", f"{joined}-dlq", f"{LOG_GROUP_ROOT}{joined}"}


def owner_namespace(tags: Mapping[str, str] | None) -> str | None:
    return None if tags is None else tags.get(NAMESPACE_TAG)


def clash_message(what: str, namespace: str, tags: Mapping[str, str] | None) -> str:
    """Why ``what`` (``EventBridge rule acme-jobs-x``) is not ``namespace``'s, naming its owner."""
    owner = owner_namespace(tags)
    if owner:
        return (
            f"{what} belongs to cronplane namespace {owner!r} ({NAMESPACE_TAG}={owner}), not to {namespace!r}: "
            f"both namespaces produce this name"
        )
    return f"{what} has no {NAMESPACE_TAG} tag: it does not belong to namespace {namespace!r} (made outside cronplane?)"


def check_owner(what: str, namespace: str, tags: Mapping[str, str] | None, *, doing: str) -> None:
    """Raise ``NotOursError`` unless ``tags`` say the resource is ``namespace``'s. ``doing`` is
    what was about to happen (``pause it``), for the message."""
    if owner_namespace(tags) == namespace:
        return
    raise NotOursError(
        f"{clash_message(what, namespace, tags)}; refusing to {doing}. Nothing was changed: deploy "
        f"namespace {namespace!r} (`jobctl deploy`) so the job has resources of its own, then retry"
    )


def too_long(namespace: str, job: str) -> AwsName | None:
    """The generated name that overflows its limit by the most, or None if all fit."""
    worst = max(job_names(namespace, job), key=lambda n: len(n.value) - n.limit)
    return worst if len(worst.value) > worst.limit else None
