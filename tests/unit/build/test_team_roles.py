"""``role_mode: per_team`` (issue 14, "Identity at scale"): the jobs of a team share execution
roles, and each job still keeps to its own history partition, dead-letter queue, secrets and
declared permissions through the condition ``lambda:SourceFunctionArn``.

moto does not evaluate IAM policies: ``support.iam_eval`` does, after IAM's documented rules, for
the requests the runtime makes from inside a job's function (where Lambda puts the function's ARN
in the request context) and from outside it (credentials taken away: no such key). Deploying and
exporting them: test_team_roles_deploy.py."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string

from cronplane.build import iam, team_roles
from cronplane.build.arns import Arns
from cronplane.build.desired import DesiredState, Kind, Resource
from cronplane.build.policy_checks import find_wildcards, policy_problems, policy_size
from cronplane.build.resources import desired_state
from cronplane.build.team_roles import TEAM_ROLE
from cronplane.manifest import names
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import AlertPolicy, Job, Manifest, Permission, RoleMode, Secret, TriggerMode, Vpc
from cronplane.runtime.alerts import Route
from cronplane.schedule.expression import parse_schedule
from support.iam_eval import ALLOW, DENY, IMPLICIT_DENY, Request, Unsupported, allowed, decide

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the runtime-call scan of the per-job test
from test_attack_job_role import runtime_iam_actions

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT, REGION, NS = "123456789012", "eu-west-1", "acme"
ARNS = Arns("aws", REGION, ACCOUNT)
TABLE = ARNS.table(names.history_table(NS))
KEY_A = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab"


def job(name: str, team: str = "billing", **settings: Any) -> Job:
    settings.setdefault("handler", f"{team}/{name}.py:handler")
    return Job(name=name, schedule=parse_schedule("rate(5 minutes)"), team=team, **settings)


def manifest(*jobs: Job, mode: RoleMode = RoleMode.PER_TEAM, trigger: TriggerMode = TriggerMode.AUTO) -> Manifest:
    return Manifest(namespace=NS, region=REGION, jobs=jobs, role_mode=mode, trigger_mode=trigger)


def state(m: Manifest) -> DesiredState:
    return desired_state(m, account_id=ACCOUNT, region=REGION, code={j.name: ("sha", None) for j in m.jobs})


def shared(m: Manifest) -> list[Resource]:
    return [r for r in state(m).resources if r.kind == TEAM_ROLE]


def fn(name: str) -> str:
    return ARNS.function(names.function_name(NS, name))


def inside(name: str, **context: Any) -> dict[str, Any]:
    """The request context of a call made from inside job ``name``'s function."""
    return {"lambda:SourceFunctionArn": fn(name), **context}


def role_of(m: Manifest, name: str) -> Resource:
    arn = next(r for r in state(m).resources if r.kind == Kind.FUNCTION and r.job == name).visible["role"]
    return next(r for r in shared(m) if r.arn == arn)


# Two jobs of one team, in one role, with everything that adds a grant.
ALERTS = AlertPolicy(notify=(Route("email", "a@example.com"), Route("webhook", "ssm:/billing/hook-a")))
A = job(
    "report",
    secrets=(Secret("DB", "ssm", "/billing/db-a"), Secret("API", "secretsmanager", "billing/api-a")),
    permissions=(Permission(("s3:GetObject",), ("arn:aws:s3:::reports-a/*",)),),
    kms_key=KEY_A,
    alerts=ALERTS,
)
B = job(
    "invoice",
    secrets=(Secret("DB", "ssm", "/billing/db-b"),),
    permissions=(Permission(("s3:PutObject",), ("arn:aws:s3:::invoices-b/*",)),),
    kms_key=KEY_B,
    vpc=Vpc(("subnet-0123456789abcdef0",), ("sg-0123456789abcdef0",)),
)
PAIR = manifest(A, B)


# -- the evaluator itself ---------------------------------------------------------------------------


def test_the_evaluator_follows_iams_documented_rules() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "dynamodb:*Item",
                "Resource": TABLE,
                "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["a"]}},
            },
            {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
            {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": ARNS.log_group("/aws/lambda/x") + ":*"},
        ]
    }
    put = Request("dynamodb:PutItem", TABLE, {"dynamodb:LeadingKeys": ["a"]})
    assert decide(policy, put) == ALLOW
    assert decide(policy, replace(put, context={"dynamodb:LeadingKeys": ["a", "b"]})) == IMPLICIT_DENY
    assert decide(policy, replace(put, context={})) == ALLOW  # ForAllValues holds when the key is missing
    assert decide(policy, replace(put, action="dynamodb:DeleteItem")) == DENY  # an explicit deny wins
    assert decide(policy, replace(put, action="DynamoDB:putitem")) == ALLOW  # actions are case-insensitive
    stream = ARNS.log_group("/aws/lambda/x") + ":log-stream:2026/11/30/[$LATEST]abc"
    assert allowed(policy, Request("logs:PutLogEvents", stream))  # the resource part spans colons
    assert not allowed(policy, Request("logs:PutLogEvents", stream.replace(REGION, "us-east-1")))
    arn_like = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {}}]}
    arn_like["Statement"][0]["Condition"] = {"ArnLike": {"lambda:SourceFunctionArn": f"{fn('a')}:*"}}
    assert not allowed(arn_like, Request("s3:GetObject", "arn:aws:s3:::b/k", inside("a")))  # unqualified
    assert allowed(
        arn_like, Request("s3:GetObject", "arn:aws:s3:::b/k", {"lambda:SourceFunctionArn": f"{fn('a')}:live"})
    )
    assert not allowed(arn_like, Request("s3:GetObject", "arn:aws:s3:::b/k"))  # a missing key fails ArnLike
    with pytest.raises(Unsupported):
        decide(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
                    }
                ]
            },
            put,
        )


# -- isolation inside a shared role ------------------------------------------------------------------


def test_two_jobs_of_a_team_share_one_role_and_nothing_else() -> None:
    role = role_of(PAIR, "report")
    assert role == role_of(PAIR, "invoice")
    policy = role.hidden["policy"]
    a_fn, b_fn = inside("report"), inside("invoice")

    def can(action: str, resource: str, context: dict[str, Any]) -> bool:
        return allowed(policy, Request(action, resource, context))

    for action in iam.RUN_HISTORY_ACTIONS:
        assert can(action, TABLE, {**a_fn, "dynamodb:LeadingKeys": ["report"]})
        assert not can(action, TABLE, {**a_fn, "dynamodb:LeadingKeys": ["invoice"]})  # B's partition
        assert not can(action, TABLE, {**a_fn, "dynamodb:LeadingKeys": ["report", "invoice"]})
        assert not can(action, TABLE, {**b_fn, "dynamodb:LeadingKeys": ["report"]})
    assert not can("dynamodb:Query", TABLE + "/index/by-time", {**a_fn, "dynamodb:LeadingKeys": ["report"]})
    dlq_a, dlq_b = (ARNS.queue(names.dlq_name(NS, j)) for j in ("report", "invoice"))
    assert can("sqs:SendMessage", dlq_a, a_fn) and not can("sqs:SendMessage", dlq_b, a_fn)
    assert can("lambda:InvokeFunction", fn("report"), a_fn) and not can("lambda:InvokeFunction", fn("invoice"), a_fn)
    stream = ARNS.log_group(names.log_group_name(NS, "invoice")) + ":log-stream:s"
    assert can("logs:PutLogEvents", stream, b_fn) and not can("logs:PutLogEvents", stream, a_fn)
    secret_b = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/billing/db-b"
    assert can("ssm:GetParameter", secret_b, b_fn) and not can("ssm:GetParameter", secret_b, a_fn)
    api_a = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:billing/api-a-AbCdEf"
    assert can("secretsmanager:GetSecretValue", api_a, a_fn) and not can("secretsmanager:GetSecretValue", api_a, b_fn)
    hook = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/billing/hook-a"
    assert can("ssm:GetParameter", hook, a_fn) and not can("ssm:GetParameter", hook, b_fn)
    topic = ARNS.topic(names.alert_topic(NS))
    assert can("sns:Publish", topic, a_fn) and not can("sns:Publish", topic, b_fn)  # B has no alerts
    # Declared permissions: each job's own, from its own function only.
    assert can("s3:GetObject", "arn:aws:s3:::reports-a/x", a_fn) and not can(
        "s3:GetObject", "arn:aws:s3:::reports-a/x", b_fn
    )
    assert can("s3:PutObject", "arn:aws:s3:::invoices-b/x", b_fn) and not can(
        "s3:PutObject", "arn:aws:s3:::invoices-b/x", a_fn
    )


def test_credentials_used_outside_the_function_are_refused_everything_but_lambdas_own_needs() -> None:
    policy = role_of(PAIR, "report").hidden["policy"]
    outside = {"dynamodb:LeadingKeys": ["report"]}  # no lambda:SourceFunctionArn outside a function
    requests = [
        Request("dynamodb:PutItem", TABLE, outside),
        Request("sqs:SendMessage", ARNS.queue(names.dlq_name(NS, "report"))),
        Request("lambda:InvokeFunction", fn("report")),
        Request("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/billing/db-a"),
        Request("s3:GetObject", "arn:aws:s3:::reports-a/x"),
        Request("logs:PutLogEvents", ARNS.log_group(names.log_group_name(NS, "report")) + ":log-stream:s"),
    ]
    assert [r.action for r in requests if allowed(policy, r)] == []
    # What the plan's note calls lost: Lambda decrypts the environment and attaches the VPC
    # outside the function, so these hold for the whole role (A may use B's key).
    assert allowed(policy, Request("kms:Decrypt", KEY_B, inside("report")))
    assert allowed(policy, Request("ec2:CreateNetworkInterface", "*"))


def test_every_grant_is_a_call_the_runtime_or_lambda_makes_and_back() -> None:
    policy = role_of(PAIR, "report").hidden["policy"]
    declared = {"s3:GetObject", "s3:PutObject"}
    granted = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    used = runtime_iam_actions()
    assert granted - declared - iam.LAMBDA_SERVICE_ACTIONS == used  # nothing unused, nothing missing
    assert used == iam.RUNTIME_ACTIONS


def test_every_statement_but_lambdas_own_needs_is_one_jobs_and_history_stays_in_its_partition() -> None:
    policy = role_of(PAIR, "report").hidden["policy"]
    role_wide = {"DecryptWithMembersKeys", iam.SID_VPC}
    for statement in policy["Statement"]:
        if statement.get("Sid") in role_wide:
            continue
        source = statement["Condition"]["ArnEquals"]["lambda:SourceFunctionArn"]
        owner = source.rsplit(names.SEPARATOR, 1)[1]
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert "dynamodb:Query" not in actions and "dynamodb:Scan" not in actions
        if any(a.startswith("dynamodb:") for a in actions):
            assert statement["Resource"] == [TABLE]
            assert statement["Condition"]["ForAllValues:StringEquals"] == {"dynamodb:LeadingKeys": [owner]}
    assert {s.get("Sid") for s in policy["Statement"]} >= role_wide
    assert policy_problems(policy) == []
    assert find_wildcards(policy) == [f"{iam.SID_VPC}: Resource *"]  # as in a VPC job's own role


def test_a_job_invoked_through_its_alias_is_matched_with_its_qualifier() -> None:
    warm = job("warm", provisioned_concurrency=2)
    policy = role_of(manifest(warm), "warm").hidden["policy"]
    for source in (fn("warm"), f"{fn('warm')}:live"):
        assert allowed(
            policy, Request("lambda:InvokeFunction", f"{fn('warm')}:live", {"lambda:SourceFunctionArn": source})
        )
    assert not allowed(
        policy, Request("lambda:InvokeFunction", fn("warm"), {"lambda:SourceFunctionArn": f"{fn('warmer')}:live"})
    )


def test_parliament_finds_nothing_but_the_key_it_does_not_know() -> None:
    """parliament's database lists no service's actions under ``lambda:SourceFunctionArn``, which
    AWS documents for identity policies on any action a function's code calls
    (https://docs.aws.amazon.com/lambda/latest/dg/permissions-source-function-arn.html)."""
    example = replace(load_manifest(ROOT / "jobs.yaml"), role_mode=RoleMode.PER_TEAM)
    for trigger in TriggerMode:
        for role in shared(replace(example, trigger_mode=trigger)):
            document = json.dumps(role.hidden["policy"])
            findings = [
                (f.issue, f.detail)
                for f in analyze_policy_string(document, include_community_auditors=True).findings
                if not (f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and "lambda:SourceFunctionArn" in str(f.detail))
            ]
            assert findings == [], (role.name, findings)
            assert find_wildcards(role.hidden["policy"]) == []


def test_the_namespaces_scheduler_role_reaches_its_own_functions_and_queues_only() -> None:
    m = manifest(A, B, trigger=TriggerMode.SCHEDULER)
    role = next(r for r in shared(m) if r.slot == "tsrole")
    policy = role.hidden["policy"]
    assert allowed(policy, Request("lambda:InvokeFunction", fn("invoice")))
    assert allowed(policy, Request("lambda:InvokeFunction", f"{fn('invoice')}:live"))
    assert allowed(policy, Request("sqs:SendMessage", ARNS.queue(names.dlq_name(NS, "report"))))
    assert not allowed(policy, Request("lambda:InvokeFunction", ARNS.function("acme-other--x")))
    assert not allowed(policy, Request("sqs:SendMessage", ARNS.queue("acme--report")))
    trust = role.hidden["trust"]["Statement"][0]
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnEquals": {"aws:SourceArn": ARNS.group(names.schedule_group(NS))},
    }
    schedules = [r for r in state(m).resources if r.kind == Kind.SCHEDULE]
    assert {s.hidden["role_arn"] for s in schedules} == {role.arn}
    assert not [r for r in state(m).resources if r.kind == Kind.ROLE and r.job in ("report", "invoice")]


# -- the plan's note ---------------------------------------------------------------------------------


def test_the_plan_says_who_shares_which_role_and_what_isolation_is_kept_and_lost() -> None:
    notes = state(manifest(A, B, job("tmp-cleanup", team="infra"))).notes
    assert notes[0] == "role_mode per_team: team billing: 2 jobs in role acme--_team-billing-0-exec"
    assert notes[1] == "role_mode per_team: team infra: 1 job in role acme--_team-infra-0-exec"
    assert notes[2].startswith(
        "role_mode per_team: kept per job (IAM condition lambda:SourceFunctionArn on each job's statements): its "
        "history partition, log group, dead-letter queue, invoking itself, secrets, alert routes and declared "
        "permissions; lost: "
    )
    assert "kms:Decrypt with the kms_key of jobs invoice, report is allowed to every job sharing their role" in notes[2]
    assert "the VPC network-interface actions of job invoice are allowed to every job sharing their role" in notes[2]
    assert notes[2].endswith(
        "a job's credentials used outside its function are refused (the condition holds only inside the function)"
    )
    plain = state(manifest(job("a"), job("b"))).notes
    assert "lost: nothing these jobs use (no job has kms_key or vpc" in plain[1]
    assert state(manifest(A, B, mode=RoleMode.PER_JOB)).notes == ()


# -- many jobs ---------------------------------------------------------------------------------------


def team_of(count: int, prefix: str = "job") -> list[Job]:
    return [job(f"{prefix}-{i:04d}", team="ops") for i in range(count)]


def assignment(jobs: list[Job]) -> dict[str, str]:
    desired = state(manifest(*jobs))
    return {j.name: role_of_in(desired, j.name) for j in jobs}


def role_of_in(desired: DesiredState, name: str) -> str:
    return next(r for r in desired.resources if r.kind == Kind.FUNCTION and r.job == name).visible["role"]


def test_a_300_job_team_splits_into_roles_that_each_fit() -> None:
    desired = state(manifest(*team_of(300)))
    roles = [r for r in desired.resources if r.kind == TEAM_ROLE]
    sizes = [policy_size(r.hidden["policy"]) for r in roles]
    assert 20 <= len(roles) <= 30 and max(sizes) <= iam.MAX_INLINE_POLICY_CHARS
    per_role = {r.arn: 0 for r in roles}
    for j in range(300):
        per_role[role_of_in(desired, f"job-{j:04d}")] += 1
    assert sum(per_role.values()) == 300 and min(per_role.values()) >= 1
    one_each = [s for r in roles for s in r.hidden["policy"]["Statement"] if "dynamodb:PutItem" in s["Action"]]
    assert len(one_each) == 300  # every job has its history statement in exactly one role
    # The power-of-two split the design started from (crc32(job) % B) needs 32 roles for these.
    assert len(roles) < 32


def test_adding_a_job_moves_few_others() -> None:
    """Only when the team needs one more role do jobs move: about a role's worth, into it."""
    base = team_of(300)
    before = assignment(base)
    grown = []
    for extra in ("added-a", "added-b", "zeta", "nightly-extra", "job-9999", "added-c"):
        after = assignment([*base, job(extra, team="ops")])
        moved = sum(1 for name, role in before.items() if after[name] != role)
        grew = len(set(after.values())) > len(set(before.values()))
        assert moved <= (16 if grew else 3), (extra, moved, grew)
        grown.append(grew)
    assert True in grown and False in grown  # both cases were seen


def test_shared_role_names_are_injective_fit_iam_and_never_a_jobs() -> None:
    teams = ["a", "a-1", "a-1-2", "a_1", "b-", "ops", "x" * 64, "x" * 63 + "y", "platform-infrastructure-team"]
    made: dict[str, tuple[str, str, int]] = {}
    for ns in ("acme", "a" * 32, "acme-jobs"):
        for team in teams:
            for index in (0, 1, 12, 999):
                name = names.team_role_name(ns, team, index)
                assert len(name) <= 64, name
                assert made.setdefault(name, (ns, team, index)) == (ns, team, index), name
        assert names.namespace_scheduler_role_name(ns) not in made
    for name in made:  # a job's names never hold "_" after the join; these always do
        assert name.split(names.SEPARATOR, 1)[1].startswith(names.TEAM_ROLE_PREFIX)


def test_two_teams_that_would_share_role_names_are_refused() -> None:
    crowded = "platform-infrastructure"  # too long beside the longest namespace
    label = names.team_label(crowded)
    assert label != crowded and label.startswith("platform") and len(names.team_role_name("a" * 32, crowded, 999)) == 64
    with pytest.raises(iam.PolicyError, match=r"teams .* would share the role names"):
        state(manifest(job("a", team=crowded), job("b", team=label)))


def test_a_job_too_big_for_any_role_is_one_clear_error() -> None:
    """Its own role would hold it (under 10,240 characters); with a condition on every
    statement, a shared role cannot."""

    def with_statements(count: int) -> Job:
        many = tuple(Permission(("s3:GetObject",), (f"arn:aws:s3:::bucket-{i:03d}/*",)) for i in range(count))
        return replace(job("big", permissions=many), line=7)

    def fits_its_own_role(count: int) -> bool:
        big = with_statements(count)
        try:
            return bool(iam.execution_policy(manifest(big), big, account_id=ACCOUNT, region=REGION))
        except iam.PolicyError:
            return False

    big = with_statements(max(n for n in range(1, 120) if fits_its_own_role(n)))
    with pytest.raises(iam.PolicyError, match=r"^jobs.yaml:7: job 'big': role_mode per_team gives its statements "):
        state(manifest(big, job("small")))
    assert team_roles  # the module under test


def test_per_job_stays_as_it_was() -> None:
    desired = state(manifest(A, B, mode=RoleMode.PER_JOB, trigger=TriggerMode.SCHEDULER))
    assert not [r for r in desired.resources if r.kind == TEAM_ROLE]
    roles = {r.name for r in desired.resources if r.kind == Kind.ROLE and r.job != names.WATCHDOG}
    assert roles == {f"acme--{j}-{k}" for j in ("report", "invoice") for k in ("exec", "sched")}
    assert load_manifest(ROOT / "jobs.yaml").role_mode is RoleMode.PER_JOB
