"""AWS quotas, known before the first write: what the account would hold after a plan, against
what the account may hold (``aws.quota_facts``).

Two moments of a deploy ask this module (``aws.deployer``):

1. **Placement**, before the desired state is built: with ``trigger_mode: auto`` a UTC job gets
   an EventBridge rule, but the default event bus holds a limited number of rules, shared with
   every other rule of the account (other namespaces', other tools'). When the namespace's rule
   jobs would not all fit next to the others, all of them go to EventBridge Scheduler instead,
   and the plan says so (``place_triggers``). All or none: a namespace split between the two
   would be harder to reason about, and one more job must not move a random few.
2. **The check**, after planning, before anything is written: every quota the plan adds to is
   counted as the account would hold it afterwards, including resources that are not ours where
   they share the quota (``check_plan``). Over a quota the deploy stops with
   ``QuotaExceededError``: the quota, the numbers and the way out.

Reads happen only when the plan adds to a quota (an unchanged deploy makes none): the applied
value from Service Quotas where that API knows the quota (else the documented default, and
the plan says which), usage from the cheapest call that has it (IAM ``GetAccountSummary`` has
both roles and the role quota; Lambda ``GetAccountSettings`` has code storage and concurrency).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cronplane.aws import quota_facts as facts
from cronplane.aws.client import AwsCallError
from cronplane.aws.plan import Op, Plan
from cronplane.build.desired import DesiredState, Kind
from cronplane.build.team_roles import TEAM_ROLE
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest import names
from cronplane.manifest.loader import on_scheduler
from cronplane.manifest.models import Manifest, TriggerMode

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.inventory import LiveState

DEFAULT_BUS = "default"


class QuotaExceededError(CronplaneError):
    """A plan that would take the account over an AWS quota: nothing was written."""


@dataclass(frozen=True)
class Limit:
    """A quota's value for this account, and where the value came from."""

    value: int
    source: str  # "applied (Service Quotas)", "IAM account summary", "documented default"...

    def describe(self) -> str:
        return f"{self.value:,} ({self.source})"


@dataclass(frozen=True)
class Usage:
    fact: facts.QuotaFact
    limit: Limit
    before: int  # what the account holds now (ours and others')
    after: int  # what it would hold once the plan is applied

    @property
    def exceeded(self) -> bool:
        return self.after > self.limit.value and self.after > self.before

    def message(self) -> str:
        return (
            f"quota: {self.fact.title} would be {self.after:,} after this deploy (now {self.before:,}), over the "
            f"account's limit of {self.limit.describe()}. Nothing was written. Way out: {self.fact.fix}. "
            f"See {self.fact.source}"
        )


class AccountQuotas:
    """The account's quotas and usage, read through the one AWS door, each at most once."""

    def __init__(self, client: AwsClient) -> None:
        self.client = client
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, read: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    def applied(self, fact: facts.QuotaFact) -> Limit:
        """The applied value from Service Quotas, else the documented default for the deploy's
        Region. (IAM's quotas are global, asked in us-east-1: roles are read from IAM's own
        account summary instead, ``roles``.)"""
        default = fact.default_in(self._region())
        if fact.service_code is None or fact.quota_code is None or fact.sq_region not in (None, self._region()):
            return Limit(default, "documented default")
        service_code, quota_code = fact.service_code, fact.quota_code

        def read() -> Limit:
            try:
                answer = self.client.call(
                    "service-quotas", "get_service_quota", ServiceCode=service_code, QuotaCode=quota_code
                )
            except (AwsCallError, AwsError) as exc:
                # NoSuchResourceException: Service Quotas has no applied value for it.
                why = exc.code if isinstance(exc, AwsCallError) else "unreadable"
                return Limit(default, f"documented default; Service Quotas: {why}")
            value = answer.get("Quota", {}).get("Value")
            if value is None:
                return Limit(default, "documented default")
            return Limit(fact.from_service_quotas(float(value)), "applied, from Service Quotas")

        result: Limit = self._once(f"quota:{fact.key}", read)
        return result

    def _region(self) -> str | None:
        try:
            return self.client.region
        except AwsError:
            return None

    def rules_on_bus(self) -> list[str]:
        """Names of every rule on the default event bus, the namespace's and everyone else's."""

        def read() -> list[str]:
            rules = self.client.paginate("events", "list_rules", "Rules", EventBusName=DEFAULT_BUS, Limit=100)
            return [str(rule["Name"]) for rule in rules]

        result: list[str] = self._once("rules", read)
        return result

    def roles(self) -> tuple[int, Limit]:
        """Roles in the account now, and the role quota (IAM's account summary has both)."""

        def read() -> tuple[int, Limit]:
            summary = self.client.call("iam", "get_account_summary").get("SummaryMap", {})
            quota = summary.get("RolesQuota")
            limit = (
                Limit(int(quota), "IAM account summary")
                if quota is not None
                else Limit(facts.IAM_ROLES.default, "documented default")
            )
            return int(summary.get("Roles", 0)), limit

        result: tuple[int, Limit] = self._once("roles", read)
        return result

    def schedule_groups(self) -> int:
        def read() -> int:
            return len(self.client.paginate("scheduler", "list_schedule_groups", "ScheduleGroups"))

        result: int = self._once("groups", read)
        return result

    def lambda_settings(self) -> dict[str, Any] | None:
        """Lambda's ``GetAccountSettings`` (limits and usage), or None where it cannot be read."""

        def read() -> dict[str, Any] | None:
            try:
                return self.client.call("lambda", "get_account_settings")
            except (AwsCallError, AwsError):
                return None

        result: dict[str, Any] | None = self._once("lambda", read)
        return result

    def concurrency(self) -> Limit:
        settings = self.lambda_settings()
        value = (settings or {}).get("AccountLimit", {}).get("ConcurrentExecutions")
        if value is not None:
            return Limit(int(value), "Lambda account settings")
        return self.applied(facts.CONCURRENT_EXECUTIONS)


# -- 1. placement -----------------------------------------------------------------------------------
def rule_jobs(manifest: Manifest) -> list[str]:
    """The jobs ``trigger_mode: auto`` would give an EventBridge rule."""
    return [job.name for job in manifest.jobs if not on_scheduler(manifest, job)]


def ours(namespace: str, rule: str) -> bool:
    return rule.startswith(names.job_prefix(namespace))


def place_triggers(manifest: Manifest, live: LiveState, account: AccountQuotas) -> tuple[Manifest, tuple[str, ...]]:
    """The manifest as deploy will apply it, and a note when ``auto`` chose Scheduler for jobs
    that would get a rule: when the namespace's rule jobs do not all fit on the default bus
    next to the rules already there. Reads the bus only when a rule would be added."""
    if manifest.trigger_mode is not TriggerMode.AUTO:
        return manifest, ()
    wanted = rule_jobs(manifest)
    ns = manifest.namespace
    if all(live.get(Kind.RULE, names.rule_name(ns, job)) is not None for job in wanted):
        return manifest, ()  # nothing new on the bus (no read at all)
    others = sum(1 for rule in account.rules_on_bus() if not ours(ns, rule))
    limit = account.applied(facts.RULES_PER_BUS)
    if others + len(wanted) <= limit.value:
        return manifest, ()
    note = (
        f"trigger_mode auto: the {len(wanted):,} UTC jobs of namespace {ns} go on EventBridge Scheduler, because "
        f"as rules they would take the default event bus to {others + len(wanted):,} rules ({others:,} there "
        f"already are not this namespace's), over its quota of {limit.describe()}. They move back to rules when "
        "they fit again; `trigger_mode: scheduler` keeps them on Scheduler for good"
    )
    return replace(manifest, trigger_mode=TriggerMode.SCHEDULER), (note,)


# -- 2. the check -----------------------------------------------------------------------------------
# Kinds that are IAM roles: a job's own (role_mode: per_job) and the shared ones (per_team).
ROLE_KINDS = (Kind.ROLE, TEAM_ROLE)


def _count(plan: Plan, kind: str | tuple[str, ...], op: Op) -> int:
    kinds = (kind,) if isinstance(kind, str) else kind
    return sum(1 for a in plan.actions if a.kind in kinds and a.op == op)


def _adds(plan: Plan, kind: str | tuple[str, ...]) -> bool:
    return _count(plan, kind, Op.CREATE) > 0


def usages(plan: Plan, desired: DesiredState, account: AccountQuotas) -> tuple[list[Usage], list[str]]:
    """Every quota this plan adds to, as the account would hold it afterwards; and notes on
    what could not be counted."""
    found: list[Usage] = []
    unknown: list[str] = []
    if _adds(plan, ROLE_KINDS):
        now, limit = account.roles()
        after = now + _count(plan, ROLE_KINDS, Op.CREATE) - _count(plan, ROLE_KINDS, Op.DELETE)
        found.append(Usage(facts.IAM_ROLES, limit, now, after))
    if _adds(plan, Kind.RULE):
        rules = account.rules_on_bus()
        others = sum(1 for rule in rules if not ours(desired.namespace, rule))
        after = others + sum(1 for r in desired.resources if r.kind == Kind.RULE)
        found.append(Usage(facts.RULES_PER_BUS, account.applied(facts.RULES_PER_BUS), len(rules), after))
    if _adds(plan, Kind.SCHEDULE_GROUP):
        groups = account.schedule_groups()
        after = groups + _count(plan, Kind.SCHEDULE_GROUP, Op.CREATE)
        found.append(Usage(facts.SCHEDULE_GROUPS, account.applied(facts.SCHEDULE_GROUPS), groups, after))
    if _adds(plan, Kind.SCHEDULE):
        # A million by default: the namespace's own count is what can reach it; listing every
        # schedule of the account to add the others' would cost a call per 100 schedules.
        mine = sum(1 for r in desired.resources if r.kind == Kind.SCHEDULE)
        before = mine - _count(plan, Kind.SCHEDULE, Op.CREATE)
        found.append(Usage(facts.SCHEDULES, account.applied(facts.SCHEDULES), before, mine))
    new_code = [a.desired.code for a in plan.actions if a.kind == Kind.FUNCTION and a.op == Op.CREATE and a.desired]
    if new_code:
        added = sum(len(code or b"") for code in new_code)
        settings = account.lambda_settings()
        if settings is None:
            unknown.append(
                f"quota: {facts.CODE_STORAGE.title} not checked: Lambda GetAccountSettings could not be read "
                f"(this deploy adds {added:,} bytes of code)"
            )
        else:
            limit = Limit(int(settings["AccountLimit"]["TotalCodeSize"]), "Lambda account settings")
            used = int(settings.get("AccountUsage", {}).get("TotalCodeSize", 0))
            found.append(Usage(facts.CODE_STORAGE, limit, used, used + added))
    return found, unknown


def check_plan(plan: Plan, desired: DesiredState, account: AccountQuotas) -> tuple[str, ...]:
    """Raise ``QuotaExceededError`` naming every quota the plan would exceed; else the plan's
    quota notes (one line per quota it adds to, with the numbers)."""
    found, unknown = usages(plan, desired, account)
    over = [u for u in found if u.exceeded]
    if over:
        raise QuotaExceededError("\n".join(u.message() for u in over))
    counted = [
        f"quota: {u.fact.title}: {u.before:,} now, {u.after:,} after this deploy, of {u.limit.describe()}"
        for u in found
    ]
    return tuple(counted + unknown)


def fanout_notes(plan: Plan, manifest: Manifest, account: AccountQuotas) -> tuple[str, ...]:
    """When the plan adds or changes triggers: the minutes in which more of the namespace's
    jobs start than the account's Lambda concurrency allows (``validate`` says the same against
    the documented default; here the account's own limit, one read)."""
    from cronplane.aws.kinds import kind_of
    from cronplane.manifest.fanout import crowded_minutes, describe

    touched = any(kind_of(a.kind).trigger is not None and a.op in (Op.CREATE, Op.UPDATE) for a in plan.actions)
    enabled = sum(1 for job in manifest.jobs if job.enabled)
    if not touched or enabled <= 1:
        return ()
    limit = account.concurrency()
    if enabled <= limit.value:
        return ()  # they could all start in the same minute
    crowded = crowded_minutes(manifest, limit.value)
    return tuple(describe(crowded, limit.value, source=f"the account allows ({limit.source})"))


def with_notes(plan: Plan, notes: Iterable[str]) -> Plan:
    extra = tuple(notes)
    return replace(plan, notes=plan.notes + extra) if extra else plan
