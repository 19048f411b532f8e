"""Shared roles (``role_mode: per_team``): the execution roles a team's jobs share, and the one
role EventBridge Scheduler uses for the whole namespace. Pure, like ``resources``, which asks
``shared_roles`` for them and points each job's function (and schedule) at its shared role.

IAM allows 1,000 roles per account by default (5,000 at most): one role per job (two on
Scheduler) stops well before 10,000 jobs. A shared role still keeps each job to its own
resources wherever IAM can tell the jobs apart. Lambda puts the calling function's ARN in the
request context of every call made with the role's credentials from inside the function, and of
the log writes it makes for the function (``lambda:SourceFunctionArn``), so each job's statements
carry that condition: its history partition, log group, dead-letter queue, self-invoke, secrets,
alert routes and declared ``permissions`` stay its own. What Lambda does with the role outside
the function carries no such key and is granted to the whole role: ``kms:Decrypt`` with the
members' ``kms_key`` (environment variables) and the VPC network-interface actions. Credentials
taken out of a function are refused everything else: stricter than a job's own role.
docs/roles.md says this at length; the plan says it in a note (``isolation_notes``).

Which role a job gets is a stable hash assignment, so that adding a job rarely moves others:
consistent hashing with bounded loads. Every role of a team owns 64 points on a ring of
CRC-32 values; the jobs, taken in the order of their own CRC-32, each go to the first role at or
after their point that still has room (IAM's 10,240 characters for a role's inline policies,
whitespace not counted). The number of roles is the fewest that hold the team at ``FILL`` of
their room: the slack keeps a new job from pushing others along the ring.
"""

from __future__ import annotations

import bisect
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cronplane.build import iam
from cronplane.build.arns import Arns
from cronplane.build.desired import Resource
from cronplane.build.policy_checks import POLICY_VERSION, policy_size
from cronplane.manifest import names
from cronplane.manifest.loader import on_scheduler
from cronplane.manifest.models import Job, Manifest, RoleMode

# The kind of a shared role: registered by ``aws.kinds.role`` beside the per-job roles' kind.
# A kind of its own because the planner treats a kind as shared or not: shared roles are
# planned before every job and deleted after them, like the history table.
TEAM_ROLE = "iam team role"
FILL = 0.9  # how full the assignment plans each role: the rest is room for new jobs
RING_POINTS = 64  # points per role on the ring: even arcs, so a new job rarely pushes others along
_SOURCE_KEY = "lambda:SourceFunctionArn"
_ENVELOPE = policy_size({"Version": POLICY_VERSION, "Statement": []})
ROLE_ROOM = iam.MAX_INLINE_POLICY_CHARS - _ENVELOPE  # characters a role's statements may take


@dataclass(frozen=True)
class JobGrants:
    """One job's part of a shared role: its statements, each conditioned on its function's
    ARN, and what it needs granted role-wide (Lambda's calls outside the function)."""

    job: str
    statements: tuple[dict[str, Any], ...]
    kms_keys: tuple[str, ...] = ()
    vpc: bool = False

    @property
    def size(self) -> int:
        return sum(policy_size(s) + 1 for s in self.statements)  # + 1: the comma between


@dataclass(frozen=True)
class SharedRoles:
    resources: tuple[Resource, ...]  # the shared roles, for ``DesiredState`` (job None)
    execution: Mapping[str, str]  # job name -> the ARN of the role its function runs with
    scheduler: str | None  # the namespace's Scheduler role's ARN; None when no job is on Scheduler
    notes: tuple[str, ...] = field(default=())

    def role_of(self, job: str) -> str:
        return self.execution[job]


def shared_roles(manifest: Manifest, arns: Arns, tags: Mapping[str, str]) -> SharedRoles | None:
    """The shared roles of a ``per_team`` manifest (None for ``per_job``); ``tags`` are the
    namespace's own (``resources.base_tags``)."""
    if manifest.role_mode is not RoleMode.PER_TEAM:
        return None
    ns = manifest.namespace
    path = names.shared_role_path(ns)
    teams: dict[str, list[Job]] = {}
    for job in manifest.jobs:
        teams.setdefault(job.team, []).append(job)
    _check_labels(manifest, teams)
    out: list[Resource] = []
    execution: dict[str, str] = {}
    shares: list[tuple[str, list[str]]] = []
    for team, jobs in sorted(teams.items()):
        grants = {job.name: job_grants(manifest, job, arns) for job in jobs}
        for job in jobs:
            if (size := _alone(grants[job.name])) > ROLE_ROOM:
                where = f"{manifest.path}:{job.line}" if job.line else manifest.path
                raise iam.PolicyError(
                    f"{where}: job {job.name!r}: role_mode per_team gives its statements {size} characters in "
                    f"a shared role, which holds {ROLE_ROOM}; merge the job's permissions statements or use fewer secrets"
                )
        roles = assign(team, grants)
        for index, members in enumerate(roles):
            if not members:
                continue
            name = names.team_role_name(ns, team, index)
            _check_length(manifest, team, name)
            role_arn = arns.role(path, name)
            hidden = {
                "path": path,
                "description": f"cronplane team {team}: execution role {index} of namespace {ns}",
                "trust": iam.lambda_trust_policy(),
                "policy": team_policy([grants[job] for job in members]),
            }
            out.append(
                Resource(TEAM_ROLE, name, None, "trole", role_arn, hidden=hidden, tags={**tags, names.TEAM_TAG: team})
            )
            execution.update(dict.fromkeys(members, role_arn))
            shares.append((name, members))
    scheduler = None
    if any(on_scheduler(manifest, job) for job in manifest.jobs):
        name = names.namespace_scheduler_role_name(ns)
        scheduler = arns.role(path, name)
        hidden = {
            "path": path,
            "description": f"cronplane: EventBridge Scheduler's role for every schedule of namespace {ns}",
            "trust": iam.scheduler_trust_policy(arns.account, arns.group(names.schedule_group(ns))),
            "policy": namespace_scheduler_policy(ns, arns),
        }
        out.append(Resource(TEAM_ROLE, name, None, "tsrole", scheduler, hidden=hidden, tags=dict(tags)))
    return SharedRoles(tuple(out), execution, scheduler, isolation_notes(manifest, shares, scheduler is not None))


# --- one job's statements ----------------------------------------------------------------------


def job_grants(manifest: Manifest, job: Job, arns: Arns) -> JobGrants:
    """``job``'s statements in a shared role, from its own execution policy (``iam``: the same
    guardrails, secrets and declared permissions), each with the condition that the call comes
    from the job's function: its history partition as it is, its log group, dead-letter queue
    and self-invoke as one statement, every other statement as it is; what Lambda needs
    outside the function (its ``kms_key``, its VPC) as role-wide needs."""
    policy = iam.execution_policy(manifest, job, account_id=arns.account, region=arns.region, partition=arns.partition)
    function = arns.function(names.function_name(manifest.namespace, job.name))
    # Invoked through its alias (provisioned concurrency), the function may be named with its
    # qualifier in the request context: ArnLike with ":*" holds for the function's own versions
    # and aliases only.
    source = (
        {"ArnLike": {_SOURCE_KEY: [function, f"{function}:*"]}}
        if job.provisioned_concurrency
        else {"ArnEquals": {_SOURCE_KEY: function}}
    )
    merged: dict[str, list[str]] = {"Action": [], "Resource": []}
    statements: list[dict[str, Any]] = []
    kms_keys: list[str] = []
    vpc = False
    for statement in policy["Statement"]:
        sid = statement.get("Sid", "")
        if sid == iam.SID_JOB_KEY:
            kms_keys += _as_list(statement["Resource"])
        elif sid == iam.SID_VPC:
            vpc = True
        elif sid in (iam.SID_LOGS, iam.SID_DLQ, iam.SID_INVOKE):
            resources = _as_list(statement["Resource"])
            if sid == iam.SID_INVOKE and not job.provisioned_concurrency:
                resources = [function]  # only an alias is ever invoked qualified
            merged["Action"] += _as_list(statement["Action"])
            merged["Resource"] += resources
        else:
            statements.append(_conditioned({k: v for k, v in statement.items() if k != "Sid"}, source, job))
    # One statement for these three (room: a role holds more jobs): each action names one
    # service, which only its own resource's ARN can match, so the union grants nothing the
    # three did not. The history statement stays apart: its partition condition is DynamoDB's.
    own = {"Effect": "Allow", **{k: list(dict.fromkeys(v)) for k, v in merged.items()}, "Condition": source}
    return JobGrants(job.name, (own, *statements), tuple(dict.fromkeys(kms_keys)), vpc)


def _conditioned(statement: dict[str, Any], source: dict[str, Any], job: Job) -> dict[str, Any]:
    condition = dict(statement.get("Condition", {}))
    for operator, keys in source.items():
        if _SOURCE_KEY in condition.get(operator, {}):
            raise iam.PolicyError(f"job {job.name!r}: a statement already holds a {_SOURCE_KEY} condition")
        condition[operator] = {**condition.get(operator, {}), **keys}
    return {**statement, "Condition": condition}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --- the documents -------------------------------------------------------------------------------


def team_policy(members: Iterable[JobGrants]) -> dict[str, Any]:
    """The inline policy of a shared execution role: each member's statements, then what
    Lambda needs outside the functions, for the whole role."""
    members = list(members)
    statements = [s for grants in members for s in grants.statements]
    statements += _role_wide(members)
    return {"Version": POLICY_VERSION, "Statement": statements}


def _role_wide(members: list[JobGrants]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    keys = list(dict.fromkeys(key for grants in members for key in grants.kms_keys))
    if keys:
        # Lambda decrypts a function's environment variables outside the function, without
        # lambda:SourceFunctionArn: every member's key, for the whole role.
        out.append(
            {"Sid": "DecryptWithMembersKeys", "Effect": "Allow", "Action": list(iam.KMS_ACTIONS), "Resource": keys}
        )
    if any(grants.vpc for grants in members):
        # As in a job's own role: AWS offers nothing narrower than "*" for these actions.
        out.append({"Sid": iam.SID_VPC, "Effect": "Allow", "Action": list(iam.VPC_ENI_ACTIONS), "Resource": "*"})
    return out


def namespace_scheduler_policy(namespace: str, arns: Arns) -> dict[str, Any]:
    """What EventBridge Scheduler needs for every schedule of the namespace: invoke the
    namespace's functions (``NS--*``, with their aliases) and park undeliverable firings in its
    dead-letter queues (``NS--*-dlq``)."""
    prefix = names.job_prefix(namespace)
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "InvokeNamespaceFunctions",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [arns.function(f"{prefix}*")],
            },
            {
                "Sid": "SendToNamespaceDeadLetterQueues",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [arns.queue(f"{prefix}*-dlq")],
            },
        ],
    }


# --- which role a job gets -----------------------------------------------------------------------


def assign(team: str, grants: Mapping[str, JobGrants]) -> list[list[str]]:
    """The team's jobs as role index -> job names (an index may hold none): the fewest roles
    that hold the team at ``FILL`` of their room, each job in the first role from its point on
    the ring with room left for it (see the module docstring)."""
    room = ROLE_ROOM
    if any(_alone(g) > room for g in grants.values()):
        raise ValueError("a job alone does not fit a role (shared_roles checks this first)")
    total = sum(g.size for g in grants.values())
    count = max(1, math.ceil(total / (room * FILL)))
    while True:
        placed = _place(team, grants, count, room)
        if placed is not None and all(_fits([grants[job] for job in role]) for role in placed):
            return placed
        count += 1


def _fits(members: list[JobGrants]) -> bool:
    return policy_size(team_policy(members)) <= iam.MAX_INLINE_POLICY_CHARS


def _alone(grants: JobGrants) -> int:
    return policy_size(team_policy([grants])) - _ENVELOPE


def _place(team: str, grants: Mapping[str, JobGrants], count: int, room: int) -> list[list[str]] | None:
    ring = sorted((_crc(f"{team}/{index}/{point}"), index) for index in range(count) for point in range(RING_POINTS))
    members: list[list[JobGrants]] = [[] for _ in range(count)]
    used = [0] * count
    for name in sorted(grants, key=lambda job: (_crc(job), job)):
        job = grants[name]
        start = bisect.bisect_left(ring, (_crc(name), -1))
        for step in range(len(ring)):
            index = ring[(start + step) % len(ring)][1]
            size = used[index] + _growth(members[index], job)
            if size <= room:
                members[index].append(job)
                used[index] = size
                break
        else:
            return None
    return [[g.job for g in sorted(role, key=lambda g: g.job)] for role in members]


def _growth(members: list[JobGrants], job: JobGrants) -> int:
    """What ``job`` adds to a role holding ``members``: its statements, and what it changes in
    the role-wide ones (a key the role has not had, the first VPC job)."""
    if not job.kms_keys and not job.vpc:
        return job.size
    before = policy_size({"Statement": _role_wide(members)}) if members else 0
    after = policy_size({"Statement": _role_wide([*members, job])})
    return job.size + after - before


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


# --- checks and notes ----------------------------------------------------------------------------


def _check_labels(manifest: Manifest, teams: Mapping[str, list[Job]]) -> None:
    seen: dict[str, str] = {}
    for team in sorted(teams):
        label = names.team_label(team)
        if label in seen:
            raise iam.PolicyError(
                f"{manifest.path}: teams {seen[label]!r} and {team!r} would share the role names "
                f"{names.team_role_name(manifest.namespace, team, 0)!r}...; rename one of them (role_mode: per_team)"
            )
        seen[label] = team


def _check_length(manifest: Manifest, team: str, name: str) -> None:
    if len(name) > names.ROLE_NAME_LIMIT:  # only a team of more than 1,000 roles gets here
        raise iam.PolicyError(
            f"{manifest.path}: team {team!r} needs a role named {name!r}, over IAM's {names.ROLE_NAME_LIMIT} "
            "characters; split the team or shorten the namespace (role_mode: per_team)"
        )


def isolation_notes(manifest: Manifest, shares: list[tuple[str, list[str]]], scheduler: bool) -> tuple[str, ...]:
    """What the plan says about ``role_mode: per_team``: who shares which role, and exactly
    which isolation is kept and which is lost against a role per job."""
    ns = manifest.namespace
    by_team: dict[str, list[tuple[str, list[str]]]] = {}
    team_of = {job.name: job.team for job in manifest.jobs}
    for role, members in shares:
        by_team.setdefault(team_of[members[0]], []).append((role, members))
    notes = []
    for team, roles in sorted(by_team.items()):
        jobs = sum(len(members) for _, members in roles)
        if len(roles) == 1:
            where = f"role {roles[0][0]}"
        else:
            counts = sorted(len(members) for _, members in roles)
            where = f"{len(roles)} roles {roles[0][0]} ... (from {counts[0]} to {counts[-1]} jobs each)"
        notes.append(f"role_mode per_team: team {team}: {jobs} job{'s' if jobs != 1 else ''} in {where}")
    keyed = sorted(job.name for job in manifest.jobs if job.kms_key)
    networked = sorted(job.name for job in manifest.jobs if job.vpc is not None)
    lost = []
    if keyed:
        lost.append(f"kms:Decrypt with the kms_key of {_jobs(keyed)} is allowed to every job sharing their role")
    if networked:
        lost.append(
            f"the VPC network-interface actions of {_jobs(networked)} are allowed to every job sharing their role"
        )
    notes.append(
        "role_mode per_team: kept per job (IAM condition lambda:SourceFunctionArn on each job's statements): its "
        "history partition, log group, dead-letter queue, invoking itself, secrets, alert routes and declared "
        "permissions; lost: "
        + (
            "; ".join(lost)
            if lost
            else "nothing these jobs use (no job has kms_key or vpc, which Lambda uses "
            "outside the function, where IAM cannot tell the jobs apart)"
        )
        + "; stricter than per_job: a job's credentials used outside its function are refused (the condition "
        "holds only inside the function)"
    )
    if scheduler:
        notes.append(
            f"role_mode per_team: EventBridge Scheduler fires every job of namespace {ns} with one role, "
            f"{names.namespace_scheduler_role_name(ns)}, which may invoke any function {names.job_prefix(ns)}* and send "
            f"to any queue {names.job_prefix(ns)}*-dlq (per_job: each schedule's role reaches its own job only); "
            "it trusts only Scheduler, for this account's schedule group of the namespace"
        )
    return tuple(notes)


def _jobs(jobs: list[str]) -> str:
    shown = ", ".join(jobs[:5])
    return (
        f"job {shown}" if len(jobs) == 1 else f"jobs {shown}" + (f" and {len(jobs) - 5} more" if len(jobs) > 5 else "")
    )
